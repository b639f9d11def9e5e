"""Back office of outpatient services: suspending a doctor's clinic by time slot, and
following each suspension's progress (OS1-OS3). Every action is in the audit log."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.outpatient.answers")
models = web.lazy("hospital.outpatient.models")

app = web.create_app("outpatient_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE, settings.OUTPATIENT))


@web.route(app, "/admin/outpatient/suspensions", methods=["POST"], permission=permissions.OUTPATIENT_SCHEDULE,
           body=models.NewSuspension, response=answers.Suspension, success=(201, 200), errors=(404, 409))
def suspend():
    """Suspend slots of a doctor's day (all of the day's when none are named); its registrations are cancelled.

    201 for a new suspension, 200 with the first one when the same slots were suspended
    before. 404 for a doctor or slot the caller's departments do not have."""
    from hospital.outpatient import suspensions

    body = web.body()
    suspension, created = suspensions.suspend(web.principal(), body.doctor_code, body.visit_date,
                                              list(body.slot_ids), body.reason)
    return web.respond(suspension, status=201 if created else 200)


@web.route(app, "/admin/outpatient/suspensions", methods=["GET"], permission=permissions.OUTPATIENT_SCHEDULE,
           query=(web.Int("limit", default=20, low=1, high=100),), response=web.list_of(answers.SuspensionListed))
def list_suspensions():
    """The newest suspensions of the caller's departments."""
    from hospital.outpatient import suspensions

    return web.respond(suspensions.list_recent(web.principal(), web.args().limit))


@web.route(app, "/admin/outpatient/suspensions/{suspension_id}", methods=["GET"],
           permission=permissions.OUTPATIENT_SCHEDULE, response=answers.SuspensionProgress)
def suspension_progress(suspension_id):
    """A suspension's progress: found, notified, cancelled, refunded and failed, and whom to call."""
    from hospital.outpatient import suspensions

    return web.respond(suspensions.progress(web.principal(), suspension_id))
