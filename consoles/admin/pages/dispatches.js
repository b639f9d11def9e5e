// Dispatch statistics (GET /admin/rescue/dispatches): counts per day and per vehicle as bars,
// each interval as a histogram with the median and p90 the API computed, and the records.
import {api, el, beijingTime} from "../../shared/api.js";
import {barChart, histogram} from "../charts.js";
import {beijingDate, duration, failure, field, go, hashQuery, loading, section, select, table, withQuery, word}
  from "../ui.js";

export const id = "dispatches";
export const title = "调度统计";
export const permission = "rescue.records";

const INTERVALS = [["call_to_dispatch", "接警到派车"], ["turn_out", "出车准备"], ["travel", "途中"],
                   ["on_scene", "现场"], ["transport", "转运"], ["handover", "交接"]];

export async function render(root) {
  const q = hashQuery();
  const from = el("input", {type: "date", id: "from", value: q.from || beijingDate(-6), required: true});
  const to = el("input", {type: "date", id: "to", value: q.to || beijingDate(0), required: true});
  const vehicle = el("input", {id: "vehicle", value: q.vehicle_id || "", placeholder: "全部车辆", maxlength: 32});
  const outcome = select("outcome", [["", "全部"], ["completed", "已完成"], ["cancelled", "已取消"], ["open", "进行中"]],
                         q.outcome || "");
  const out = el("div", {id: "dispatch-report"});
  const params = () => ({from: from.value, to: to.value, vehicle_id: vehicle.value.trim(), outcome: outcome.value});
  const exportButton = el("button", {type: "button", id: "export-csv"}, "导出CSV");
  const form = el("form", {class: "filters"}, field("起始日", from), field("截止日", to), field("车辆", vehicle),
                  field("结果", outcome), el("button", {class: "primary", type: "submit"}, "查询"), exportButton);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(withQuery(`#/${id}`, params()));
  });
  exportButton.addEventListener("click", async () => {
    try {
      const text = await api("GET", withQuery("/admin/rescue/dispatches", {...params(), format: "csv"}));
      const link = el("a", {href: URL.createObjectURL(new Blob([text], {type: "text/csv"})),
                            download: `dispatches-${from.value}-${to.value}.csv`});
      link.click();
      URL.revokeObjectURL(link.href);
    } catch (error) {
      out.replaceChildren(failure(error));
    }
  });
  root.append(form, out);
  out.append(loading());
  let report;
  try {
    report = await api("GET", withQuery("/admin/rescue/dispatches", params()));
  } catch (error) {
    out.replaceChildren(failure(error));
    return;
  }
  const days = Object.entries(report.per_day).sort(([a], [b]) => a.localeCompare(b));
  const vehicles = Object.entries(report.per_vehicle).sort(([, a], [, b]) => b - a);
  out.replaceChildren(
    el("p", {class: "summary", id: "dispatch-count"}, `${report.from} 至 ${report.to}：共 ${report.count} 次派车`),
    el("div", {class: "charts two"},
      section("每日派车数", barChart(days, {title: "每日派车数"})),
      section("各车辆派车数", barChart(vehicles, {title: "各车辆派车数"}))),
    el("h3", {}, "各环节用时分布"),
    el("div", {class: "charts three"}, INTERVALS.map(([key, name]) => {
      const stats = report.intervals[key];
      const values = report.records.map((r) => r[key]).filter((v) => v !== null && v !== undefined);
      return el("section", {class: "panel interval", "data-interval": key},
        el("h4", {}, name),
        el("p", {class: "stats"}, `n=${stats.n}　中位数 ${duration(stats.median_s)}　P90 ${duration(stats.p90_s)}`),
        histogram(values, {title: name, median: stats.median_s, p90: stats.p90_s}));
    })),
    section("派车记录", table([
      ["接警时间", (r) => beijingTime(r.received_at)], ["车辆", (r) => r.vehicle_id],
      ["来源", (r) => r.source], ["结果", (r) => word("outcome", r.outcome)],
      ...INTERVALS.map(([key, name]) => [name, (r) => duration(r[key])]),
    ], report.records.slice(0, 200))));
}
