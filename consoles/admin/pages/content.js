// Site content (content.edit): pages, notices and menus; an edit saved as a new draft, a
// version previewed as the API serves it (its sanitized HTML in a sandboxed iframe, no scripts),
// submitted for review; approved or rejected by a reviewer (content.publish).
import {api, el, beijingTime} from "../../shared/api.js";
import {act, failure, field, go, hashQuery, loading, Said, section, select, table, withQuery, word, WORDS}
  from "../ui.js";

export const id = "content";
export const title = "网站内容";
export const permission = "content.edit";
const PUBLISH = "content.publish";

const itemPath = (itemId) => `/admin/content/items/${encodeURIComponent(itemId)}`;

function options(group) {
  return [["", "全部"], ...Object.entries(WORDS[group])];
}

// What the public would see: the sanitized HTML in an iframe that may run nothing.
export function preview(version) {
  const frame = el("iframe", {sandbox: "", id: "preview-frame", title: "预览", class: "preview"});
  const body = version.menu
    ? `<ul>${version.menu.map((entry) => `<li>${escapeHtml(entry.title)}</li>`).join("")}</ul>`
    : version.body_html || "";
  frame.srcdoc = `<!doctype html><meta charset="utf-8"><style>body{font:15px/1.6 sans-serif;margin:12px}</style>`
    + `<h1>${escapeHtml(version.title)}</h1>${body}`;
  return el("div", {class: "preview-box"},
    el("p", {class: "muted"}, `第 ${version.version} 版，${word("contentState", version.state)}`
                              + (version.published ? "，当前对外发布" : "")), frame);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
}

function parseMenu(text) {
  try { return JSON.parse(text); } catch { throw new Said("菜单须为 JSON 数组，如 [{\"title\": \"就诊指南\", \"page\": \"guide\"}]"); }
}

export async function render(root, {permissions, user}) {
  const q = hashQuery();
  const kind = select("content-kind", options("contentKind"), q.kind || "");
  const state = select("content-state", options("contentState"), q.state || "");
  const filters = el("form", {class: "filters"}, field("类型", kind), field("最新版本状态", state),
                     el("button", {class: "primary", type: "submit"}, "筛选"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    go(withQuery(`#/${id}`, {kind: kind.value, state: state.value}));
  });
  const list = el("div", {id: "content-list"}, loading());
  const detail = el("div", {id: "content-detail"}, el("p", {class: "muted"}, "点选一项内容进行编辑与预览"));
  root.append(el("div", {class: "columns"}, section("内容", filters, list, newItem()), section("编辑与预览", detail)));

  try {
    const page = await api("GET", withQuery("/admin/content/items", {kind: q.kind || "", state: q.state || ""}));
    list.replaceChildren(table([
      ["类型", (i) => word("contentKind", i.kind)],
      ["标题", (i) => el("a", {href: withQuery(`#/${id}`, {...q, item: i.id})}, i.latest_title)],
      ["标识", (i) => i.slug], ["发布", (i) => word("contentStatus", i.status)],
      ["最新版", (i) => `v${i.latest_version} ${word("contentState", i.latest_state)}`],
    ], page.items, {rowAttrs: (i) => ({"data-item": i.id})}));
  } catch (error) {
    list.replaceChildren(failure(error));
  }
  if (q.item) await showItem(detail, q.item, permissions.includes(PUBLISH), user.user_id);
}

async function showItem(box, itemId, mayPublish, me) {
  box.replaceChildren(loading());
  let item, latest;
  try {
    item = await api("GET", itemPath(itemId));
    latest = await api("GET", `${itemPath(itemId)}/versions/${item.latest_version}`);
  } catch (error) {
    box.replaceChildren(failure(error));
    return;
  }
  const previewBox = el("div", {id: "preview"}, preview(latest));
  const out = el("div", {id: "content-outcome"});
  const reload = () => showItem(box, itemId, mayPublish, me);

  const titleInput = el("input", {id: "edit-title", value: latest.title, maxlength: 100, required: true});
  const isMenu = item.kind === "menu";
  const bodyInput = el("textarea", {id: "edit-body", rows: 8},
                       isMenu ? JSON.stringify(latest.menu || [], null, 2) : latest.body_html || "");
  const pinned = el("input", {type: "checkbox", id: "edit-pinned", checked: latest.pinned});
  const save = el("button", {class: "primary", type: "submit", id: "save-draft"}, "保存为新草稿");
  const editor = el("form", {class: "editor"}, field("标题", titleInput),
                    field(isMenu ? "菜单（JSON）" : "正文（HTML，发布前会被净化）", bodyInput),
                    item.kind === "notice" ? el("label", {class: "check"}, pinned, "置顶") : null, save);
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    act(save, out, async () => {
      const body = {title: titleInput.value.trim(), base_version: item.latest_version};
      if (isMenu) body.menu = parseMenu(bodyInput.value);
      else body.body_html = bodyInput.value;
      if (item.kind === "notice") body.pinned = pinned.checked;
      await api("POST", `${itemPath(itemId)}/versions`, body);
      await reload();
    });
  });

  const version = `${itemPath(itemId)}/versions/${item.latest_version}`;
  const buttons = [];
  if (latest.state === "draft") {
    const submit = el("button", {type: "button", id: "submit-review", class: "primary"}, "提交审核");
    submit.addEventListener("click", () => act(submit, out, async () => { await api("POST", `${version}/submit`); await reload(); }));
    buttons.push(submit);
  }
  // Nobody reviews their own version (the API refuses it): the buttons are not offered then.
  if (latest.state === "in_review" && mayPublish && latest.author_id === me) {
    buttons.push(el("span", {class: "muted", id: "own-version"}, "待他人审核（不能审核自己提交的版本）"));
  } else if (latest.state === "in_review" && mayPublish) {
    const note = el("input", {id: "review-note", placeholder: "审核意见（驳回时必填）", maxlength: 500});
    const approve = el("button", {type: "button", id: "approve", class: "primary"}, "通过并发布");
    const reject = el("button", {type: "button", id: "reject", class: "danger"}, "驳回");
    approve.addEventListener("click", () => act(approve, out, async () => {
      await api("POST", `${version}/approve`, note.value.trim() ? {note: note.value.trim()} : {});
      await reload();
    }));
    reject.addEventListener("click", () => act(reject, out, async () => {
      if (!note.value.trim()) throw new Said("驳回须填写审核意见");
      await api("POST", `${version}/reject`, {note: note.value.trim()});
      await reload();
    }));
    buttons.push(note, approve, reject);
  }

  box.replaceChildren(
    el("h4", {}, `${word("contentKind", item.kind)} ${item.slug}：${word("contentStatus", item.status)}`
                 + (item.published_version ? `（对外为第 ${item.published_version} 版）` : "")),
    el("div", {class: "inline"}, buttons), out,
    previewBox, editor,
    el("h4", {}, "版本历史"),
    table([["版本", (v) => `v${v.version}`], ["标题", (v) => v.title], ["状态", (v) => word("contentState", v.state)],
           ["作者", (v) => v.author_id], ["时间", (v) => beijingTime(v.created_at)], ["审核意见", (v) => v.review_note],
           ["", (v) => el("button", {type: "button", class: "link", onclick: async () => {
             try { previewBox.replaceChildren(preview(await api("GET", `${itemPath(itemId)}/versions/${v.version}`))); }
             catch (error) { previewBox.replaceChildren(failure(error)); }
           }}, "预览")]], item.versions));
}

function newItem() {
  const kind = select("new-kind", Object.entries(WORDS.contentKind), "page");
  const slug = el("input", {id: "new-slug", required: true, placeholder: "如 visiting-hours"});
  const titleInput = el("input", {id: "new-title", required: true, maxlength: 100});
  const create = el("button", {class: "primary", type: "submit"}, "新建草稿");
  const out = el("div");
  const form = el("form", {class: "filters"}, field("类型", kind), field("标识", slug), field("标题", titleInput), create, out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(create, out, async () => {
      const body = {kind: kind.value, slug: slug.value.trim(), title: titleInput.value.trim()};
      if (kind.value === "menu") body.menu = [];
      else body.body_html = "";
      const made = await api("POST", "/admin/content/items", body);
      go(withQuery(`#/${id}`, {item: made.id}));
    });
  });
  return el("details", {class: "new-item"}, el("summary", {}, "新建内容"), form);
}
