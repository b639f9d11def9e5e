// The open cases as this console knows them: from the HTTP list (GET /dispatch/cases, the
// truth, read on every (re)connect and every few seconds) and from pushes in between (a new
// call's alert, an acknowledgement). A case waits for acknowledgement, and rings, until an
// `acknowledged` node exists for it, whichever console recorded it.
import {beijingTime, el} from "../shared/api.js";
import {label, SOURCE, STATUS} from "./words.js";

// Only a fresh call rings: once a dispatcher accepted it, someone has plainly seen it.
const RINGS_IN = new Set(["received", "alerted"]);

export class OpenCases {
  constructor() {
    this.cases = new Map();
  }

  // The HTTP list replaces what we knew: a case missing from it was closed meanwhile. What
  // only the alert carried (the complaint) is kept.
  replaceAll(items) {
    const previous = this.cases;
    this.cases = new Map(items.map((item) => [item.case_id, {...previous.get(item.case_id), ...item}]));
  }

  // A pushed alert of a new call (rescue.alert): the summary the intake sent.
  addAlert(summary) {
    const known = this.cases.get(summary.case_id);
    this.cases.set(summary.case_id, {acknowledged_at: null, ...known, ...summary});
  }

  markAcknowledged(caseId, at = new Date().toISOString()) {
    const known = this.cases.get(caseId);
    if (known && !known.acknowledged_at) known.acknowledged_at = at;
  }

  setStatus(caseId, status) {
    const known = this.cases.get(caseId);
    if (known && status) known.status = status;
  }

  waitsForAcknowledgement(item) {
    return !item.acknowledged_at && RINGS_IN.has(item.status);
  }

  waiting() {
    return [...this.cases.values()].filter((item) => this.waitsForAcknowledgement(item));
  }

  // Oldest first: the longest waiting call leads.
  sorted() {
    return [...this.cases.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
  }
}

export function renderList(tbody, store, {selected, onSelect, onAcknowledge, mayAcknowledge}) {
  const rows = store.sorted().map((item) => {
    const rings = store.waitsForAcknowledgement(item);
    const acknowledge = rings && mayAcknowledge
      ? el("button", {class: "danger acknowledge", "data-case-id": item.case_id,
                      onclick: (event) => { event.stopPropagation(); onAcknowledge(item.case_id); }}, "确认接警")
      : null;
    return el("tr", {
      class: ["case-row", rings ? "ringing" : "", item.case_id === selected ? "selected" : ""].join(" "),
      "data-case-id": item.case_id, "data-ringing": String(rings), "data-status": item.status,
      onclick: () => onSelect(item.case_id),
    },
    el("td", {}, beijingTime(item.created_at)),
    el("td", {}, label(SOURCE, item.source)),
    el("td", {}, el("span", {class: `badge status-${item.status}`}, label(STATUS, item.status))),
    el("td", {class: "address"}, item.address_text || "—"),
    el("td", {}, acknowledge || (item.acknowledged_at ? "已确认" : "")));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", {colspan: 5, class: "muted"}, "暂无进行中的急救呼叫")));
  tbody.replaceChildren(...rows);
}
