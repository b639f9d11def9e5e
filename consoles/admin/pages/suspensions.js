// Suspensions of doctors' clinics (outpatient.schedule): the newest, a new one (a doctor's day,
// some slots or all), and a suspension's progress: found, notified, cancelled, refunded, failed,
// and the patients to call by phone.
import {api, el, beijingTime} from "../../shared/api.js";
import {act, beijingDate, failure, field, go, hashQuery, loading, section, table, withQuery} from "../ui.js";

export const id = "suspensions";
export const title = "停诊";
export const permission = "outpatient.schedule";

function progress(p) {
  const counts = [["found", "受影响挂号"], ["notified", "已通知"], ["notice_failed", "通知失败"],
                  ["cancelled", "已取消"], ["refunded", "已退款"], ["failed", "处理失败"]];
  return el("div", {id: "suspension-progress"},
    el("h4", {}, `${p.doctor_code} ${p.visit_date} 停诊（${p.reason}）`),
    el("p", {class: "muted"}, `来源 ${p.source === "his_feed" ? "HIS推送" : "后台"}，时段 ${p.slot_ids.join("、") || "全天"}，`
                              + `登记于 ${beijingTime(p.created_at)}`),
    el("div", {class: "tiles"}, counts.map(([key, name]) =>
      el("div", {class: `tile ${key}` + (["notice_failed", "failed"].includes(key) && p[key] > 0 ? " bad" : "")},
         el("b", {}, p[key] ?? "统计中"), el("span", {}, name)))),
    el("h4", {}, "需电话联系的患者"),
    table([["挂号", (c) => c.registration_id], ["时段", (c) => c.start], ["姓名", (c) => c.name],
           ["电话", (c) => c.phone], ["通知", (c) => c.notice ?? "未送达"]], p.to_call),
    p.failures.length ? [el("h4", {}, "处理失败"),
      table([["挂号", (f) => f.registration_id], ["错误", (f) => f.error]], p.failures)] : null);
}

export async function render(root) {
  const q = hashQuery();
  const detail = el("div", {id: "suspension-detail"}, el("p", {class: "muted"}, "点选一条停诊查看进度"));
  const list = el("div", {id: "suspension-list"}, loading());

  const doctor = el("input", {id: "doctor-code", required: true, placeholder: "如 DR001"});
  const day = el("input", {id: "visit-date", type: "date", required: true, value: beijingDate(1)});
  const slots = el("input", {id: "slot-ids", placeholder: "留空为全天；多个以逗号分隔"});
  const reason = el("input", {id: "reason", required: true, maxlength: 100, placeholder: "停诊原因"});
  const create = el("button", {class: "primary", type: "submit"}, "停诊");
  const out = el("div");
  const form = el("form", {class: "filters", id: "new-suspension"}, field("医生编码", doctor), field("出诊日期", day),
                  field("时段编号", slots), field("原因", reason), create, out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(create, out, async () => {
      const slotIds = slots.value.split(/[,，\s]+/).filter(Boolean);
      const made = await api("POST", "/admin/outpatient/suspensions", {
        doctor_code: doctor.value.trim(), visit_date: day.value, reason: reason.value.trim(),
        ...(slotIds.length ? {slot_ids: slotIds} : {})});
      go(withQuery(`#/${id}`, {id: made.suspension_id}));
      return `已登记停诊 ${made.suspension_id}`;
    });
  });
  root.append(section("新增停诊", form), el("div", {class: "columns"}, section("最近停诊", list), section("进度", detail)));

  async function show(suspensionId) {
    detail.replaceChildren(loading());
    try {
      detail.replaceChildren(progress(await api("GET", `/admin/outpatient/suspensions/${encodeURIComponent(suspensionId)}`)));
    } catch (error) {
      detail.replaceChildren(failure(error));
    }
  }
  try {
    const items = await api("GET", "/admin/outpatient/suspensions?limit=50");
    list.replaceChildren(table([
      ["医生", (s) => el("button", {type: "button", class: "link", onclick: () => show(s.suspension_id)}, s.doctor_code)],
      ["科室", (s) => s.dept_code], ["日期", (s) => s.visit_date], ["时段", (s) => s.slot_ids.length || "全天"],
      ["原因", (s) => s.reason], ["受影响", (s) => s.found ?? "统计中"],
    ], items, {rowAttrs: (s) => ({"data-suspension": s.suspension_id})}));
  } catch (error) {
    list.replaceChildren(failure(error));
  }
  if (q.id) await show(q.id);
}
