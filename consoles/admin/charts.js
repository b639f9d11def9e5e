// Hand-drawn SVG charts (no library): bars of counts, and a histogram of durations with the
// median and the 90th percentile marked. Sizes are in SVG units; the SVG scales to its box.
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A round step for an axis reaching `max`: 1, 2 or 5 times a power of ten, about 4 ticks.
export function niceStep(max) {
  if (max <= 0) return 1;
  const raw = max / 4, power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return Math.max(step, Number.isInteger(max) && power < 1 ? 1 : step);
}

const W = 560, H = 220, LEFT = 44, RIGHT = 12, TOP = 16, BOTTOM = 40;

function frame(title, label) {
  const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label});
  root.append(svg("title", {}, title));
  return root;
}

// The y axis from `ceiling` (SVG y of the plot's top) down to the x axis.
function yAxis(root, max, ceiling = TOP) {
  const step = niceStep(max), top = Math.max(step, Math.ceil(max / step) * step);
  const y = (v) => ceiling + (H - ceiling - BOTTOM) * (1 - v / top);
  for (let v = 0; v <= top + 1e-9; v += step) {
    root.append(svg("line", {x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), class: "grid"}));
    root.append(svg("text", {x: LEFT - 6, y: y(v) + 4, class: "tick", "text-anchor": "end"}, `${+v.toFixed(2)}`));
  }
  return y;
}

// entries: [[label, count], ...] drawn as bars in their order.
export function barChart(entries, {title, label = title}) {
  const root = frame(title, label);
  if (!entries.length) {
    root.append(svg("text", {x: W / 2, y: H / 2, class: "none", "text-anchor": "middle"}, "无数据"));
    return root;
  }
  const max = Math.max(...entries.map(([, v]) => v));
  const y = yAxis(root, max);
  const slot = (W - LEFT - RIGHT) / entries.length, width = Math.min(48, slot * 0.7);
  const every = Math.ceil(entries.length / 14);  // at most ~14 labels fit under the bars
  entries.forEach(([name, value], i) => {
    const x = LEFT + slot * i + (slot - width) / 2;
    const bar = svg("rect", {x, y: y(value), width, height: y(0) - y(value), class: "bar", "data-label": name,
                             "data-value": value});
    bar.append(svg("title", {}, `${name}：${value}`));
    root.append(bar);
    if (entries.length <= 20) {
      root.append(svg("text", {x: x + width / 2, y: y(value) - 3, class: "value", "text-anchor": "middle"}, value));
    }
    if (i % every === 0) {
      root.append(svg("text", {x: x + width / 2, y: H - BOTTOM + 14, class: "tick", "text-anchor": "middle"},
                      name.length > 10 ? name.slice(-10) : name));
    }
  });
  return root;
}

// Bin widths a dispatcher reads at a glance: seconds, then whole minutes, then hours.
const WIDTHS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

// Bins of `values` (seconds) from 0: at most about `count` of a friendly width.
export function bins(values, count = 12) {
  if (!values.length) return {width: 1, counts: []};
  const max = Math.max(...values);
  const width = WIDTHS.find((w) => max / w < count) ?? Math.ceil(max / count / 86400) * 86400;
  const counts = new Array(Math.floor(max / width) + 1).fill(0);
  for (const v of values) counts[Math.floor(v / width)] += 1;
  return {width, counts};
}

// An axis label for seconds: 45s, 1:30, 12m, 2h, 3d.
export function clock(seconds) {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return seconds % 60 ? `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`
                                          : `${seconds / 60}m`;
  if (seconds < 86400) return `${+(seconds / 3600).toFixed(1)}h`;
  return `${+(seconds / 86400).toFixed(1)}d`;
}

// A histogram of durations (seconds) with the median and p90 (as the API computed them) marked.
export function histogram(values, {title, median, p90}) {
  const root = frame(title, `${title}：${values.length}条`);
  if (!values.length) {
    root.append(svg("text", {x: W / 2, y: H / 2, class: "none", "text-anchor": "middle"}, "无数据"));
    return root;
  }
  const {width, counts} = bins(values);
  const ceiling = TOP + 24;  // room above the bars for the marks' labels
  const y = yAxis(root, Math.max(...counts), ceiling);
  const span = (counts.length + 1) * width;  // a bin of room after the last, for the marks
  const x = (seconds) => LEFT + (W - LEFT - RIGHT) * seconds / span;
  counts.forEach((n, i) => {
    const bar = svg("rect", {x: x(i * width) + 1, y: y(n), width: Math.max(1, x(width) - x(0) - 2),
                             height: y(0) - y(n), class: "bar"});
    bar.append(svg("title", {}, `${clock(i * width)}–${clock((i + 1) * width)}：${n}`));
    root.append(bar);
  });
  const ticks = Math.min(counts.length, 8), tickEvery = Math.ceil(counts.length / ticks);
  for (let i = 0; i <= counts.length; i += tickEvery) {
    root.append(svg("text", {x: x(i * width), y: H - BOTTOM + 14, class: "tick", "text-anchor": "middle"},
                    clock(i * width)));
  }
  for (const [name, value, cls, dy] of [["中位数", median, "median", 0], ["P90", p90, "p90", 16]]) {
    if (value === null || value === undefined) continue;
    root.append(svg("line", {x1: x(value), x2: x(value), y1: TOP + dy, y2: H - BOTTOM, class: `mark ${cls}`}));
    // Right of its line, or left of it in the right half, so the label stays inside the chart.
    const right = x(value) > LEFT + (W - LEFT - RIGHT) * 0.6;
    root.append(svg("text", {x: x(value) + (right ? -4 : 4), y: TOP - 4 + dy, class: `mark-label ${cls}`,
                             "text-anchor": right ? "end" : "start"}, `${name} ${clock(Math.round(value))}`));
  }
  return root;
}
