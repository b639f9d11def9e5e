// Reconciliation: runs (a run's inputs and counts), findings with filters, and resolving a
// finding with a note (reconciliation.manage); starting a run for a day.
import {api, el, beijingTime} from "../../shared/api.js";
import {act, failure, fen, field, go, hashQuery, loading, notice, section, select, table, withQuery, word, WORDS}
  from "../ui.js";

export const id = "reconciliation";
export const title = "对账";
export const permission = "reconciliation.read";
const MANAGE = "reconciliation.manage";

function options(group) {
  return [["", "全部"], ...Object.entries(WORDS[group])];
}

function counts(object) {
  const entries = Object.entries(object || {});
  return entries.length ? entries.map(([k, v]) => `${word("source", word("kind", k))} ${v}`).join("，") : "—";
}

function runDetail(run) {
  return el("div", {class: "run-detail", id: "run-detail"},
    el("h4", {}, `对账批次 #${run.run_id}（${run.date}）`),
    el("dl", {class: "facts"},
      el("dt", {}, "状态"), el("dd", {}, word("runStatus", run.status)),
      el("dt", {}, "发起"), el("dd", {}, word("trigger", run.trigger) + (run.requested_by ? `（用户 ${run.requested_by}）` : "")),
      el("dt", {}, "开始"), el("dd", {}, beijingTime(run.started_at)),
      el("dt", {}, "结束"), el("dd", {}, beijingTime(run.finished_at)),
      el("dt", {}, "账单条目"), el("dd", {}, counts(run.counts.entries)),
      el("dt", {}, "已匹配"), el("dd", {}, counts(run.counts.matched)),
      el("dt", {}, "差异"), el("dd", {}, counts(run.counts.findings)),
      run.error ? [el("dt", {}, "错误"), el("dd", {class: "error"}, run.error)] : null),
    table([["来源", (i) => word("source", i.source)], ["文件", (i) => i.name], ["获取方式", (i) => i.origin],
           ["条目", (i) => i.empty ? "当日无交易" : i.entries], ["SHA-256", (i) => el("code", {}, i.sha256.slice(0, 12))]],
          run.inputs));
}

export async function render(root, {permissions}) {
  const q = hashQuery();
  const manage = permissions.includes(MANAGE);
  const runsBox = el("div", {id: "runs"}, loading());
  const detailBox = el("div", {id: "run-box"}, el("p", {class: "muted"}, "点选批次查看其账单与计数"));
  const findingsBox = el("div", {id: "findings"}, loading());

  const runDate = el("input", {type: "date", id: "run-date", required: true});
  const runOut = el("div");
  const startRun = el("button", {class: "primary", type: "submit", id: "start-run"}, "立即对账");
  const runForm = el("form", {class: "filters"}, field("对账日期", runDate), startRun, runOut);
  runForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act(startRun, runOut, async () => {
      const run = await api("POST", "/admin/reconciliation/runs", {date: runDate.value});
      detailBox.replaceChildren(runDetail(run));
      return `已发起对账批次 #${run.run_id}：${word("runStatus", run.status)}`;
    });
  });

  const date = el("input", {type: "date", id: "finding-date", value: q.date || ""});
  const kind = select("finding-kind", options("kind"), q.kind || "");
  // Open findings unless asked otherwise; "all" is no status filter at the API.
  const status = select("finding-status", [...Object.entries(WORDS.findingStatus), ["all", "全部"]], q.status || "open");
  const source = select("finding-source", options("source"), q.source || "");
  const filters = el("form", {class: "filters", id: "finding-filters"}, field("日期", date), field("类型", kind),
                     field("状态", status), field("来源", source), el("button", {class: "primary", type: "submit"}, "筛选"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    go(withQuery(`#/${id}`, {date: date.value, kind: kind.value, status: status.value, source: source.value}));
  });

  root.append(
    el("div", {class: "columns"},
      section("对账批次", manage ? runForm : null, runsBox),
      section("批次详情", detailBox)),
    section("差异明细", filters, findingsBox));

  async function showRun(runId) {
    detailBox.replaceChildren(loading());
    try {
      detailBox.replaceChildren(runDetail(await api("GET", `/admin/reconciliation/runs/${runId}`)));
    } catch (error) {
      detailBox.replaceChildren(failure(error));
    }
  }

  const [runs, findings] = await Promise.allSettled([
    api("GET", withQuery("/admin/reconciliation/runs", {date: q.date || "", limit: 20})),
    api("GET", withQuery("/admin/reconciliation/findings", {date: q.date || "", kind: q.kind || "",
                                                          status: status.value === "all" ? "" : status.value,
                                                          source: q.source || ""})),
  ]);
  if (runs.status === "rejected") runsBox.replaceChildren(failure(runs.reason));
  else runsBox.replaceChildren(table([
    ["批次", (r) => el("button", {type: "button", class: "link", onclick: () => showRun(r.run_id)}, `#${r.run_id}`)],
    ["日期", (r) => r.date], ["状态", (r) => word("runStatus", r.status)], ["发起", (r) => word("trigger", r.trigger)],
    ["差异", (r) => Object.values(r.counts.findings || {}).reduce((a, b) => a + b, 0)],
  ], runs.value.items, {rowAttrs: (r) => ({"data-run": r.run_id})}));

  if (findings.status === "rejected") { findingsBox.replaceChildren(failure(findings.reason)); return; }
  const page = findings.value;
  const totals = page.totals_by_kind ? el("p", {class: "summary"}, "按类型合计：", counts(page.totals_by_kind)) : null;
  findingsBox.replaceChildren(totals ?? "", table([
    ["日期", (f) => f.date], ["类型", (f) => word("kind", f.kind)], ["来源", (f) => word("source", f.source)],
    ["交易号", (f) => el("code", {}, f.trade_key)], ["订单", (f) => f.order_id],
    ["我方", (f) => fen(f.ours_fen)], ["对方", (f) => fen(f.theirs_fen)], ["说明", (f) => f.detail],
    ["状态", (f) => f.status === "resolved"
      ? el("span", {title: `${beijingTime(f.resolved_at)} 用户 ${f.resolved_by}`}, `已处理：${f.resolution}`)
      : word("findingStatus", f.status)],
    ["操作", (f) => manage && f.status === "open" ? resolver(f) : null],
  ], page.items, {rowAttrs: (f) => ({"data-finding": f.id})}));
}

// The resolve action: a note, then the call; the row shows the outcome or the refusal.
function resolver(finding) {
  const note = el("input", {class: "note", placeholder: "处理说明", maxlength: 200, required: true,
                            "aria-label": "处理说明"});
  const button = el("button", {type: "submit", class: "primary"}, "标记已处理");
  const out = el("span", {class: "outcome"});
  const form = el("form", {class: "inline resolve"}, note, button, out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(button, out, async () => {
      const done = await api("POST", `/admin/reconciliation/findings/${finding.id}/resolve`,
                             {resolution: note.value.trim()});
      form.replaceWith(notice(`已处理：${done.resolution}`));
    });
  });
  return form;
}
