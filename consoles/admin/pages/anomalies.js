// The abnormal-order work list (GET /admin/payments/anomalies): each entry with the actions
// the API says finance may take on it (payments.manage), resolving with a note.
import {api, el, beijingTime} from "../../shared/api.js";
import {failure, fen, field, go, hashQuery, loading, notice, section, select, table, withQuery, word}
  from "../ui.js";

export const id = "anomalies";
export const title = "异常订单";
export const permission = "payments.read";
const MANAGE = "payments.manage";

function outcomeText(result) {
  const outcome = result.outcome;
  if ("resolved" in outcome) return outcome.resolved ? "已处理" : "未能处理";
  if ("refund" in outcome) return `已发起退款 ${outcome.refund.out_refund_no ?? ""}${outcome.repeated ? "（重复请求，同一笔退款）" : ""}`;
  if ("order_status" in outcome) {
    return `订单状态 ${outcome.order_status}，已付 ${fen(outcome.paid_fen)}，已退 ${fen(outcome.refunded_fen)}`;
  }
  return "已执行";
}

function details(object) {
  if (!object) return null;
  return el("code", {class: "details"}, Object.entries(object).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" "));
}

export async function render(root, {permissions}) {
  const q = hashQuery();
  const state = select("anomaly-state", [["open", "待处理"], ["resolved", "已处理"], ["all", "全部"]], q.state || "open");
  const filters = el("form", {class: "filters"}, field("状态", state),
                     el("button", {class: "primary", type: "submit"}, "筛选"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    go(withQuery(`#/${id}`, {state: state.value}));
  });
  const box = el("div", {id: "anomaly-list"}, loading());
  root.append(section("异常订单工作清单", filters, box));
  let page;
  try {
    page = await api("GET", withQuery("/admin/payments/anomalies", {state: state.value, limit: 100}));
  } catch (error) {
    box.replaceChildren(failure(error));
    return;
  }
  const manage = permissions.includes(MANAGE);
  box.replaceChildren(table([
    ["编号", (a) => a.id], ["时间", (a) => beijingTime(a.created_at)], ["来源", (a) => a.source],
    ["原因", (a) => a.reason], ["订单", (a) => a.order_id], ["退款单", (a) => a.out_refund_no],
    ["金额", (a) => fen(a.amount_fen)], ["详情", (a) => details(a.details)],
    ["处理", (a) => a.resolved_at ? `${a.resolution}（${beijingTime(a.resolved_at)}）` : manage ? actions(a) : "待处理"],
  ], page.items, {rowAttrs: (a) => ({"data-anomaly": a.id})}));
}

// The entry's allowed actions: refund may name an amount, resolve takes a note (both optional
// fields of the same form); the answer's outcome is shown on the row.
function actions(anomaly) {
  const note = el("input", {class: "note", placeholder: "说明（标记已处理时必填）", maxlength: 200, "aria-label": "说明"});
  const amount = el("input", {class: "amount", type: "number", min: 0.01, step: 0.01, placeholder: "退款金额(元)",
                              "aria-label": "退款金额"});
  const out = el("div", {class: "outcome"});
  const buttons = anomaly.actions.map((action) => el("button", {type: "button", "data-action": action,
    class: action === "resolve" ? "primary" : "", onclick: (event) => run(event.target, action)}, word("action", action)));
  async function run(button, action) {
    out.replaceChildren();
    for (const b of buttons) b.disabled = true;
    try {
      if (action === "resolve") {
        if (!note.value.trim()) {
          out.replaceChildren(el("p", {class: "error", role: "alert"}, "请填写处理说明"));
          return;
        }
        const done = await api("POST", `/admin/payments/anomalies/${anomaly.id}/resolve`, {resolution: note.value.trim()});
        out.replaceChildren(notice(`已处理：${done.resolution}`));
        return;
      }
      const body = {action};
      if (note.value.trim()) body.note = note.value.trim();
      if (action === "refund" && amount.value) body.amount_fen = Math.round(Number(amount.value) * 100);
      const result = await api("POST", `/admin/payments/anomalies/${anomaly.id}/actions`, body);
      out.replaceChildren(notice(outcomeText(result)));
    } catch (error) {
      out.replaceChildren(failure(error));
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }
  return el("div", {class: "actions"}, el("div", {class: "inline"}, note,
                                          anomaly.actions.includes("refund") ? amount : null),
            el("div", {class: "inline"}, buttons), out);
}
