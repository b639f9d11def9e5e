"""Dispatcher side of emergency rescue: the open cases, phone intake, accept, decide, dispatch,
the ambulance's track, guidance sessions, cancel and complete (ER3, ER5, ER6, ER9, EA3, EA4)."""
from hospital import settings, web
from hospital.auth import permissions, roles

answers = web.lazy("hospital.rescue.answers")
models = web.lazy("hospital.rescue.models")

app = web.create_app("rescue_dispatch", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.TRIAGE, settings.LIVE))


@web.route(app, "/dispatch/cases", methods=["POST"], permission=permissions.RESCUE_DISPATCH,
           body=models.PhoneIntake, response=answers.ConsoleCase, success=(201,))
def phone_intake():
    """A 120 phone call entered by the dispatcher: a new case with the caller's phone."""
    from hospital.rescue import dispatch

    return web.respond(dispatch.phone_intake(web.principal(), web.body()), status=201)


@web.route(app, "/dispatch/cases", methods=["GET"], permission=permissions.RESCUE_CONSOLE,
           query=(web.Choice("status", ("open",), default="open",
                             description="open: not yet completed or cancelled"),
                  web.Int("limit", default=100, low=1, high=200, description="how many cases at most")),
           response=answers.OpenCases)
def open_cases():
    """The open cases, oldest first: what an ED console lists, and reads again to catch up
    on whatever it missed while not connected."""
    from hospital.rescue import dispatch

    return web.respond(dispatch.open_cases(web.principal(), web.args().limit))


@web.route(app, "/dispatch/cases/{case_id}/ambulance", methods=["GET"], permission=permissions.RESCUE_CONSOLE,
           query=(web.Time("since", description="also answer the track after this time"),),
           response=answers.Ambulance)
def ambulance(case_id):
    """The ambulance sent to a case: its latest position, and its track when asked.

    404 until a vehicle has been dispatched."""
    from hospital.rescue import tracking

    return web.respond(tracking.ambulance_for_console(case_id, web.args().since))


@web.route(app, "/dispatch/cases/{case_id}", methods=["GET"], permission=permissions.RESCUE_CONSOLE,
           response=answers.ConsoleCase)
def get_case(case_id):
    """A case with the personal fields the caller's role may see, its triage link and dispatches."""
    from hospital.rescue import dispatch

    return web.respond(dispatch.case_view(web.principal(), case_id))


@web.route(app, "/dispatch/cases/{case_id}/acknowledge", methods=["POST"],
           permission=permissions.RESCUE_CONSOLE, response=answers.ConsoleCase)
def acknowledge(case_id):
    """Confirm the console saw the alert of a case.

    The first acknowledgement is recorded; asking again changes nothing and answers the case."""
    from hospital.rescue import dispatch

    caller = web.principal()
    return web.respond(dispatch.acknowledge(caller, _role(caller), case_id))


@web.route(app, "/dispatch/cases/{case_id}/accept", methods=["POST"], permission=permissions.RESCUE_CONSOLE,
           response=answers.ConsoleCase, errors=(409,))
def accept(case_id):
    """Accept a new case.

    409 unless the case is still received or alerted."""
    from hospital.rescue import dispatch

    caller = web.principal()
    return web.respond(dispatch.step(caller, _role(caller), case_id, "accepted"))


@web.route(app, "/dispatch/cases/{case_id}/decision", methods=["POST"], permission=permissions.RESCUE_DISPATCH,
           body=models.Decision, response=answers.ConsoleCase, errors=(409,))
def decide(case_id):
    """Decide whether to send a vehicle to an accepted case, and why.

    409 unless the case is accepted and not yet decided."""
    from hospital.rescue import dispatch

    body = web.body()
    return web.respond(dispatch.step(web.principal(), roles.DISPATCHER, case_id, "decided",
                                     {"dispatch": body.dispatch, "reason": body.reason}))


@web.route(app, "/dispatch/cases/{case_id}/dispatch", methods=["POST"], permission=permissions.RESCUE_DISPATCH,
           body=models.DispatchOrder, response=answers.ConsoleCase, errors=(409,))
def send_vehicle(case_id):
    """Send a vehicle and its crew to an accepted case.

    409 when the case cannot be dispatched or the vehicle is not available."""
    from hospital.rescue import dispatch

    order = web.body()
    return web.respond(dispatch.dispatch(web.principal(), case_id, order.vehicle_id, order.crew_user_ids))


@web.route(app, "/dispatch/cases/{case_id}/cancel", methods=["POST"], permission=permissions.RESCUE_DISPATCH,
           body=models.Cancellation, response=answers.ConsoleCase, errors=(409,))
def cancel(case_id):
    """Cancel a case before a vehicle is dispatched.

    409 once a vehicle has been dispatched or the case is closed."""
    from hospital.rescue import dispatch

    body = web.body()
    return web.respond(dispatch.step(web.principal(), roles.DISPATCHER, case_id, "cancelled", {"reason": body.reason}))


@web.route(app, "/dispatch/cases/{case_id}/complete", methods=["POST"], permission=permissions.RESCUE_DISPATCH,
           body=models.Empty, response=answers.ConsoleCase, errors=(409,))
def complete(case_id):
    """Complete a case; the body is an empty object.

    409 for a dispatched case whose vehicle is not yet back in service, or a closed case."""
    from hospital.rescue import dispatch

    web.body()
    return web.respond(dispatch.step(web.principal(), roles.DISPATCHER, case_id, "completed"))


def _role(caller) -> str:
    return roles.DISPATCHER if caller.may(permissions.RESCUE_DISPATCH) else roles.ED_NURSE


@web.route(app, "/dispatch/cases/{case_id}/guidance", methods=["POST"], permission=permissions.RESCUE_CONSOLE,
           body=models.GuidanceStart, response=answers.GuidanceStarted, success=(201,), errors=(409,))
def start_guidance(case_id):
    """Start a voice, video or phone guidance session with the caller of an open case.

    409 once the case is closed."""
    from hospital.rescue import guidance

    body = web.body()
    caller = web.principal()
    return web.respond(guidance.start(caller, _role(caller), case_id, body.mode), status=201)


@web.route(app, "/dispatch/cases/{case_id}/guidance/{session_id}/end", methods=["POST"],
           permission=permissions.RESCUE_CONSOLE, body=models.GuidanceEnd, response=answers.GuidanceEnded,
           errors=(409,))
def end_guidance(case_id, session_id):
    """End a guidance session, with where its recording is kept.

    409 when the session has already ended."""
    from hospital.rescue import guidance

    body = web.body()
    caller = web.principal()
    return web.respond(guidance.end(caller, _role(caller), case_id, session_id, body.recording_ref))
