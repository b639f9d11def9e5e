// The ED console (ED nurses, dispatchers): sign-in, the open cases ringing until someone
// acknowledges them, one case in view, and a live link that heals itself. What the console
// shows is always what the API answered last: pushes only say "look again" (or carry a new
// call's summary), so a missed push costs a few seconds, never a case.
import {api, consoleConfig, el, explain, me, signOut} from "../shared/api.js";
import {signedIn, signIn} from "../shared/signin.js";
import * as alarm from "./alarm.js";
import {CaseView} from "./case-view.js";
import {OpenCases, renderList} from "./cases.js";
import {LiveLink} from "./live.js";

const POLL_MS = 10_000;  // the catch-up's fallback beside the pushes
const CONSOLE = "rescue.console";

const main = document.getElementById("main");
const store = new OpenCases();
let selected = null;
let caseView = null;
let permissions = new Set();
let link = null;

// Any click (the sign-in's first) lets the page play the ring later.
document.addEventListener("click", alarm.unlockAudio);
// A session that ran out shows the sign-in again; a refused sign-in (also a 401) stays on it.
let started = false;
window.addEventListener("signed-out", () => { if (started) location.reload(); });

function showConnection(connected) {
  document.body.dataset.connection = connected ? "online" : "offline";
  const badge = document.getElementById("connection");
  badge.className = `status ${connected ? "online" : "offline"}`;
  badge.textContent = connected ? "已连接" : "未连接 · 重连中";
  document.getElementById("offline-banner").classList.toggle("hidden", connected);
}

function update() {
  renderList(document.getElementById("cases"), store, {
    selected, onSelect: select, onAcknowledge: acknowledge, mayAcknowledge: permissions.has(CONSOLE),
  });
  const waiting = store.waiting();
  const banner = document.getElementById("alarm");
  if (waiting.length) {
    alarm.ring();
    const first = waiting[0];
    banner.replaceChildren(
      el("span", {}, `新的急救呼叫（${waiting.length} 个待确认）：${first.address_text || "位置见详情"}`),
      el("button", {id: "alarm-acknowledge", onclick: () => acknowledge(first.case_id)}, "确认接警"),
      el("button", {onclick: () => select(first.case_id)}, "查看"));
    banner.classList.remove("hidden");
  } else {
    alarm.stop();
    banner.classList.add("hidden");
  }
}

function notice(text) {
  document.getElementById("notice").textContent = text;
}

// The open cases over HTTP: the truth after any gap (a reconnect, a missed push).
let catchingUp = null;
async function catchUp() {
  catchingUp ??= api("GET", "/dispatch/cases?status=open")
    .then((answer) => { store.replaceAll(answer.items); update(); notice(""); })
    .catch((error) => notice(`刷新呼叫列表失败：${explain(error)}`))
    .finally(() => { catchingUp = null; });
  return catchingUp;
}

async function acknowledge(caseId) {
  try {
    await api("POST", `/dispatch/cases/${caseId}/acknowledge`, {});
    store.markAcknowledged(caseId);
    update();
    if (caseId === selected) caseView.show(caseId);
  } catch (error) {
    notice(`确认失败：${explain(error)}`);
  }
}

function select(caseId) {
  selected = caseId;
  update();
  caseView.show(caseId);
}

function onMessage(message) {
  if (message.type === "rescue.alert") {
    store.addAlert(message);
    update();
  } else if (message.type === "rescue.case_changed") {
    // Another console (or this one) moved the case: an acknowledgement stops the ring at once,
    // the rest is read again.
    if (message.node === "acknowledged") { store.markAcknowledged(message.case_id); update(); }
    catchUp();
    if (message.case_id === selected) caseView.show(selected);
  } else if (message.type === "rescue.vehicle_position" && message.case_id === selected) {
    caseView.addPosition(message.position);
  }
}

async function start() {
  started = true;
  document.getElementById("sign-out").classList.remove("hidden");
  let who;
  try {
    who = await me();
  } catch (error) {
    main.replaceChildren(el("p", {class: "panel error"}, explain(error)));
    return;
  }
  permissions = new Set(who.permissions);
  document.getElementById("who").textContent = `用户 ${who.user_id}（${who.roles.join("、")}）`;
  if (!permissions.has(CONSOLE)) {
    main.replaceChildren(el("p", {class: "panel error"}, "没有权限使用急诊工作台（需要急诊护士或调度员角色）"));
    return;
  }
  main.replaceChildren(el("div", {class: "layout"},
    el("section", {class: "panel"}, el("h2", {}, "进行中的呼叫"),
      el("p", {id: "notice", class: "error", role: "status"}),
      el("table", {id: "case-list"},
        el("thead", {}, el("tr", {}, el("th", {}, "呼入"), el("th", {}, "来源"), el("th", {}, "状态"),
                                    el("th", {}, "地址"), el("th", {}, ""))),
        el("tbody", {id: "cases"}))),
    el("section", {class: "panel", id: "case-view"}, el("p", {class: "muted"}, "选择左侧的呼叫查看详情"))));
  caseView = new CaseView(document.getElementById("case-view"), {permissions, onChanged: () => catchUp()});
  update();
  const config = await consoleConfig();
  link = new LiveLink(config.live, {onMessage, onOpen: catchUp, onStatus: showConnection});
  link.open();
  catchUp();
  setInterval(catchUp, POLL_MS);
}

document.getElementById("sign-out").addEventListener("click", async () => {
  link?.stop();
  alarm.stop();
  try { await signOut(); } finally { location.reload(); }
});

if (signedIn()) start();
else signIn(main, "急诊工作台登录").then(start);
