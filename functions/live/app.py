"""The WebSocket API: ED consoles and patients connect with their session token (query
string `token`, since browsers cannot set headers on a WebSocket); patients subscribe to
their own case. A connection lasts as long as its token: the client renews it with a fresh
one before it runs out. Pushes themselves go out from the layer (hospital.live)."""
import json

from chalice import Response

from hospital import settings
from hospital.chalice_app import create_app

app = create_app("live", needs=(settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.LIVE))
app.experimental_feature_flags.update(["WEBSOCKETS"])


def _caller(token):
    """The token's user as things stand now, or None (hospital.auth.standing). Read afresh:
    a connection lasts as long as its token, so a stale cache must not open one."""
    from hospital.auth import standing
    from hospital.auth.tokens import verify_access_token
    from hospital.errors import Unauthenticated

    try:
        return standing.current(verify_access_token(token or ""), fresh=True, activity=False)
    except Unauthenticated:
        return None


@app.on_ws_connect(name="on_connect")
def on_connect(event):
    from hospital import live

    principal = _caller((event.to_dict().get("queryStringParameters") or {}).get("token"))
    if principal is None:
        return Response(body="", status_code=401)  # the handshake is refused
    live.connect(event.connection_id, principal)
    return Response(body="", status_code=200)


@app.on_ws_message(name="on_message")
def on_message(event):
    """{"action": "subscribe", "case_id": "..."}: follow one's own case.
    {"action": "renew", "token": "..."}: keep the connection with a fresh session token."""
    from hospital import live

    try:
        body = json.loads(event.body)
        action = str(body.get("action") or "subscribe")
        argument = str(body["token"] if action == "renew" else body["case_id"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return {"statusCode": 400}
    if not live.is_open(event.connection_id):  # its right ended: nothing more goes to it
        live.close_for_connection(event.connection_id)
        return {"statusCode": 403}
    if action == "renew":
        principal = _caller(argument)
        renewed = principal is not None and live.renew(event.connection_id, principal)
        live.send(event.connection_id, {"type": "renewed", "ok": renewed,
                                        "expires_at": principal.expires_at.isoformat() if renewed else None})
        return {"statusCode": 200}
    from hospital.rescue import case_store

    subscribed = live.subscribe_to_case(event.connection_id, argument, may_follow=case_store.is_owned_by)
    live.send(event.connection_id, {"type": "subscribed", "case_id": argument, "ok": subscribed})
    return {"statusCode": 200}


@app.on_ws_disconnect(name="on_disconnect")
def on_disconnect(event):
    from hospital import live

    live.disconnect(event.connection_id)
