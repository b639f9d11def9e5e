// The back office: sign-in with the second factor, then the pages the user's permissions allow
// (GET /auth/me). Each page module declares the permission its routes need (x-permission in
// docs/openapi.json); a page the user may not use is left out of the navigation and its hash
// route shows "no permission" without calling the API. The server refuses the rest anyway.
import {el, explain, me, signOut} from "../shared/api.js";
import {signIn, signedIn} from "../shared/signin.js";
import * as dispatches from "./pages/dispatches.js";
import * as reconciliation from "./pages/reconciliation.js";
import * as anomalies from "./pages/anomalies.js";
import * as suspensions from "./pages/suspensions.js";
import * as access from "./pages/access.js";
import * as content from "./pages/content.js";
import * as audit from "./pages/audit.js";

export const PAGES = [dispatches, reconciliation, anomalies, suspensions, access, content, audit];

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const signOutButton = document.getElementById("sign-out");
let user = null;

export function allowed(page, permissions) {
  return permissions.includes(page.permission);
}

function routeName() {
  return location.hash.replace(/^#\/?/, "").split("?")[0];
}

function buildNav() {
  const current = routeName();
  nav.replaceChildren(el("ul", {}, PAGES.filter((page) => allowed(page, user.permissions)).map((page) =>
    el("li", {}, el("a", {href: `#/${page.id}`, id: `nav-${page.id}`,
                          class: page.id === current ? "active" : ""}, page.title)))));
}

async function route() {
  if (!user) return;
  const name = routeName();
  const usable = PAGES.filter((page) => allowed(page, user.permissions));
  if (!name) {
    if (usable.length) location.replace(`#/${usable[0].id}`);
    else view.replaceChildren(el("div", {class: "panel refusal", id: "no-pages"},
      el("h2", {}, "没有可用的页面"), el("p", {}, "您的账号没有任何后台页面的权限，请联系系统管理员。")));
    return;
  }
  buildNav();
  const page = PAGES.find((p) => p.id === name);
  if (!page) {
    view.replaceChildren(el("div", {class: "panel refusal"}, el("h2", {}, "页面不存在"),
                            el("p", {}, el("a", {href: "#/"}, "返回首页"))));
    return;
  }
  document.title = `${page.title} - 后台管理`;
  if (!allowed(page, user.permissions)) {
    view.replaceChildren(el("div", {class: "panel refusal", id: "no-permission", role: "alert"},
      el("h2", {}, "没有权限"), el("p", {}, `“${page.title}”需要权限 ${page.permission}，您的账号没有该权限。`)));
    return;
  }
  // Each visit draws into a root of its own: one still loading after the user moved on draws
  // into a detached root, never over the next page.
  const root = el("div", {class: "page", id: `page-${page.id}`}, el("h2", {}, page.title));
  view.replaceChildren(root);
  try {
    await page.render(root, {permissions: user.permissions, user});
  } catch (error) {
    root.append(el("p", {class: "error", role: "alert"}, explain(error)));
  }
}

async function start() {
  if (!signedIn()) {
    nav.replaceChildren();
    who.textContent = "";
    signOutButton.classList.add("hidden");
    await signIn(view, "后台管理登录");
  }
  try {
    user = await me();
  } catch (error) {
    // A 401 has signed out already ("signed-out" starts again); anything else is said in words.
    if (error.status !== 401) view.replaceChildren(el("p", {class: "error", role: "alert"}, explain(error)));
    return;
  }
  who.textContent = `用户 ${user.user_id}（${user.roles.join("、") || "无角色"}）`;
  signOutButton.classList.remove("hidden");
  await route();
}

window.addEventListener("hashchange", route);
window.addEventListener("signed-out", () => {
  if (!user) return;  // signing in already
  user = null;
  start();
});
signOutButton.addEventListener("click", async () => {
  await signOut();
  user = null;
  location.hash = "";
  start();
});
start();
