"""Internet-hospital simulator: a doctor's consultation page opened by our deep link
(hospital.links.consultation), `GET /doctors/{doctor_code}?t=<link token>`, checked as the
platform must (v1, platform "internet_hospital", the resource being that doctor): 200 with the
page's facts, or 403 {"error": <reason>}. The pseudonym it is given is all it learns of the
patient; every request is kept in `requests` so tests can look for identities in URLs."""
from __future__ import annotations

from infra.simulators._http import Request, SimulatorServer
from infra.simulators.imaging import open_link_token

PLATFORM = "internet_hospital"


class InternetHospitalSimulator(SimulatorServer):
    def __init__(self, link_keys: dict[str, bytes] | None = None, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.link_keys = dict(link_keys or {})
        self.requests: list[dict] = []
        self.route("GET", "/doctors/{doctor_code}", self._doctor_page)
        self.route("GET", "/_sim/requests", lambda req: (200, self.requests))

    def _doctor_page(self, req: Request):
        doctor_code = req.params["doctor_code"]
        with self._lock:
            self.requests.append({"target": req.target})
        claims, reason = open_link_token(self.link_keys, PLATFORM, req.query.get("t") or "", self.now())
        if claims is None:
            return 403, {"error": reason}
        if claims["res"] != doctor_code:
            return 403, {"error": "wrong_doctor"}
        return 200, {"doctor_code": doctor_code, "patient": claims["sub"], "page": "consultation"}
