"""Back office of outpatient services: suspending a doctor's clinic by time slot, and
following each suspension's progress (OS1-OS3). Every action is in the audit log."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("outpatient_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE, settings.OUTPATIENT))


@web.route(app, "/admin/outpatient/suspensions", methods=["POST"], permission=permissions.OUTPATIENT_SCHEDULE)
def suspend():
    from hospital.outpatient import models, suspensions

    body = web.json_body(models.NewSuspension)
    suspension, created = suspensions.suspend(web.principal(), body.doctor_code, body.visit_date,
                                              list(body.slot_ids), body.reason)
    return web.respond(suspension, status=201 if created else 200)


@web.route(app, "/admin/outpatient/suspensions", methods=["GET"], permission=permissions.OUTPATIENT_SCHEDULE)
def list_suspensions():
    from hospital.outpatient import suspensions

    return web.respond(suspensions.list_recent(web.principal(), web.query_int("limit", default=20, low=1, high=100)))


@web.route(app, "/admin/outpatient/suspensions/{suspension_id}", methods=["GET"],
           permission=permissions.OUTPATIENT_SCHEDULE)
def suspension_progress(suspension_id):
    from hospital.outpatient import suspensions

    return web.respond(suspensions.progress(web.principal(), suspension_id))
