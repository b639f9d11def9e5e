// The consoles' one way to the API: same origin (make run serves /console/ beside the API;
// CloudFront does the same when deployed), bearer session from sign-in, one refresh on 401.
// Errors are thrown as ApiError with the API's {code, message, field} and the status.

const SESSION_KEY = "hospital.session";

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || "http_" + status;
    this.field = error?.field || null;
  }
}

export function session() {
  try { return JSON.parse(sessionStorage.getItem(SESSION_KEY)); } catch { return null; }
}

export function keepSession(value) {
  if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(SESSION_KEY);
}

let config = null;
export async function consoleConfig() {
  if (!config) config = await (await fetch("/console/config.json", {cache: "no-store"})).json();
  return config;
}

async function send(method, path, body, token) {
  const headers = {"Accept": "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = "Bearer " + token;
  return fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                      cache: "no-store"});
}

let refreshing = null;
async function refresh() {
  const current = session();
  if (!current?.refresh_token) return false;
  refreshing ??= send("POST", "/auth/refresh", {refresh_token: current.refresh_token})
    .then(async (answer) => {
      if (!answer.ok) { keepSession(null); return false; }
      keepSession(await answer.json());
      return true;
    })
    .finally(() => { refreshing = null; });
  return refreshing;
}

// api("GET", "/dispatch/cases/123") -> the decoded JSON (null for 204); throws ApiError.
export async function api(method, path, body) {
  const signedIn = Boolean(session()?.access_token);
  let answer = await send(method, path, body, session()?.access_token);
  if (answer.status === 401 && await refresh()) answer = await send(method, path, body, session()?.access_token);
  // A refused sign-in step (no session yet) is the sign-in form's to show, not a sign-out.
  if (answer.status === 401 && signedIn) {
    keepSession(null);
    window.dispatchEvent(new CustomEvent("signed-out"));
  }
  const type = answer.headers.get("Content-Type") || "";
  const data = answer.status === 204 ? null : type.includes("json") ? await answer.json() : await answer.text();
  if (!answer.ok) throw new ApiError(answer.status, data?.error);
  return data;
}

// What the signed-in user may do now (GET /auth/me): {user_id, roles, permissions, ...}.
export async function me() {
  return api("GET", "/auth/me");
}

export async function signOut() {
  const current = session();
  try { if (current) await api("POST", "/auth/logout", {refresh_token: current.refresh_token}); }
  finally { keepSession(null); }
}

// Error codes and statuses in words, for the people at the console.
export function explain(error) {
  if (!(error instanceof ApiError)) return "网络异常，请检查连接后重试";
  const words = {
    401: "登录已失效，请重新登录", 403: "没有权限执行此操作", 404: "未找到该记录",
    409: "当前状态不允许此操作", 423: "账号已锁定，请稍后再试", 503: "服务暂时不可用，请稍后重试",
  };
  const base = words[error.status] || "操作失败";
  return error.message ? `${base}：${error.message}` : base;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    // Through the CSSOM: the deployed consoles' policy (style-src 'self') refuses style attributes.
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function beijingTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString("zh-CN", {timeZone: "Asia/Shanghai", hour12: false});
}
