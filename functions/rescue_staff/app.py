"""Ambulance crew side of emergency rescue: the assigned case with the caller's phone, trip
progress from en route to back in service, and the vehicle's GPS track (ES1, ES2, ER6)."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.rescue.answers")
models = web.lazy("hospital.rescue.models")

app = web.create_app("rescue_staff", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES,
    settings.LIVE, settings.TRIAGE))


@web.route(app, "/staff/cases/{case_id}", methods=["GET"], permission=permissions.RESCUE_CREW,
           response=answers.ConsoleCase)
def get_case(case_id):
    """A case the caller crews, with the caller's phone.

    404 for a case the caller is not (or no longer) assigned to."""
    from hospital.rescue import dispatch

    return web.respond(dispatch.case_view(web.principal(), case_id))


@web.route(app, "/staff/cases/{case_id}/progress", methods=["POST"], permission=permissions.RESCUE_CREW,
           body=models.TripStep, response=answers.ConsoleCase, errors=(409,))
def report_progress(case_id):
    """Report a step of the trip, from en route to back in service.

    404 without an open dispatch of the caller's for the case; 409 for a step out of order."""
    from hospital.rescue import dispatch

    step = web.body()
    details = {} if step.with_patient is None else {"with_patient": step.with_patient}
    return web.respond(dispatch.progress(web.principal(), case_id, step.node, details))


@web.route(app, "/staff/vehicles/{vehicle_id}/positions", methods=["POST"], permission=permissions.RESCUE_CREW,
           body=models.PositionBatch, max_body=64 * 1024, response=answers.PositionsTaken)
def post_positions(vehicle_id):
    """Post a batch of the vehicle's GPS points.

    Implausible points are dropped and counted, not refused. Only the crew of the vehicle's
    open dispatch may post (403 otherwise)."""
    from hospital.rescue import tracking

    return web.respond(tracking.record_positions(web.principal(), vehicle_id, web.body()))


@web.route(app, "/staff/duty", methods=["PUT"], permission=permissions.STAFF_DUTY,
           body=models.Duty, response=answers.DutyStatus)
def set_duty():
    """Go on or off duty: on duty, new cases reach the caller by WeChat."""
    from hospital.rescue import notify

    return web.respond(notify.set_on_duty(web.principal(), web.body().on_duty))
