"""WeChat server-API simulator (the subset of api.weixin.qq.com the backend uses).

Answers in WeChat's wire format: JSON, errors as HTTP 200 with {"errcode", "errmsg"}.
Behaviour follows WeChat's documentation where it matters to clients:
- login/OAuth codes are single-use and live 5 minutes; a reused code gets
  40163 "code been used", an unknown, foreign-app or expired code 40029 "invalid code";
- /cgi-bin/token issues a new token per call and the previous one stays valid
  for 5 more minutes, then answers 40001 ("not latest");
- /cgi-bin/stable_token returns the same token while valid; force_refresh issues
  a new one and invalidates the old one at once (as WeChat documents);
- a token past its 7200 s lifetime answers 42001 "access_token expired";
- messages go only to openids of the sending app (else 40003), since openids are per app.

Control endpoints under /_sim/ (and the mirroring Python methods) play the phone:
mint login codes, mark users as refusing messages, read sent messages, inject faults.

Standalone: python -m infra.simulators.wechat --port 7001 --app wx-rescue-mini-program=SECRET
"""
from __future__ import annotations

import argparse
import itertools
import secrets

from infra.simulators._http import Reply, Request, SimulatorServer, serve_forever

CODE_TTL = 300
TOKEN_TTL = 7200
SUPERSEDED_TOKEN_GRACE = 300

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43004: "require subscribe",  # template message to a user who unfollowed the account
    43101: "user refuse to accept the msg",
    47001: "data format error",
    47003: "argument invalid! data.value invalid",
}


def _error(errcode: int) -> dict:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}


def _opaque(prefix: str, chars: int) -> str:
    return prefix + secrets.token_urlsafe(chars)[:chars]


class WeChatSimulator(SimulatorServer):
    def __init__(self, apps: dict[str, str], host: str = "127.0.0.1", port: int = 0, *,
                 fault_timeout_seconds: float = 10.0):
        super().__init__(host, port, fault_timeout_seconds=fault_timeout_seconds)
        self.apps = dict(apps)  # app_id -> app_secret
        self._users: dict[tuple[str, str], dict] = {}  # (app_id, openid) -> {"unionid"}
        self._codes: dict[str, dict] = {}
        self._tokens: dict[str, dict] = {}  # access_token -> {"app_id", "expires_at", "superseded"}
        self._latest_token: dict[str, str] = {}  # app_id -> newest /cgi-bin/token token
        self._stable_token: dict[str, str] = {}  # app_id -> current stable token
        self._refused: set[str] = set()
        self._messages: list[dict] = []
        self._msgids = itertools.count(3_000_000_001)
        for method, path, handler in [
            ("GET", "/sns/jscode2session", self._jscode2session),
            ("GET", "/sns/oauth2/access_token", self._oauth_access_token),
            ("GET", "/cgi-bin/token", self._token),
            ("POST", "/cgi-bin/stable_token", self._stable_token_api),
            ("POST", "/cgi-bin/message/subscribe/send", self._subscribe_send),
            ("POST", "/cgi-bin/message/template/send", self._template_send),
            ("POST", "/_sim/login-code", self._ctl_login_code),
            ("GET", "/_sim/messages", self._ctl_messages),
            ("DELETE", "/_sim/messages", self._ctl_clear_messages),
            ("POST", "/_sim/refuse", self._ctl_refuse),
        ]:
            self.route(method, path, handler)

    # -- Python controls (mirrored by /_sim/ endpoints) --------------------
    def mint_login_code(self, app_id: str, openid: str | None = None, unionid: str | None = None,
                        scope: str = "snsapi_base") -> dict:
        """What wx.login / the OAuth redirect does on the phone: a fresh code for that user."""
        with self._lock:
            if app_id not in self.apps:
                raise ValueError(f"unknown app_id {app_id!r}")
            openid = openid or _opaque("o", 27)  # real openids: 28 chars starting with "o"
            user = self._users.setdefault((app_id, openid), {"unionid": None})
            if unionid:
                user["unionid"] = unionid
            code = secrets.token_hex(16)
            self._codes[code] = {"app_id": app_id, "openid": openid, "scope": scope,
                                 "issued_at": self.now(), "used": False}
            return {"code": code, "openid": openid, "unionid": user["unionid"]}

    def messages(self, touser: str | None = None, template_id: str | None = None) -> list[dict]:
        """Every send attempt, accepted or not, oldest first."""
        with self._lock:
            return [m for m in self._messages
                    if (not touser or m["touser"] == touser)
                    and (not template_id or m["template_id"] == template_id)]

    def clear_messages(self) -> None:
        with self._lock:
            self._messages.clear()

    def refuse(self, openid: str, refused: bool = True) -> None:
        """Mark a user as refusing messages (43101 subscribe / 43004 template)."""
        with self._lock:
            if refused:
                self._refused.add(openid)
            else:
                self._refused.discard(openid)

    def fault_body(self, errcode: int) -> dict:
        return _error(errcode)

    # -- sign-in -----------------------------------------------------------
    def _check_app(self, appid: str | None, secret: str | None) -> dict | None:
        if not appid:
            return _error(41002)
        if appid not in self.apps:
            return _error(40013)
        if not secret:
            return _error(41004)
        if secret != self.apps[appid]:
            return _error(40125)
        return None

    def _redeem_code(self, q: dict, code_param: str) -> dict:
        """Validate app + code and burn the code; returns the code record or an error dict."""
        error = self._check_app(q.get("appid"), q.get("secret"))
        if error:
            return error
        if q.get("grant_type") != "authorization_code":
            return _error(40002)
        code = q.get(code_param)
        if not code:
            return _error(41008)
        record = self._codes.get(code)
        if record is None or record["app_id"] != q["appid"] or self.now() - record["issued_at"] > CODE_TTL:
            return _error(40029)
        if record["used"]:
            return _error(40163)
        record["used"] = True
        return record

    def _identity(self, record: dict) -> dict:
        unionid = self._users[(record["app_id"], record["openid"])]["unionid"]
        return {"openid": record["openid"], **({"unionid": unionid} if unionid else {})}

    def _jscode2session(self, req: Request) -> Reply:
        with self._lock:
            record = self._redeem_code(req.query, "js_code")
            if "errcode" in record:
                return 200, record
            return 200, {"session_key": secrets.token_urlsafe(18)[:24], **self._identity(record)}

    def _oauth_access_token(self, req: Request) -> Reply:
        with self._lock:
            record = self._redeem_code(req.query, "code")
            if "errcode" in record:
                return 200, record
            # The web OAuth token only works for /sns/userinfo, so it is not stored as an API token.
            return 200, {"access_token": _opaque("", 86), "expires_in": TOKEN_TTL,
                         "refresh_token": _opaque("", 86), "scope": record["scope"], **self._identity(record)}

    # -- access tokens -----------------------------------------------------
    def _issue_token(self, app_id: str) -> str:
        token = _opaque("", 136)
        self._tokens[token] = {"app_id": app_id, "expires_at": self.now() + TOKEN_TTL, "superseded": False}
        return token

    def _token(self, req: Request) -> Reply:
        q = req.query
        with self._lock:
            error = self._check_app(q.get("appid"), q.get("secret"))
            if error or q.get("grant_type") != "client_credential":
                return 200, error or _error(40002)
            previous = self._tokens.get(self._latest_token.get(q["appid"], ""))
            if previous:
                previous["expires_at"] = min(previous["expires_at"], self.now() + SUPERSEDED_TOKEN_GRACE)
                previous["superseded"] = True
            token = self._latest_token[q["appid"]] = self._issue_token(q["appid"])
            return 200, {"access_token": token, "expires_in": TOKEN_TTL}

    def _stable_token_api(self, req: Request) -> Reply:
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return 200, _error(47001)
        with self._lock:
            error = self._check_app(body.get("appid"), body.get("secret"))
            if error or body.get("grant_type") != "client_credential":
                return 200, error or _error(40002)
            app_id = body["appid"]
            current = self._tokens.get(self._stable_token.get(app_id, ""))
            if current and current["expires_at"] > self.now() and not body.get("force_refresh"):
                return 200, {"access_token": self._stable_token[app_id],
                             "expires_in": int(current["expires_at"] - self.now())}
            if current:
                del self._tokens[self._stable_token[app_id]]
            token = self._stable_token[app_id] = self._issue_token(app_id)
            return 200, {"access_token": token, "expires_in": TOKEN_TTL}

    def _token_owner(self, token: str | None) -> tuple[str | None, dict | None]:
        """(app_id, None) for a usable token, else (None, error)."""
        if not token:
            return None, _error(41001)
        record = self._tokens.get(token)
        if record is None:
            return None, _error(40001)
        if record["expires_at"] <= self.now():
            return None, _error(40001 if record["superseded"] else 42001)
        return record["app_id"], None

    # -- messages ----------------------------------------------------------
    def _send(self, req: Request, kind: str, refused_errcode: int) -> Reply:
        try:
            body = req.json()
        except ValueError:
            body = None
        with self._lock:
            app_id, result = self._token_owner(req.query.get("access_token"))
            result = result or self._check_message(app_id, body, refused_errcode)
            if result is None:
                result = {"errcode": 0, "errmsg": "ok", "msgid": next(self._msgids)}
            body = body if isinstance(body, dict) else {}
            self._messages.append({
                "time": self.now(), "kind": kind, "app_id": app_id,
                "touser": body.get("touser"), "template_id": body.get("template_id"),
                "body": body, "result": result, "accepted": result["errcode"] == 0,
                "correlation_id": req.headers.get("X-Correlation-Id"),
            })
            return 200, result

    def _check_message(self, app_id: str, body, refused_errcode: int) -> dict | None:
        if not isinstance(body, dict):
            return _error(47001)
        if not body.get("touser") or (app_id, body["touser"]) not in self._users:
            return _error(40003)
        if not body.get("template_id"):
            return _error(40037)
        data = body.get("data")
        if not isinstance(data, dict) or not all(isinstance(v, dict) and "value" in v for v in data.values()):
            return _error(47003)
        if body["touser"] in self._refused:
            return _error(refused_errcode)
        return None

    def _subscribe_send(self, req: Request) -> Reply:
        return self._send(req, "subscribe", refused_errcode=43101)

    def _template_send(self, req: Request) -> Reply:
        return self._send(req, "template", refused_errcode=43004)

    # -- control endpoints -------------------------------------------------
    def _ctl_login_code(self, req: Request) -> Reply:
        body = req.json() or {}
        return 200, self.mint_login_code(body.get("app_id", ""), body.get("openid"), body.get("unionid"),
                                         body.get("scope", "snsapi_base"))

    def _ctl_messages(self, req: Request) -> Reply:
        return 200, {"messages": self.messages(req.query.get("touser"), req.query.get("template_id"))}

    def _ctl_clear_messages(self, req: Request) -> Reply:
        self.clear_messages()
        return 200, {"ok": True}

    def _ctl_refuse(self, req: Request) -> Reply:
        body = req.json() or {}
        if not body.get("openid"):
            raise ValueError("openid is required")
        self.refuse(body["openid"], body.get("refused", True))
        return 200, {"ok": True}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7001)
    parser.add_argument("--app", action="append", required=True, metavar="APP_ID=SECRET")
    parser.add_argument("--fault-timeout", type=float, default=10.0, help="seconds a 'timeout' fault stalls")
    args = parser.parse_args(argv)
    if not all("=" in item for item in args.app):
        parser.error("--app takes APP_ID=SECRET")
    apps = dict(item.split("=", 1) for item in args.app)
    serve_forever(WeChatSimulator(apps, args.host, args.port, fault_timeout_seconds=args.fault_timeout),
                  f"WeChat simulator (apps: {', '.join(apps)})")


if __name__ == "__main__":
    main()
