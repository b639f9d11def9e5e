"""Patient side of emergency rescue: intake, own cases, location corrections, cancellation,
the ambulance's position and track, "my rescue persons", and reuse of the service-account
profile by consent (ER1-ER6, ER8, ER10, ER11)."""
from hospital import settings, web
from hospital.auth import permissions
from hospital.rescue import paging

answers = web.lazy("hospital.rescue.answers")
models = web.lazy("hospital.rescue.models")

app = web.create_app("rescue_api", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.QUEUES,
    settings.LIVE))


@web.route(app, "/rescue/cases", methods=["POST"], permission=permissions.RESCUE_CALL,
           body=models.CaseIntake, response=answers.Case, success=(201, 200))
def create_case():
    """Call for help: a new rescue case at the caller's location.

    Send an Idempotency-Key header (8-64 letters, digits or _.:-): a retry with the same key
    answers the first case with 200 instead of creating a second one (201)."""
    from hospital.rescue import intake

    body = web.body()
    case, created = intake.create_case(web.principal(), body, web.header("Idempotency-Key"))
    return web.respond(case, status=201 if created else 200)


@web.route(app, "/rescue/cases", methods=["GET"], permission=permissions.RESCUE_CALL,
           query=(web.Int("limit", default=paging.PAGE_DEFAULT, low=1, high=paging.PAGE_MAX),
                  web.Text("cursor", description="the next_cursor of the previous page")),
           response=answers.CasePage)
def list_cases():
    """The caller's cases, newest first, a page at a time."""
    from hospital.rescue import views

    args = web.args()
    return web.respond(views.list_own(web.principal(), args.limit, args.cursor))


@web.route(app, "/rescue/cases/{case_id}", methods=["GET"], permission=permissions.RESCUE_CALL,
           response=answers.Case)
def get_case(case_id):
    """One of the caller's cases with its timeline."""
    from hospital.rescue import views

    return web.respond(views.get_case(web.principal(), case_id))


@web.route(app, "/rescue/cases/{case_id}/location", methods=["POST"], permission=permissions.RESCUE_CALL,
           body=models.LocationCorrection, response=answers.Case, errors=(409,))
def correct_location(case_id):
    """Move the pin of an open case; every earlier location is kept.

    409 once the case is closed."""
    from hospital.rescue import patient_steps

    correction = web.body()
    return web.respond(patient_steps.correct_location(web.principal(), case_id, correction))


@web.route(app, "/rescue/cases/{case_id}/cancel", methods=["POST"], permission=permissions.RESCUE_CALL,
           body=models.Cancellation, response=answers.Case, errors=(409,))
def cancel_case(case_id):
    """Cancel one of the caller's cases.

    409 once a vehicle has been dispatched (or the case is closed)."""
    from hospital.rescue import patient_steps

    body = web.body()
    return web.respond(patient_steps.cancel(web.principal(), case_id, body.reason))


@web.route(app, "/rescue/cases/{case_id}/ambulance", methods=["GET"], permission=permissions.RESCUE_CALL,
           query=(web.Time("since", description="also answer the track after this time"),),
           response=answers.Ambulance)
def ambulance(case_id):
    """The ambulance sent to the caller's case: its latest position, and its track when asked.

    404 until a vehicle has been dispatched."""
    from hospital.rescue import tracking

    return web.respond(tracking.ambulance_for_patient(web.principal(), case_id, web.args().since))


@web.route(app, "/rescue/profile-link", methods=["GET"], permission=permissions.RESCUE_CALL,
           response=answers.ProfileLinkStatus)
def profile_link_status():
    """Whether the caller has a service-account profile to reuse, and whether it is linked."""
    from hospital.rescue import profile_link

    return web.respond(profile_link.status(web.principal()))


@web.route(app, "/rescue/profile-link", methods=["POST"], permission=permissions.RESCUE_CALL,
           body=models.ProfileLinkConsent, response=answers.ProfileLinked, errors=(404, 409))
def link_profile():
    """Join this identity to the caller's service-account profile, with explicit consent.

    Answers new sessions for the profile: the caller's old sessions end. 404 without a profile
    to reuse; 409 when together the two would hold too many rescue persons."""
    from hospital.rescue import profile_link

    web.body()
    return web.respond(profile_link.link(web.principal()))


@web.route(app, "/rescue/profile-link", methods=["DELETE"], permission=permissions.RESCUE_CALL,
           response=answers.ProfileUnlinked, errors=(404,))
def withdraw_profile_link():
    """Withdraw the consent: this identity leaves the profile with the records it brought.

    Answers new sessions for the caller's own user. 404 without a consent in force."""
    from hospital.rescue import profile_link

    return web.respond(profile_link.withdraw(web.principal()))


@web.route(app, "/rescue/persons", methods=["GET"], permission=permissions.RESCUE_CALL,
           response=answers.Persons)
def list_persons():
    """The caller's rescue persons, oldest first, with how many one may keep."""
    from hospital.rescue import persons

    return web.respond({"items": persons.list_own(web.principal()), "limit": persons.MAX_PERSONS})


@web.route(app, "/rescue/persons", methods=["POST"], permission=permissions.RESCUE_CALL,
           body=models.RescuePersonIn, response=answers.Person, success=(201,), errors=(409,))
def add_person():
    """Add a rescue person.

    409 when the caller already keeps the most allowed."""
    from hospital.rescue import persons

    return web.respond(persons.create(web.principal(), web.body()), status=201)


@web.route(app, "/rescue/persons/{person_id}", methods=["GET"], permission=permissions.RESCUE_CALL,
           response=answers.Person)
def get_person(person_id):
    """One of the caller's rescue persons."""
    from hospital.rescue import persons

    return web.respond(persons.get(web.principal(), person_id))


@web.route(app, "/rescue/persons/{person_id}", methods=["PUT"], permission=permissions.RESCUE_CALL,
           body=models.RescuePersonIn, response=answers.Person)
def update_person(person_id):
    """Replace one of the caller's rescue persons."""
    from hospital.rescue import persons

    return web.respond(persons.update(web.principal(), person_id, web.body()))


@web.route(app, "/rescue/persons/{person_id}", methods=["DELETE"], permission=permissions.RESCUE_CALL)
def delete_person(person_id):
    """Remove one of the caller's rescue persons; past cases still name them."""
    from hospital.rescue import persons

    persons.delete(web.principal(), person_id)
    return web.respond(None, status=204)
