"""Ambulance crew side of emergency rescue: the assigned case with the caller's phone, trip
progress from en route to back in service, and the vehicle's GPS track (ES1, ES2, ER6)."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("rescue_staff", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES,
    settings.LIVE, settings.TRIAGE))


@web.route(app, "/staff/cases/{case_id}", methods=["GET"], permission=permissions.RESCUE_CREW)
def get_case(case_id):
    from hospital.rescue import dispatch

    return web.respond(dispatch.case_view(web.principal(), case_id))


@web.route(app, "/staff/cases/{case_id}/progress", methods=["POST"], permission=permissions.RESCUE_CREW)
def report_progress(case_id):
    from hospital.rescue import dispatch, models

    step = web.json_body(models.TripStep)
    details = {} if step.with_patient is None else {"with_patient": step.with_patient}
    return web.respond(dispatch.progress(web.principal(), case_id, step.node, details))


@web.route(app, "/staff/vehicles/{vehicle_id}/positions", methods=["POST"], permission=permissions.RESCUE_CREW)
def post_positions(vehicle_id):
    from hospital.rescue import models, tracking

    return web.respond(tracking.record_positions(web.principal(), vehicle_id, web.json_body(models.PositionBatch,
                                                                                          max_bytes=64 * 1024)))


@web.route(app, "/staff/duty", methods=["PUT"], permission=permissions.STAFF_DUTY)
def set_duty():
    from hospital.rescue import models, notify

    return web.respond(notify.set_on_duty(web.principal(), web.json_body(models.Duty).on_duty))
