"""Dispatcher side of emergency rescue: phone intake, accept, decide, dispatch, guidance
sessions, cancel and complete (ER5, ER9, EA3, EA4)."""
from hospital import settings, web
from hospital.auth import permissions, roles

app = web.create_app("rescue_dispatch", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.TRIAGE))


@web.route(app, "/dispatch/cases", methods=["POST"], permission=permissions.RESCUE_DISPATCH)
def phone_intake():
    from hospital.rescue import dispatch, models

    return web.respond(dispatch.phone_intake(web.principal(), web.json_body(models.PhoneIntake)), status=201)


@web.route(app, "/dispatch/cases/{case_id}", methods=["GET"], permission=permissions.RESCUE_CONSOLE)
def get_case(case_id):
    from hospital.rescue import dispatch

    return web.respond(dispatch.case_view(web.principal(), case_id))


@web.route(app, "/dispatch/cases/{case_id}/acknowledge", methods=["POST"], permission=permissions.RESCUE_CONSOLE)
def acknowledge(case_id):
    from hospital.rescue import dispatch

    caller = web.principal()
    return web.respond(dispatch.acknowledge(caller, _role(caller), case_id))


@web.route(app, "/dispatch/cases/{case_id}/accept", methods=["POST"], permission=permissions.RESCUE_CONSOLE)
def accept(case_id):
    from hospital.rescue import dispatch

    caller = web.principal()
    return web.respond(dispatch.step(caller, _role(caller), case_id, "accepted"))


@web.route(app, "/dispatch/cases/{case_id}/decision", methods=["POST"], permission=permissions.RESCUE_DISPATCH)
def decide(case_id):
    from hospital.rescue import dispatch, models

    body = web.json_body(models.Decision)
    return web.respond(dispatch.step(web.principal(), roles.DISPATCHER, case_id, "decided",
                                     {"dispatch": body.dispatch, "reason": body.reason}))


@web.route(app, "/dispatch/cases/{case_id}/dispatch", methods=["POST"], permission=permissions.RESCUE_DISPATCH)
def send_vehicle(case_id):
    from hospital.rescue import dispatch, models

    order = web.json_body(models.DispatchOrder)
    return web.respond(dispatch.dispatch(web.principal(), case_id, order.vehicle_id, order.crew_user_ids))


@web.route(app, "/dispatch/cases/{case_id}/cancel", methods=["POST"], permission=permissions.RESCUE_DISPATCH)
def cancel(case_id):
    from hospital.rescue import dispatch, models

    body = web.json_body(models.Cancellation)
    return web.respond(dispatch.step(web.principal(), roles.DISPATCHER, case_id, "cancelled", {"reason": body.reason}))


@web.route(app, "/dispatch/cases/{case_id}/complete", methods=["POST"], permission=permissions.RESCUE_DISPATCH)
def complete(case_id):
    from hospital.rescue import dispatch, models

    web.json_body(models.Empty)
    return web.respond(dispatch.step(web.principal(), roles.DISPATCHER, case_id, "completed"))


def _role(caller) -> str:
    return roles.DISPATCHER if caller.may(permissions.RESCUE_DISPATCH) else roles.ED_NURSE


@web.route(app, "/dispatch/cases/{case_id}/guidance", methods=["POST"], permission=permissions.RESCUE_CONSOLE)
def start_guidance(case_id):
    from hospital.rescue import guidance, models

    body = web.json_body(models.GuidanceStart)
    caller = web.principal()
    return web.respond(guidance.start(caller, _role(caller), case_id, body.mode), status=201)


@web.route(app, "/dispatch/cases/{case_id}/guidance/{session_id}/end", methods=["POST"],
           permission=permissions.RESCUE_CONSOLE)
def end_guidance(case_id, session_id):
    from hospital.rescue import guidance, models

    body = web.json_body(models.GuidanceEnd)
    caller = web.principal()
    return web.respond(guidance.end(caller, _role(caller), case_id, session_id, body.recording_ref))
