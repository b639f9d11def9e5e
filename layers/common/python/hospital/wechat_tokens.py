"""The WeChat API access token, shared by every container through the database.

WeChat allows a limited number of token fetches a day, and a fresh token ends the old
one; so containers must not each fetch their own. One row per app holds the current
token (encrypted: it is a credential) and a short lease: the container that wins the
lease with a guarded UPDATE refreshes, the others keep using the still-valid token or
wait briefly for the new one. We use WeChat's stable_token API, which returns the same
token while it is valid, so even a lost lease race cannot invalidate a token in use.

`access_token` and `_refresh` are the entries: each read, lease and store is a short
transaction of its own, never held across a decryption, a wait or the call to WeChat.

A container keeps the token it last read until the refresh margin, so a burst of alerts
reads the database once: a token another container replaced meanwhile still works until its
own expiry (stable_token), and one WeChat refuses comes back as `stale`, which skips the copy.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

import sqlalchemy as sa

from hospital import crypto
from hospital.db import tables as t
from hospital.db import transaction
from hospital.timeutil import utcnow

REFRESH_MARGIN = dt.timedelta(minutes=5)  # refresh this long before WeChat's expiry
LEASE = dt.timedelta(seconds=15)
_WAIT_STEP, _WAIT_STEPS = 0.1, 50
_held: dict[str, tuple[str, dt.datetime]] = {}  # app id -> (token, expires_at) this container read
_held_lock = threading.Lock()


def _context(app_id: str) -> str:
    return f"wechat_access_tokens.token:{app_id}"


def access_token(app_id: str, app_secret: str, api, *, stale: str | None = None) -> str:
    """A valid access token for `app_id`; `api` is a hospital.adapters.wechat.WeChatApi.

    `stale`: a token WeChat just refused (40001). It is replaced once, by whichever
    container gets there first; the others receive the replacement.
    """
    with _held_lock:
        if stale is not None and _held.get(app_id, ("",))[0] == stale:
            del _held[app_id]
        held = _held.get(app_id)
    if held is not None and held[0] != stale and held[1] - REFRESH_MARGIN > utcnow():
        return held[0]
    for _ in range(_WAIT_STEPS):
        now = utcnow()
        with transaction() as conn:
            row = _read(conn, app_id)
        current = None
        if row is not None and row.token_enc is not None and row.expires_at > now:
            current = crypto.decrypt_text(row.token_enc, _context(app_id))
        refused = stale is not None and current == stale
        if current and not refused and row.expires_at - REFRESH_MARGIN > now:
            with _held_lock:
                _held[app_id] = (current, row.expires_at)
            return current
        with transaction() as conn:
            leased = _take_lease(conn, app_id, now, seen=row)
        if leased:
            return _refresh(app_id, app_secret, api, force_refresh=refused)
        if current and not refused:
            return current  # still valid; another container is refreshing it
        time.sleep(_WAIT_STEP)
    raise TimeoutError(f"no WeChat access token for {app_id}: the refreshing container did not finish")


def forget_held() -> None:
    """Drop the tokens this container holds (a new container, a restored snapshot, tests)."""
    with _held_lock:
        _held.clear()


def invalidate(app_id: str, token: str, app_secret: str, api) -> str:
    """WeChat said `token` is invalid (40001): a replacement, fetched once across containers."""
    return access_token(app_id, app_secret, api, stale=token)


def _read(conn, app_id: str):
    return conn.execute(sa.select(t.wechat_access_tokens).where(t.wechat_access_tokens.c.app_id == app_id)).first()


def _take_lease(conn, app_id: str, now: dt.datetime, seen) -> bool:
    """Win the right to refresh, only if the row is still as we read it: a container that
    read just before another finished refreshing must not refresh a second time."""
    if seen is None:
        try:
            with conn.begin_nested():
                conn.execute(t.wechat_access_tokens.insert().values(
                    app_id=app_id, lease_until=now + LEASE, updated_at=now))
            return True
        except sa.exc.IntegrityError:
            return False  # another container created the row first: read it again
    won = conn.execute(
        t.wechat_access_tokens.update()
        .where(t.wechat_access_tokens.c.app_id == app_id,
               t.wechat_access_tokens.c.updated_at == seen.updated_at,
               sa.or_(t.wechat_access_tokens.c.lease_until.is_(None),
                      t.wechat_access_tokens.c.lease_until < now))
        .values(lease_until=now + LEASE)
    ).rowcount
    return won == 1


def _refresh(app_id: str, app_secret: str, api, force_refresh: bool) -> str:
    try:
        token, expires_in = api.fetch_stable_token(app_id, app_secret, force_refresh=force_refresh)
    except Exception:
        with transaction() as conn:  # give the lease back so another container can try
            conn.execute(t.wechat_access_tokens.update()
                         .where(t.wechat_access_tokens.c.app_id == app_id).values(lease_until=None))
        raise
    sealed = crypto.encrypt(token, _context(app_id))
    now = utcnow()
    with transaction() as conn:
        conn.execute(
            t.wechat_access_tokens.update().where(t.wechat_access_tokens.c.app_id == app_id).values(
                token_enc=sealed,
                expires_at=now + dt.timedelta(seconds=int(expires_in)),
                lease_until=None, updated_at=now,
            )
        )
    return token
