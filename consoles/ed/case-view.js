// One case as the console shows it: who called and from where (the fields the API lets this
// role see: a hidden one comes as null), its timeline, the ambulance's track, and the steps
// this user may take. A refused step (the state machine's 409, a vehicle already out) is shown
// in words with the server's reason, beside the buttons.
import {api, beijingTime, el, explain} from "../shared/api.js";
import {drawTrack} from "./track.js";
import {CANCEL_REASON, DECISION_REASON, GUIDANCE_MODE, label, NODE, ROLE, SOURCE, STATUS, TRIAGE} from "./words.js";

const CONSOLE = "rescue.console", DISPATCH = "rescue.dispatch";
const TRACK_LEAD_MS = 60 * 60 * 1000;

function nodeDetails(node) {
  const d = node.details || {};
  const parts = [];
  if (d.vehicle_id) parts.push(`车辆 ${d.vehicle_id}`);
  if (d.crew) parts.push(`出车人员 ${d.crew.join("、")}`);
  if (d.mode) parts.push(`方式 ${label(GUIDANCE_MODE, d.mode)}`);
  if (d.duration_s !== undefined) parts.push(`时长 ${Math.round(d.duration_s)} 秒`);
  if (d.dispatch !== undefined) parts.push(d.dispatch ? "派车" : "不派车");
  if (d.reason) parts.push(`原因 ${label({...DECISION_REASON, ...CANCEL_REASON}, d.reason)}`);
  if (d.channel) parts.push(`渠道 ${d.channel === "ed_console" ? "急诊工作台" : d.channel}`);
  return parts.join("，");
}

function timeline(view) {
  return el("ol", {class: "timeline", id: "timeline"}, view.timeline.map((node) =>
    el("li", {"data-node": node.node},
      el("time", {}, beijingTime(node.at)), " ",
      el("strong", {}, label(NODE, node.node)),
      node.actor_role ? el("span", {class: "muted"}, ` · ${label(ROLE, node.actor_role)}`) : null,
      nodeDetails(node) ? el("div", {class: "muted"}, nodeDetails(node)) : null)));
}

function field(name, value) {
  return [el("dt", {}, name), el("dd", {}, value ?? "—")];
}

function callerDetails(view) {
  const loc = view.location;
  return el("dl", {class: "facts", id: "caller-details"},
    field("来源", label(SOURCE, view.source)),
    field("状态", label(STATUS, view.status)),
    field("呼入时间", beijingTime(view.created_at)),
    field("地址", view.address_text),
    field("主诉", view.complaint),
    // Only on phone calls, for the roles that may see it: otherwise null, shown as a dash.
    field("来电号码", view.caller_phone),
    field("坐标", loc ? `${loc.latitude.toFixed(5)}, ${loc.longitude.toFixed(5)}（${loc.coord_system || "?"}）` : null),
    field("分诊系统", view.triage ? `${label(TRIAGE, view.triage.status)}${view.triage.error ? "：" + view.triage.error : ""}` : null),
    field("派车记录", view.dispatches.length
      ? view.dispatches.map((d) => `${d.vehicle_id}（${beijingTime(d.created_at)}${d.closed_at ? "，已归队" : ""}）`).join("；")
      : null));
}

// Guidance sessions started and not yet ended, from the timeline.
function openGuidance(view) {
  const ended = new Set(view.timeline.filter((n) => n.node === "guidance_ended").map((n) => n.details.session_id));
  return view.timeline.filter((n) => n.node === "guidance_started" && !ended.has(n.details.session_id))
    .map((n) => n.details);
}

function select(id, table) {
  return el("select", {id}, Object.entries(table).map(([value, text]) => el("option", {value}, text)));
}

export class CaseView {
  constructor(root, {permissions, onChanged}) {
    Object.assign(this, {root, permissions, onChanged});
    this.caseId = null;
    this.view = null;
    this.track = [];
    this.latest = null;
    this.message = el("p", {class: "error", role: "alert", id: "action-error"});
  }

  may(permission) {
    return this.permissions.has(permission);
  }

  async show(caseId) {
    if (caseId !== this.caseId) { this.track = []; this.latest = null; this.message.textContent = ""; }
    this.caseId = caseId;
    try {
      this.view = await api("GET", `/dispatch/cases/${caseId}`);
    } catch (error) {
      this.root.replaceChildren(el("p", {class: "error"}, explain(error)));
      return;
    }
    await this.loadTrack();
    this.render();
  }

  // The whole track of the newest dispatch over HTTP: after a reload or a lost connection the
  // pushes in between are not missed.
  async loadTrack() {
    const dispatch = this.view.dispatches.at(-1);
    if (!dispatch) return;
    // The answer holds the newest dispatch's points only; a crew phone's clock may run behind
    // (the API keeps fixes a little before the dispatch), so ask from well before it.
    const since = new Date(Date.parse(dispatch.created_at) - TRACK_LEAD_MS).toISOString();
    try {
      const answer = await api("GET", `/dispatch/cases/${this.caseId}/ambulance?since=${encodeURIComponent(since)}`);
      this.track = answer.track || [];
      this.latest = answer.latest;
    } catch { /* drawn without it; the next refresh tries again */ }
  }

  // A pushed position of this case's ambulance (rescue.vehicle_position).
  addPosition(position) {
    if (this.latest && position.device_time <= this.latest.device_time) return;  // pushes may overtake
    this.track.push(position);
    this.latest = position;
    if (this.view) this.render();
  }

  async act(method, path, body) {
    this.message.textContent = "";
    try {
      const answer = await api(method, `/dispatch/cases/${this.caseId}${path}`, body);
      this.onChanged(this.caseId);
      await this.show(this.caseId);
      return answer;
    } catch (error) {
      this.message.textContent = explain(error);
      return null;
    }
  }

  actions() {
    const buttons = [];
    if (this.may(CONSOLE)) {
      buttons.push(el("button", {id: "do-acknowledge", onclick: () => this.act("POST", "/acknowledge", {})}, "确认接警"),
                   el("button", {id: "do-accept", class: "primary", onclick: () => this.act("POST", "/accept", {})}, "接警"));
    }
    const rows = [el("div", {class: "row"}, buttons)];
    if (this.may(DISPATCH)) {
      const send = select("decision-dispatch", {true: "派车", false: "不派车"});
      const reason = select("decision-reason", DECISION_REASON);
      rows.push(el("div", {class: "row"}, "决策：", send, reason,
        el("button", {id: "do-decide", onclick: () => this.act("POST", "/decision",
          {dispatch: send.value === "true", reason: reason.value})}, "提交决策")));
      const vehicle = el("input", {id: "dispatch-vehicle", placeholder: "车辆编号", size: 10});
      const crew = el("input", {id: "dispatch-crew", placeholder: "出车人员ID，逗号分隔", size: 18});
      rows.push(el("div", {class: "row"}, "派车：", vehicle, crew,
        el("button", {id: "do-dispatch", class: "primary", onclick: () => this.act("POST", "/dispatch", {
          vehicle_id: vehicle.value.trim(),
          crew_user_ids: crew.value.split(/[,，\s]+/).filter(Boolean).map(Number)})}, "派车")));
      const cancelReason = select("cancel-reason", CANCEL_REASON);
      rows.push(el("div", {class: "row"}, "结束：", cancelReason,
        el("button", {id: "do-cancel", onclick: () => this.act("POST", "/cancel", {reason: cancelReason.value})}, "取消呼叫"),
        el("button", {id: "do-complete", onclick: () => this.act("POST", "/complete", {})}, "完成")));
    }
    if (this.may(CONSOLE)) {
      const mode = select("guidance-mode", GUIDANCE_MODE);
      const open = openGuidance(this.view).map((session) => {
        const recording = el("input", {placeholder: "录音编号（可选）", size: 14, "data-session-id": session.session_id});
        return el("div", {class: "row guidance-open"},
          `进行中：${label(GUIDANCE_MODE, session.mode)}指导 `, recording,
          el("button", {class: "end-guidance", onclick: () => this.act("POST", `/guidance/${session.session_id}/end`,
            {recording_ref: recording.value.trim() || null})}, "结束指导"));
      });
      rows.push(el("div", {class: "row"}, "指导：", mode,
        el("button", {id: "do-guidance", onclick: () => this.act("POST", "/guidance", {mode: mode.value})}, "开始指导")),
      ...open);
    }
    return el("section", {class: "actions", id: "actions"}, el("h3", {}, "操作"), ...rows, this.message);
  }

  render() {
    const view = this.view;
    this.root.replaceChildren(
      el("div", {class: "case-head"},
        el("h2", {}, `呼叫 ${view.case_id.slice(0, 8)}`),
        el("span", {class: `badge status-${view.status}`, id: "case-status"}, label(STATUS, view.status))),
      el("div", {class: "case-grid"},
        el("div", {}, el("h3", {}, "呼救信息"), callerDetails(view), this.actions()),
        el("div", {},
          el("h3", {}, "救护车轨迹"), drawTrack({caller: view.location, track: this.track, latest: this.latest}),
          el("h3", {}, "时间线"), timeline(view))));
  }
}
