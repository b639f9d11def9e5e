"""Thin client for the WeChat server API: api.weixin.qq.com, or the local simulator.

WeChat answers errors as HTTP 200 with a non-zero "errcode" -> WeChatError.
Transport trouble (connect/read timeout, connection error, non-200, non-JSON)
-> WeChatUnavailable. `requests` is imported on first call, not at module
import, to keep Lambda cold starts short.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from hospital import external_calls
from hospital.observability import CORRELATION_HEADER, current_correlation_id, mask

log = logging.getLogger("hospital.external")

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
TOKEN_INVALID_ERRCODES = frozenset({40001, 40014, 42001})  # invalid / malformed / expired access_token
USER_REFUSED_ERRCODES = frozenset({43101, 43004})  # refused subscribe message / unfollowed official account
SYSTEM_BUSY = -1
RATE_LIMITED_ERRCODES = frozenset({45009, 45011})  # the API's daily / per-minute quota reached


class WeChatError(Exception):
    def __init__(self, errcode: int | None, errmsg: str, operation: str = ""):
        super().__init__(f"wechat {operation}: errcode={errcode} {errmsg}")
        self.errcode, self.errmsg, self.operation = errcode, errmsg, operation

    @property
    def token_invalid(self) -> bool:
        """The access_token is no good: fetch a fresh one and retry once."""
        return self.errcode in TOKEN_INVALID_ERRCODES

    @property
    def user_refused(self) -> bool:
        """The user refused (or unsubscribed from) this message: don't retry."""
        return self.errcode in USER_REFUSED_ERRCODES

    @property
    def errcode_class(self) -> str:
        """The errcode in a few words, for a metric's dimension (an errcode itself has hundreds
        of values): user_refused, token_invalid, system_busy, rate_limited, other."""
        if self.user_refused:
            return "user_refused"
        if self.token_invalid:
            return "token_invalid"
        if self.errcode == SYSTEM_BUSY:
            return "system_busy"
        if self.errcode in RATE_LIMITED_ERRCODES:
            return "rate_limited"
        return "other"


class WeChatUnavailable(WeChatError):
    """WeChat could not be reached or answered garbage; errcode is None."""

    def __init__(self, errmsg: str, operation: str = "", status: int | None = None):
        super().__init__(None, errmsg, operation)
        self.status = status

    @property
    def errcode_class(self) -> str:
        return "unavailable"


class WeChatApi:
    def __init__(self, base_url: str = DEFAULT_BASE_URL, timeout: tuple[float, float] = (2, 5)):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout  # (connect, read) seconds

    # -- sign-in -----------------------------------------------------------
    def code_to_session(self, app_id: str, app_secret: str, js_code: str) -> dict:
        """Mini-program wx.login code -> {"openid", "unionid" (or None)}."""
        body = self._call("code2session", "GET", "/sns/jscode2session", params={
            "appid": app_id, "secret": app_secret, "js_code": js_code, "grant_type": "authorization_code"})
        # session_key is dropped on purpose: we never decrypt wx.getUserInfo payloads,
        # and collecting only what the purpose needs leaves no session key to leak.
        return {"openid": body["openid"], "unionid": body.get("unionid")}

    def oauth_code_to_identity(self, app_id: str, app_secret: str, code: str) -> dict:
        """Official-account web OAuth code -> {"openid", "unionid" (or None), "scope"}."""
        body = self._call("oauth_access_token", "GET", "/sns/oauth2/access_token", params={
            "appid": app_id, "secret": app_secret, "code": code, "grant_type": "authorization_code"})
        # The user-scoped OAuth tokens are dropped too: we never call /sns/userinfo.
        return {"openid": body["openid"], "unionid": body.get("unionid"), "scope": body.get("scope")}

    # -- access token --------------------------------------------------------
    def fetch_stable_token(self, app_id: str, app_secret: str,
                           force_refresh: bool = False) -> tuple[str, int]:
        """(access_token, expires_in seconds). Same token while valid unless force_refresh."""
        body = self._call("stable_token", "POST", "/cgi-bin/stable_token", payload={
            "grant_type": "client_credential", "appid": app_id, "secret": app_secret,
            "force_refresh": force_refresh})
        return body["access_token"], int(body["expires_in"])

    # -- messages ----------------------------------------------------------
    def send_subscribe_message(self, access_token: str, touser: str, template_id: str, data: dict,
                               page: str | None = None, state: str = "formal") -> int:
        """Mini-program subscribe message; returns msgid. `state`: developer | trial | formal."""
        payload = {"touser": touser, "template_id": template_id, "data": _wrap_values(data),
                   "miniprogram_state": state, "lang": "zh_CN"}
        if page:
            payload["page"] = page
        body = self._call("subscribe_send", "POST", "/cgi-bin/message/subscribe/send",
                          params={"access_token": access_token}, payload=payload,
                          log_fields={"touser": mask(touser)})
        return body["msgid"]

    def send_template_message(self, access_token: str, touser: str, template_id: str, data: dict,
                              url: str | None = None, miniprogram: dict | None = None) -> int:
        """Official-account template message; returns msgid. `miniprogram`: {"appid", "pagepath"}."""
        payload: dict[str, Any] = {"touser": touser, "template_id": template_id, "data": _wrap_values(data)}
        if url:
            payload["url"] = url
        if miniprogram:
            payload["miniprogram"] = miniprogram
        body = self._call("template_send", "POST", "/cgi-bin/message/template/send",
                          params={"access_token": access_token}, payload=payload,
                          log_fields={"touser": mask(touser)})
        return body["msgid"]

    # -- transport -----------------------------------------------------------
    def _call(self, operation: str, method: str, path: str, *, params: dict | None = None,
              payload: dict | None = None, log_fields: dict | None = None) -> dict:
        import requests

        from hospital.adapters import http_sessions

        headers = {}
        correlation_id = current_correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        data = None
        if payload is not None:
            # Raw UTF-8 rather than \uXXXX escapes: WeChat has shown escapes literally in message text.
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"

        status = errcode = error = None
        started = time.monotonic()
        try:
            try:
                # One session per container; nothing retried: the sign-in GETs spend single-use
                # codes, so a second try of one that reached WeChat would fail as "code used".
                response = http_sessions.session("wechat", retry_queries=False).request(
                    method, self.base_url + path, params=params, data=data, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                error = type(exc).__name__
                # "from None": the requests exception text holds the URL, whose query
                # carries the app secret, code or access_token.
                raise WeChatUnavailable(error, operation) from None
            status = response.status_code
            try:
                body = response.json() if status == 200 else None
            except ValueError:
                body = None
            if not isinstance(body, dict):
                error = f"HTTP {status}" if status != 200 else "non-JSON response"
                if status == 200:
                    external_calls.failed("garbled")
                raise WeChatUnavailable(error, operation, status)
            errcode = body.get("errcode") or 0  # success bodies may omit errcode
            if errcode:
                # -1 is WeChat busy, not an answer about this call.
                (external_calls.failed if errcode == SYSTEM_BUSY else external_calls.refused)(errcode)
                raise WeChatError(errcode, str(body.get("errmsg", "")), operation)
            return body
        finally:
            fields = {"system": "wechat", "operation": operation, "status": status, "errcode": errcode,
                      "duration_ms": round((time.monotonic() - started) * 1000, 1), **(log_fields or {})}
            if error:
                fields["error"] = error
            ok = status == 200 and not errcode and not error
            level = logging.INFO if ok else logging.WARNING
            log.log(level, "wechat %s", operation, extra={"external": fields})


def _wrap_values(data: dict) -> dict:
    """Accept {"thing1": "text"} as shorthand for WeChat's {"thing1": {"value": "text"}}."""
    return {key: value if isinstance(value, dict) else {"value": value} for key, value in data.items()}
