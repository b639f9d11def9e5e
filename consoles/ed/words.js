// The case's statuses, timeline nodes and reason codes in the words the ED uses.

export const STATUS = {
  received: "新呼叫", alerted: "已提醒", accepted: "已接警", decided: "已决策", dispatched: "已派车",
  en_route: "途中", on_scene: "到达现场", patient_contact: "接触患者", left_scene: "离开现场",
  at_hospital: "到达医院", handed_over: "已交接", back_in_service: "车辆归队", completed: "已完成", cancelled: "已取消",
};

export const NODE = {
  ...STATUS,
  call_received: "收到呼叫", alerted: "已推送提醒", acknowledged: "急诊已确认", accepted: "接警",
  guidance_started: "开始指导", guidance_ended: "结束指导", decided: "派车决策", dispatched: "派车",
  location_changed: "位置更正",
};

export const SOURCE = {mini_program: "小程序一键呼救", phone: "120 电话"};
export const ROLE = {patient: "患者", dispatcher: "调度员", ed_nurse: "急诊护士", staff: "出车人员", system: "系统"};
export const GUIDANCE_MODE = {voice: "语音", video: "视频", phone: "电话"};

export const DECISION_REASON = {
  life_threatening: "危及生命", urgent: "紧急", non_urgent_transport: "非紧急转运", advice_given: "已给予建议",
  own_transport: "自行前往", not_an_emergency: "非急症", duplicate: "重复呼叫", other: "其他",
};

export const CANCEL_REASON = {
  recovered: "已好转", mistaken_call: "误呼", own_transport: "自行前往", duplicate: "重复呼叫", other: "其他",
};

// How the case's delivery to the ED triage system stands (hospital.rescue.triage_link).
export const TRIAGE = {
  pending: "待推送", delivered: "已送达", retrying: "重试中", failed: "推送失败", rejected: "被拒收", no_location: "无位置",
};

export const label = (table, key) => table[key] || key || "—";
