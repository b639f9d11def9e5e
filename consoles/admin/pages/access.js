// Roles and permissions (access.manage), as far as the API goes: the roles with their
// permissions and holders; a role's permission set changed; a new role; a role given to a user
// (by back-office username or user id) or taken from a holder.
import {api, el, beijingTime} from "../../shared/api.js";
import {act, failure, field, loading, Said, section, table} from "../ui.js";

export const id = "access";
export const title = "角色与权限";
export const permission = "access.manage";

const REACH = {own: "本人", hospital: "全院", department: "科室"};

function checkboxes(catalogue, held, prefix) {
  return el("div", {class: "permissions"}, catalogue.map((p) => el("label", {class: "check", title: p.description},
    el("input", {type: "checkbox", name: p.name, id: `${prefix}-${p.name}`, checked: held.includes(p.name)}),
    el("span", {}, p.name), el("small", {}, `${p.description}（${REACH[p.reach] || p.reach}）`))));
}

function checked(box) {
  return [...box.querySelectorAll("input[type=checkbox]:checked")].map((input) => input.name);
}

export async function render(root) {
  const list = el("div", {id: "role-list"}, loading());
  const detail = el("div", {id: "role-detail"}, el("p", {class: "muted"}, "点选一个角色查看权限与持有人"));
  root.append(el("div", {class: "columns wide-right"}, section("角色", list), section("角色详情", detail)));
  let roles, catalogue;
  try {
    [roles, catalogue] = await Promise.all([api("GET", "/admin/access/roles"), api("GET", "/admin/access/permissions")]);
  } catch (error) {
    list.replaceChildren(failure(error));
    return;
  }
  catalogue = catalogue.permissions;
  list.replaceChildren(table([
    ["角色", (r) => el("button", {type: "button", class: "link", onclick: () => show(r.name)}, r.name)],
    ["名称", (r) => r.label], ["内置", (r) => r.builtin ? "是" : "否"], ["权限数", (r) => r.permissions.length],
    ["持有人", (r) => r.holders],
  ], roles.roles, {rowAttrs: (r) => ({"data-role": r.name})}), newRole(catalogue, show));

  async function show(name) {
    detail.replaceChildren(loading());
    let role;
    try {
      role = await api("GET", `/admin/access/roles/${encodeURIComponent(name)}`);
    } catch (error) {
      detail.replaceChildren(failure(error));
      return;
    }
    const box = checkboxes(catalogue, role.permissions, "perm");
    const save = el("button", {class: "primary", type: "submit", id: "save-permissions"}, "保存权限");
    const saveOut = el("div");
    const permForm = el("form", {}, box, save, saveOut);
    permForm.addEventListener("submit", (event) => {
      event.preventDefault();
      act(save, saveOut, async () => {
        const changed = await api("PUT", `/admin/access/roles/${encodeURIComponent(name)}`, {permissions: checked(box)});
        return `已保存：${changed.permissions.length} 项权限，持有人下次请求起生效`;
      });
    });

    const holders = el("div", {id: "holders"});
    const holdersTitle = el("h4", {}, `持有人（${role.holders}）`);
    const drawHolders = (users) => holders.replaceChildren(table([
      ["用户", (u) => u.user_id], ["账号", (u) => u.account?.username], ["状态", (u) => u.status],
      ["范围", (u) => u.roles.find((g) => g.role === name)?.department || "全院"],
      ["授予于", (u) => beijingTime(u.roles.find((g) => g.role === name)?.granted_at)],
      ["操作", (u) => {
        const out = el("span");
        const button = el("button", {type: "button", class: "danger"}, "移除");
        button.addEventListener("click", () => act(button, out, async () => {
          await api("DELETE", `/admin/access/users/${u.user_id}/roles/${encodeURIComponent(name)}`);
          button.closest("tr").remove();
        }));
        return el("span", {}, button, out);
      }],
    ], users));
    drawHolders(role.users);

    const whom = el("input", {id: "grant-user", required: true, placeholder: "后台账号或用户ID"});
    const department = el("input", {id: "grant-department", placeholder: "留空为全院", maxlength: 32});
    const grant = el("button", {class: "primary", type: "submit"}, "授予");
    const grantOut = el("div");
    const grantForm = el("form", {class: "filters", id: "grant-form"}, field("用户", whom), field("科室", department),
                         grant, grantOut);
    grantForm.addEventListener("submit", (event) => {
      event.preventDefault();
      act(grant, grantOut, async () => {
        const userId = await userIdOf(whom.value.trim());
        await api("PUT", `/admin/access/users/${userId}/roles/${encodeURIComponent(name)}`,
                  department.value.trim() ? {department: department.value.trim()} : {});
        const now = await api("GET", `/admin/access/roles/${encodeURIComponent(name)}`);
        holdersTitle.textContent = `持有人（${now.holders}）`;
        drawHolders(now.users);
        return `已将 ${name} 授予用户 ${userId}`;
      });
    });

    detail.replaceChildren(
      el("h4", {}, `${role.label}（${role.name}）`),
      el("p", {class: "muted"}, `${role.builtin ? "内置角色" : "自定义角色"}，更新于 ${beijingTime(role.updated_at)}`),
      el("h4", {}, "权限"), permForm,
      holdersTitle, holders, grantForm);
  }
}

// A back-office username (its exact match) or a user id.
async function userIdOf(text) {
  if (/^\d+$/.test(text)) return Number(text);
  const found = (await api("GET", `/admin/access/users?username=${encodeURIComponent(text)}&limit=20`)).users;
  const exact = found.find((u) => u.account?.username === text);
  if (!exact) throw new Said(`没有后台账号 ${text}`);
  return exact.user_id;
}

function newRole(catalogue, show) {
  const name = el("input", {id: "role-name", required: true, maxlength: 32, pattern: "[a-z][a-z0-9_]*",
                            placeholder: "小写字母、数字、下划线"});
  const label = el("input", {id: "role-label", required: true, maxlength: 64});
  const box = checkboxes(catalogue, [], "new");
  const create = el("button", {class: "primary", type: "submit"}, "新建角色");
  const out = el("div");
  const form = el("form", {id: "new-role"}, el("div", {class: "filters"}, field("角色名", name), field("显示名称", label)),
                  box, create, out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(create, out, async () => {
      const made = await api("POST", "/admin/access/roles", {name: name.value.trim(), label: label.value.trim(),
                                                              permissions: checked(box)});
      show(made.name);
      return `已新建角色 ${made.name}`;
    });
  });
  return el("details", {class: "new-role"}, el("summary", {}, "新建角色"), form);
}
