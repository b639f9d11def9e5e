// Sign-in of both consoles: username and password, then the second factor (TOTP, or setting
// one up on a first sign-in), as the back office's sign-in API takes them. Resolves with the
// session once signed in; the session is kept in sessionStorage (this tab only).
import {api, el, explain, keepSession, session} from "./api.js";

export function signedIn() {
  return Boolean(session()?.access_token);
}

export function signIn(root, title) {
  return new Promise((resolve) => {
    const message = el("p", {class: "error", role: "alert", id: "signin-error"});
    const username = el("input", {id: "username", autocomplete: "username", required: true});
    const password = el("input", {id: "password", type: "password", autocomplete: "current-password", required: true});
    const code = el("input", {id: "code", inputmode: "numeric", autocomplete: "one-time-code"});
    const codeRow = el("label", {class: "hidden"}, "动态验证码 ", code);
    const setup = el("p", {class: "hidden", id: "totp-setup"});
    const submit = el("button", {class: "primary", type: "submit", id: "signin-submit"}, "登录");
    let step = "password", challenge = null;

    const form = el("form", {class: "panel signin", id: "signin"},
      el("h2", {}, title),
      el("label", {}, "用户名 ", username), el("label", {}, "密码 ", password),
      setup, codeRow, message, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      message.textContent = "";
      submit.disabled = true;
      try {
        if (step === "password") {
          const answer = await api("POST", "/auth/admin/login", {username: username.value, password: password.value});
          challenge = answer.challenge;
          if (answer.second_factor === "enrol") {
            const enrolment = await api("POST", "/auth/admin/totp/enrolment", {challenge});
            setup.textContent = `首次登录：请在身份验证器中添加密钥 ${enrolment.secret}，然后输入验证码`;
            setup.classList.remove("hidden");
            step = "enrol";
          } else {
            step = "verify";
          }
          codeRow.classList.remove("hidden");
          code.focus();
        } else {
          const answer = step === "enrol"
            ? await api("POST", "/auth/admin/totp/confirm", {challenge, code: code.value})
            : await api("POST", "/auth/admin/login/verify", {challenge, code: code.value});
          keepSession(answer);
          form.remove();
          resolve(answer);
        }
      } catch (error) {
        // A refused step says which: the password, or the code (explain's 401 means a lapsed session).
        message.textContent = error.status === 401
          ? (step === "password" ? "用户名或密码错误" : "验证码错误，请输入身份验证器上的最新验证码")
          : explain(error);
      } finally {
        submit.disabled = false;
      }
    });
    root.replaceChildren(form);
    username.focus();
  });
}
