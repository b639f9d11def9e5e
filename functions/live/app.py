"""The WebSocket API: ED consoles and patients connect with their session token (query
string `token`, since browsers cannot set headers on a WebSocket); patients subscribe to
their own case. Pushes themselves go out from the queue consumers (hospital.live)."""
import json

from chalice import Response

from hospital.chalice_app import create_app

app = create_app("live")
app.experimental_feature_flags.update(["WEBSOCKETS"])


@app.on_ws_connect(name="on_connect")
def on_connect(event):
    from hospital import live
    from hospital.auth.tokens import verify_access_token
    from hospital.errors import Unauthenticated

    token = (event.to_dict().get("queryStringParameters") or {}).get("token")
    try:
        principal = verify_access_token(token or "")
    except Unauthenticated:
        return Response(body="", status_code=401)  # the handshake is refused
    live.connect(event.connection_id, principal)
    return Response(body="", status_code=200)


@app.on_ws_message(name="on_message")
def on_message(event):
    """{"action": "subscribe", "case_id": "..."}: follow one's own case."""
    from hospital import live

    try:
        body = json.loads(event.body)
        case_id = str(body["case_id"])
    except (ValueError, KeyError, TypeError):
        return {"statusCode": 400}
    subscribed = live.subscribe_to_case(event.connection_id, case_id)
    live.send(event.connection_id, {"type": "subscribed", "case_id": case_id, "ok": subscribed})
    return {"statusCode": 200}


@app.on_ws_disconnect(name="on_disconnect")
def on_disconnect(event):
    from hospital import live

    live.disconnect(event.connection_id)
