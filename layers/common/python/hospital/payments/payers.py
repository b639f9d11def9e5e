"""Who pays: the patient's WeChat identity (openid) in the app they pay from, which WeChat Pay
needs to open a JSAPI or a mixed order for them."""
from __future__ import annotations

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.errors import ValidationFailed


def openid(conn, user_id: int, appid: str) -> str:
    """Read in the caller's transaction."""
    found = conn.execute(sa.select(t.wechat_identities.c.openid).where(
        t.wechat_identities.c.user_id == user_id, t.wechat_identities.c.app_id == appid)).scalar_one_or_none()
    if found is None:
        raise ValidationFailed("sign in with WeChat in this app to pay", field="app")
    return found
