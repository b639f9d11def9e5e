"""Every function that pushes to or closes live connections may manage the WebSocket API's
connections on AWS; locally nothing checks IAM, so this test does (ER3, NF1)."""
import pathlib

from infra.local.template import Template

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Function -> why it reaches the connection-management API (hospital.live).
LIVE_CALLERS = {
    "AuthFunction": "sign-out and a reused refresh token close the session's connections",
    "RescueApiFunction": "the intake alerts the ED consoles; profile links close connections",
    "RescueStaffFunction": "the newest ambulance position is pushed",
    "RescueEventsFunction": "new cases are pushed to the ED consoles",
    "LiveMessageFunction": "answers on the connection; closes one whose right ended",
}


def test_functions_that_push_or_close_connections_may_manage_them():
    template = Template.from_file(ROOT / "template.yaml")
    for lid in LIVE_CALLERS:
        policies = str(template.resources[lid].properties["Policies"])
        assert "execute-api:ManageConnections" in policies, lid
        assert "LiveApi" in policies, lid
