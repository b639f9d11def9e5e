"""The request signature our partner systems share (HIS gateway, insurance platform, credit
provider, the triage link's core): hex HMAC-SHA256 over "<unix seconds>.<raw body bytes>",
so the signature binds the exact bytes and the time."""
from __future__ import annotations

import hashlib
import hmac


def timestamped_hmac(key: str, timestamp: int, body: bytes) -> str:
    return hmac.new(key.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
