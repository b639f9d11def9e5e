"""Patients' outpatient services: their hospital cards (bound after the HIS found the archive),
browsing departments, doctors and slots, and booking registrations, paid as orders of the
payments API (OR1-OR5)."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("outpatient_api", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE, settings.OUTPATIENT))


@web.route(app, "/outpatient/cards", methods=["GET"], permission=permissions.OUTPATIENT_BOOK)
def list_cards():
    from hospital.outpatient import cards

    return web.respond(cards.list_own(web.principal()))


@web.route(app, "/outpatient/cards", methods=["POST"], permission=permissions.OUTPATIENT_BOOK)
def bind_card():
    from hospital.outpatient import cards, models

    body = web.json_body(models.CardBinding)
    card, created = cards.bind(web.principal(), body)
    return web.respond(card, status=201 if created else 200)


@web.route(app, "/outpatient/cards/{card_id}", methods=["DELETE"], permission=permissions.OUTPATIENT_BOOK)
def unbind_card(card_id):
    from hospital.outpatient import cards

    cards.unbind(web.principal(), card_id)
    return web.respond(None, status=204)


@web.route(app, "/outpatient/departments", methods=["GET"], permission=permissions.OUTPATIENT_BOOK)
def list_departments():
    from hospital.outpatient import catalogue

    return web.respond(catalogue.departments())


@web.route(app, "/outpatient/departments/{dept_code}/doctors", methods=["GET"], permission=permissions.OUTPATIENT_BOOK)
def list_doctors(dept_code):
    from hospital.outpatient import catalogue

    return web.respond(catalogue.doctors(dept_code))


@web.route(app, "/outpatient/doctors/{doctor_code}/slots", methods=["GET"], permission=permissions.OUTPATIENT_BOOK)
def list_slots(doctor_code):
    from hospital.outpatient import catalogue

    return web.respond(catalogue.slots(doctor_code, web.query_date("date_from"), web.query_date("date_to")))


@web.route(app, "/outpatient/registrations", methods=["POST"], permission=permissions.OUTPATIENT_BOOK)
def book():
    from hospital.outpatient import booking, models

    body = web.json_body(models.NewRegistration)
    registration, created = booking.book(web.principal(), body)
    return web.respond(registration, status=201 if created else 200)


@web.route(app, "/outpatient/registrations", methods=["GET"], permission=permissions.OUTPATIENT_BOOK)
def list_registrations():
    from hospital.outpatient import booking

    return web.respond(booking.list_own(web.principal(), web.query_int("limit", default=20, low=1, high=100)))


@web.route(app, "/outpatient/registrations/{registration_id}", methods=["GET"], permission=permissions.OUTPATIENT_BOOK)
def get_registration(registration_id):
    from hospital.outpatient import booking

    return web.respond(booking.view(web.principal(), registration_id))


@web.route(app, "/outpatient/registrations/{registration_id}/cancel", methods=["POST"],
           permission=permissions.OUTPATIENT_BOOK)
def cancel_registration(registration_id):
    from hospital.outpatient import cancellation, models

    body = web.json_body(models.Cancellation)
    return web.respond(cancellation.cancel(web.principal(), registration_id, body.reason))
