// The audit log (audit.read): entries by actor, action, target and time, a page at a time, and
// the hash chain's verification (its first broken link, or how many entries hold).
import {api, el, beijingTime} from "../../shared/api.js";
import {act, beijingIso, failure, field, go, hashQuery, loading, section, table, withQuery} from "../ui.js";

export const id = "audit";
export const title = "审计日志";
export const permission = "audit.read";

const FILTERS = [["actor", "操作人ID"], ["action", "动作"], ["target_type", "对象类型"], ["target_id", "对象ID"]];

function verification(check) {
  if (check.ok) {
    return el("p", {class: "notice ok", id: "chain-result", role: "status"},
              `哈希链完整：已校验 ${check.checked} 条，末条序号 ${check.head.seq}，链尾哈希 `, el("code", {}, check.head.hash));
  }
  const broken = check.broken;
  return el("div", {class: "notice alarm", id: "chain-result", role: "alert"},
    el("p", {}, `哈希链断裂：前 ${check.checked} 条完好，序号 ${broken.seq}（记录 ${broken.id ?? "已缺失"}）处不符。`),
    el("p", {}, "应为 ", el("code", {}, broken.expected_hash)), el("p", {}, "实为 ", el("code", {}, broken.stored_hash)));
}

export async function render(root) {
  const q = hashQuery();
  const inputs = Object.fromEntries(FILTERS.map(([key]) => [key, el("input", {id: `audit-${key}`, value: q[key] || ""})]));
  const from = el("input", {type: "datetime-local", id: "audit-from", value: q.from || ""});
  const to = el("input", {type: "datetime-local", id: "audit-to", value: q.to || ""});
  const search = el("form", {class: "filters", id: "audit-filters"},
                    FILTERS.map(([key, name]) => field(name, inputs[key])), field("起（北京时间）", from),
                    field("止", to), el("button", {class: "primary", type: "submit"}, "查询"));
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    go(withQuery(`#/${id}`, {...Object.fromEntries(FILTERS.map(([key]) => [key, inputs[key].value.trim()])),
                             from: from.value, to: to.value}));
  });
  const verify = el("button", {type: "button", id: "verify-chain", class: "primary"}, "校验哈希链");
  const verifyOut = el("div", {id: "chain"});
  verify.addEventListener("click", () => act(verify, verifyOut, async () => {
    verifyOut.replaceChildren(verification(await api("GET", "/admin/audit/verify")));
  }));
  const results = el("div", {id: "audit-results"}, loading());
  const more = el("button", {type: "button", class: "hidden", id: "audit-more"}, "加载更多");
  root.append(section("哈希链校验", el("p", {class: "muted"}, "逐条重算审计日志的哈希链，报告第一处断裂。"), verify, verifyOut),
              section("查询", search, results, more));

  const params = {...Object.fromEntries(FILTERS.map(([key]) => [key, q[key] || ""])),
                  from: beijingIso(q.from), to: beijingIso(q.to), limit: 50};
  const rows = [];
  async function load(before) {
    try {
      const page = await api("GET", withQuery("/admin/audit/entries", {...params, before: before ?? ""}));
      rows.push(...page.items);
      results.replaceChildren(table([
        ["序号", (e) => e.seq], ["时间", (e) => beijingTime(e.at)],
        ["操作人", (e) => e.actor_user_id === null ? "系统" : `${e.actor_user_id}（${e.actor_roles.join("、")}）`],
        ["动作", (e) => e.action], ["对象", (e) => [e.target_type, e.target_id].filter(Boolean).join(" ")],
        ["结果", (e) => el("span", {class: `result ${e.result}`}, e.result)],
        ["详情", (e) => el("code", {class: "details"}, JSON.stringify(e.details))],
      ], rows, {rowAttrs: (e) => ({"data-seq": e.seq})}));
      more.classList.toggle("hidden", page.next_before === null);
      more.onclick = () => act(more, results, () => load(page.next_before));
    } catch (error) {
      results.replaceChildren(failure(error));
    }
  }
  await load();
}
