// The ambulance's track drawn from our own data, no map tiles: an SVG plot in metres around
// the hospital and the caller (the reference points), scaled to fit. Ambulance positions come
// in GCJ-02 (the API converts them once); the caller's point is converted here the same way
// (hospital.geo's formulas), so all three sit in one frame.
import {el} from "../shared/api.js";

// The hospital's own location (GCJ-02), the plot's fixed reference point: the site's
// configuration, kept here because the API does not serve it. Change it with the site.
export const HOSPITAL = {name: "本院急诊", latitude: 31.2304, longitude: 121.4737};

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560, HEIGHT = 360, PAD = 36;

// ---- coordinate systems (as hospital/geo.py) ---------------------------------------------
const A = 6378245.0, EE = 0.00669342162296594323, X_PI = Math.PI * 3000.0 / 180.0;

function outOfChina(lat, lon) {
  return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
}

function transformLat(x, y) {
  let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
  r += (20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin(y / 3.0 * Math.PI)) * 2.0 / 3.0;
  r += (160.0 * Math.sin(y / 12.0 * Math.PI) + 320.0 * Math.sin(y * Math.PI / 30.0)) * 2.0 / 3.0;
  return r;
}

function transformLon(x, y) {
  let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
  r += (20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin(x / 3.0 * Math.PI)) * 2.0 / 3.0;
  r += (150.0 * Math.sin(x / 12.0 * Math.PI) + 300.0 * Math.sin(x / 30.0 * Math.PI)) * 2.0 / 3.0;
  return r;
}

export function toGcj02({latitude, longitude, coord_system: system}) {
  if (system === "bd09") {
    const x = longitude - 0.0065, y = latitude - 0.006;
    const z = Math.hypot(x, y) - 0.00002 * Math.sin(y * X_PI);
    const theta = Math.atan2(y, x) - 0.000003 * Math.cos(x * X_PI);
    return {latitude: z * Math.sin(theta), longitude: z * Math.cos(theta)};
  }
  if (system !== "wgs84" || outOfChina(latitude, longitude)) return {latitude, longitude};
  let dLat = transformLat(longitude - 105.0, latitude - 35.0);
  let dLon = transformLon(longitude - 105.0, latitude - 35.0);
  const rad = latitude / 180.0 * Math.PI;
  const magic = 1 - EE * Math.sin(rad) ** 2, sqrtMagic = Math.sqrt(magic);
  dLat = (dLat * 180.0) / ((A * (1 - EE)) / (magic * sqrtMagic) * Math.PI);
  dLon = (dLon * 180.0) / (A / sqrtMagic * Math.cos(rad) * Math.PI);
  return {latitude: latitude + dLat, longitude: longitude + dLon};
}

// ---- the plot ----------------------------------------------------------------------------

// Metres east and north of the hospital: over a city, a flat projection is plenty.
function metres(point) {
  const k = Math.cos(HOSPITAL.latitude * Math.PI / 180);
  return {x: (point.longitude - HOSPITAL.longitude) * 111_320 * k, y: (point.latitude - HOSPITAL.latitude) * 110_540};
}

export function distanceM(a, b) {
  const p = metres(a), q = metres(b);
  return Math.hypot(p.x - q.x, p.y - q.y);
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceLength(maxMetres) {
  for (const step of [50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000]) {
    if (step >= maxMetres / 4) return step;
  }
  return 100_000;
}

// caller: the case's location ({latitude, longitude, coord_system}) or null (hidden, or a
// phone call without coordinates); track: positions oldest first; latest: the newest or null.
export function drawTrack({caller, track, latest}) {
  const callerPoint = caller ? toGcj02(caller) : null;
  const points = [...track];
  if (latest && !points.some((p) => p.device_time === latest.device_time)) points.push(latest);
  const all = [HOSPITAL, ...(callerPoint ? [callerPoint] : []), ...points].map(metres);
  const xs = all.map((p) => p.x), ys = all.map((p) => p.y);
  const spanX = Math.max(...xs) - Math.min(...xs), spanY = Math.max(...ys) - Math.min(...ys);
  // At least 400 m across: a case beside the hospital still reads as a picture.
  const span = Math.max(spanX, spanY, 400);
  const scale = Math.min((WIDTH - 2 * PAD) / Math.max(spanX, 400), (HEIGHT - 2 * PAD) / Math.max(spanY, 400));
  const midX = (Math.max(...xs) + Math.min(...xs)) / 2, midY = (Math.max(...ys) + Math.min(...ys)) / 2;
  const at = (point) => {
    const m = metres(point);
    return {x: WIDTH / 2 + (m.x - midX) * scale, y: HEIGHT / 2 - (m.y - midY) * scale};  // north up
  };

  const plot = svg("svg", {viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "track-plot", role: "img",
                           "aria-label": "救护车轨迹示意图（非地图）"});
  plot.append(svg("rect", {x: 0, y: 0, width: WIDTH, height: HEIGHT, class: "plot-bg"}));
  const bar = niceLength(span);
  plot.append(svg("line", {x1: PAD, y1: HEIGHT - 14, x2: PAD + bar * scale, y2: HEIGHT - 14, class: "scale-bar"}),
              svg("text", {x: PAD, y: HEIGHT - 20, class: "plot-note"}, bar >= 1000 ? `${bar / 1000} 公里` : `${bar} 米`),
              svg("text", {x: WIDTH - PAD, y: 20, class: "plot-note", "text-anchor": "end"}, "↑ 北"));
  if (points.length > 1) {
    plot.append(svg("polyline", {class: "track", points: points.map((p) => { const q = at(p); return `${q.x},${q.y}`; }).join(" ")}));
  }
  const mark = (point, cls, text) => {
    const q = at(point);
    const group = svg("g", {class: `marker ${cls}`});
    group.append(svg("circle", {cx: q.x, cy: q.y, r: 7}), svg("text", {x: q.x + 10, y: q.y - 8}, text));
    plot.append(group);
  };
  mark(HOSPITAL, "hospital", HOSPITAL.name);
  if (callerPoint) mark(callerPoint, "caller", "呼救位置");
  const newest = points.at(-1);
  if (newest) mark(newest, "ambulance", "救护车");

  const notes = [];
  if (!callerPoint) notes.push("无呼救者坐标");
  if (newest && callerPoint) notes.push(`救护车距呼救位置约 ${Math.round(distanceM(newest, callerPoint))} 米`);
  if (!newest) notes.push("暂无救护车位置");
  return el("figure", {class: "track-figure"}, plot, el("figcaption", {class: "muted"}, notes.join("；")));
}
