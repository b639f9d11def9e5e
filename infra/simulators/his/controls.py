"""The HIS simulator's /_sim/ endpoints for outpatient registration, for `make run` and curl;
each calls the simulator's Python API of the same name."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.simulators._http import Reply, Request


def add_routes(sim: Any) -> None:
    route: Callable = sim.route
    route("POST", "/_sim/outpatient/seed", lambda req: (200, sim.seed_outpatient(
        int(_body(req).get("days", 7)), _body(req).get("today"))))
    route("GET", "/_sim/outpatient", lambda req: (200, sim.catalogue()))
    route("GET", "/_sim/slots", lambda req: (200, sim.slot_list(req.query.get("doctor_code"),
                                                                 req.query.get("visit_date"))))
    route("POST", "/_sim/archives", lambda req: (200, sim.add_archive(**_fields(
        req, ("name", "id_no", "phone"), ("patient_id", "card_no")))))
    route("POST", "/_sim/registrations/{reg_no}/seen", _on_registration(sim.mark_seen))
    route("POST", "/_sim/registrations/{reg_no}/charges", _on_registration(sim.attach_charges))
    route("POST", "/_sim/registrations/{reg_no}/forget", _on_registration(sim.forget_registration))
    route("POST", "/_sim/suspensions", _known(lambda req: sim.suspend(**_fields(
        req, ("doctor_code", "visit_date"), ("slot_ids", "reason", "suspension_id")))))
    route("POST", "/_sim/suspensions/{suspension_id}/repeat",
          _known(lambda req: sim.repeat_suspension(req.params["suspension_id"])))
    route("POST", "/_sim/his/faults", lambda req: _trade_fault(sim, req))
    route("GET", "/_sim/holds", lambda req: (200, sim.hold_list()))
    route("GET", "/_sim/registrations", lambda req: (200, sim.registration_list()))
    route("GET", "/_sim/cancellations", lambda req: (200, list(sim.cancellations)))
    route("GET", "/_sim/bindings", lambda req: (200, sim.binding_list()))


def _body(req: Request) -> dict:
    body = req.json() if req.body else {}
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _fields(req: Request, required: tuple[str, ...], optional: tuple[str, ...]) -> dict:
    body = _body(req)
    missing = [name for name in required if not body.get(name)]
    if missing:
        raise ValueError(f"required: {', '.join(missing)}")
    return {name: body[name] for name in required + optional if body.get(name) is not None}


def _known(action: Callable[[Request], Any]) -> Callable[[Request], Reply]:
    """A control naming what the simulator does not hold answers 404."""
    def handler(req: Request) -> Reply:
        try:
            return 200, action(req)
        except LookupError as exc:
            return 404, {"error": str(exc)}
    return handler


def _on_registration(action: Callable[[str], Any]) -> Callable[[Request], Reply]:
    return _known(lambda req: action(req.params["reg_no"]))


def _trade_fault(sim: Any, req: Request) -> Reply:
    body = _body(req)
    sim.inject_trade_fault(str(body.get("trade_code") or ""), str(body.get("mode") or ""), int(body.get("count", 1)),
                           body.get("seconds"), int(body.get("errcode", -1)))
    return 200, {"ok": True}
