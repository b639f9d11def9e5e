// Small pieces the back office's pages share: tables, forms, money, durations, the hash's query,
// and refusals in words (never a blank page).
import {el, explain} from "../shared/api.js";

export function fen(amount) {
  if (amount === null || amount === undefined) return "—";
  const sign = amount < 0 ? "-" : "";
  const abs = Math.abs(amount);
  return `${sign}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}秒`;
  if (s >= 3600) return `${Math.floor(s / 3600)}小时${Math.floor(s % 3600 / 60)}分`;
  const m = Math.floor(s / 60), rest = s % 60;
  return rest ? `${m}分${rest}秒` : `${m}分`;
}

// The page's parameters after "?" in the hash: #/audit?action=x -> {action: "x"}.
export function hashQuery() {
  const hash = location.hash;
  const at = hash.indexOf("?");
  return Object.fromEntries(new URLSearchParams(at < 0 ? "" : hash.slice(at + 1)));
}

// "/path" + {a: 1, b: ""} -> "/path?a=1": empty values are left out.
export function withQuery(path, params) {
  const kept = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined);
  return kept.length ? `${path}?${new URLSearchParams(kept)}` : path;
}

// A refusal found here, before any call (its message is already in words).
export class Said extends Error {}

export function failure(error) {
  return el("p", {class: "error", role: "alert"}, error instanceof Said ? error.message : explain(error));
}

export function notice(text, kind = "ok") {
  return el("p", {class: `notice ${kind}`, role: "status"}, text);
}

export function loading() {
  return el("p", {class: "muted"}, "加载中…");
}

export function empty(text = "暂无记录") {
  return el("p", {class: "muted empty"}, text);
}

// columns: [[title, row => text or node], ...]
export function table(columns, rows, {rowAttrs} = {}) {
  if (!rows.length) return empty();
  return el("table", {class: "data"},
    el("thead", {}, el("tr", {}, columns.map(([title]) => el("th", {}, title)))),
    el("tbody", {}, rows.map((row) => el("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map(([, cell]) => el("td", {}, cell(row) ?? "—"))))));
}

export function field(label, input) {
  return el("label", {class: "field"}, el("span", {}, label), input);
}

export function select(id, options, value = "") {
  return el("select", {id}, options.map(([v, text]) => el("option", {value: v, selected: v === value}, text)));
}

export function section(title, ...children) {
  return el("section", {class: "panel"}, el("h3", {}, title), ...children);
}

// Runs an action from a button: disables it meanwhile, shows the outcome or the refusal in `out`.
export async function act(button, out, work) {
  button.disabled = true;
  out.replaceChildren();
  try {
    const text = await work();
    if (text) out.replaceChildren(notice(text));
  } catch (error) {
    out.replaceChildren(failure(error));
  } finally {
    button.disabled = false;
  }
}

// A local (Beijing) datetime-local value as ISO 8601 with its offset, as the API takes it.
export function beijingIso(local) {
  if (!local) return "";
  return `${local.length === 16 ? local + ":00" : local}+08:00`;
}

export function beijingDate(offsetDays = 0) {
  const now = new Date(Date.now() + offsetDays * 86400000);
  return now.toLocaleDateString("sv-SE", {timeZone: "Asia/Shanghai"});
}

export const WORDS = {
  kind: {missing_ours: "我方无记录", missing_provider: "渠道无记录", missing_his: "HIS无记录",
         amount_mismatch: "金额不符", status_mismatch: "状态不符", fee_mismatch: "手续费不符",
         merchant_mismatch: "商户号不符"},
  source: {wechatpay: "微信支付", medical_insurance: "医保", credit: "信用就医", his: "HIS"},
  findingStatus: {open: "待处理", resolved: "已处理"},
  runStatus: {running: "进行中", done: "完成", waiting: "等待账单", failed: "失败", abandoned: "已放弃"},
  trigger: {schedule: "定时", back_office: "后台发起", command: "命令行", upload: "上传账单"},
  action: {query_provider: "查询渠道", retry_his: "重试HIS确认", refund: "退款", resolve: "标记已处理"},
  contentState: {draft: "草稿", in_review: "待审核", approved: "已通过", rejected: "已驳回", superseded: "已被取代"},
  contentStatus: {draft: "未发布", published: "已发布", unpublished: "已下线"},
  contentKind: {page: "页面", notice: "公告", menu: "菜单"},
  outcome: {completed: "已完成", cancelled: "已取消", open: "进行中"},
};

export function word(group, value) {
  return WORDS[group][value] || value;
}

// Goes to a hash route; the same one again reloads the page (a search run twice).
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}
