"""Patient side of emergency rescue: intake, own cases, location corrections, cancellation,
the ambulance's position and track, "my rescue persons", and reuse of the service-account
profile by consent (ER1-ER6, ER8, ER10, ER11)."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("rescue_api", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES,
    settings.LIVE))


@web.route(app, "/rescue/cases", methods=["POST"], permission=permissions.RESCUE_CALL)
def create_case():
    from hospital.rescue import intake, models

    body = web.json_body(models.CaseIntake)
    case, created = intake.create_case(web.principal(), body, web.header("Idempotency-Key"))
    return web.respond(case, status=201 if created else 200)


@web.route(app, "/rescue/cases", methods=["GET"], permission=permissions.RESCUE_CALL)
def list_cases():
    from hospital.rescue import views

    limit = web.query_int("limit", default=views.PAGE_DEFAULT, low=1, high=views.PAGE_MAX)
    return web.respond(views.list_own(web.principal(), limit, web.query("cursor")))


@web.route(app, "/rescue/cases/{case_id}", methods=["GET"], permission=permissions.RESCUE_CALL)
def get_case(case_id):
    from hospital.rescue import views

    return web.respond(views.get_case(web.principal(), case_id))


@web.route(app, "/rescue/cases/{case_id}/location", methods=["POST"], permission=permissions.RESCUE_CALL)
def correct_location(case_id):
    from hospital.rescue import models, patient_steps

    correction = web.json_body(models.LocationCorrection)
    return web.respond(patient_steps.correct_location(web.principal(), case_id, correction))


@web.route(app, "/rescue/cases/{case_id}/cancel", methods=["POST"], permission=permissions.RESCUE_CALL)
def cancel_case(case_id):
    from hospital.rescue import models, patient_steps

    body = web.json_body(models.Cancellation)
    return web.respond(patient_steps.cancel(web.principal(), case_id, body.reason))


@web.route(app, "/rescue/cases/{case_id}/ambulance", methods=["GET"], permission=permissions.RESCUE_CALL)
def ambulance(case_id):
    from hospital.rescue import tracking

    since = web.query_time("since")
    return web.respond(tracking.ambulance_for_patient(web.principal(), case_id, since))


@web.route(app, "/rescue/profile-link", methods=["GET"], permission=permissions.RESCUE_CALL)
def profile_link_status():
    from hospital.rescue import profile_link

    return web.respond(profile_link.status(web.principal()))


@web.route(app, "/rescue/profile-link", methods=["POST"], permission=permissions.RESCUE_CALL)
def link_profile():
    from hospital.rescue import models, profile_link

    web.json_body(models.ProfileLinkConsent)
    return web.respond(profile_link.link(web.principal()))


@web.route(app, "/rescue/profile-link", methods=["DELETE"], permission=permissions.RESCUE_CALL)
def withdraw_profile_link():
    from hospital.rescue import profile_link

    return web.respond(profile_link.withdraw(web.principal()))


@web.route(app, "/rescue/persons", methods=["GET"], permission=permissions.RESCUE_CALL)
def list_persons():
    from hospital.rescue import persons

    return web.respond({"items": persons.list_own(web.principal()), "limit": persons.MAX_PERSONS})


@web.route(app, "/rescue/persons", methods=["POST"], permission=permissions.RESCUE_CALL)
def add_person():
    from hospital.rescue import models, persons

    return web.respond(persons.create(web.principal(), web.json_body(models.RescuePersonIn)), status=201)


@web.route(app, "/rescue/persons/{person_id}", methods=["GET"], permission=permissions.RESCUE_CALL)
def get_person(person_id):
    from hospital.rescue import persons

    return web.respond(persons.get(web.principal(), person_id))


@web.route(app, "/rescue/persons/{person_id}", methods=["PUT"], permission=permissions.RESCUE_CALL)
def update_person(person_id):
    from hospital.rescue import models, persons

    return web.respond(persons.update(web.principal(), person_id, web.json_body(models.RescuePersonIn)))


@web.route(app, "/rescue/persons/{person_id}", methods=["DELETE"], permission=permissions.RESCUE_CALL)
def delete_person(person_id):
    from hospital.rescue import persons

    persons.delete(web.principal(), person_id)
    return web.respond(None, status=204)
