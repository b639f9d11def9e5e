"""Patients' outpatient services: their hospital cards (bound after the HIS found the archive),
browsing departments, doctors and slots, and booking registrations, paid as orders of the
payments API (OR1-OR5)."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.outpatient.answers")
models = web.lazy("hospital.outpatient.models")

app = web.create_app("outpatient_api", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES, settings.PAYMENTS,
    settings.HIS, settings.CREDIT, settings.MEDICAL_INSURANCE, settings.OUTPATIENT))


@web.route(app, "/outpatient/cards", methods=["GET"], permission=permissions.OUTPATIENT_BOOK,
           response=web.list_of(answers.Card))
def list_cards():
    """The caller's bound hospital cards."""
    from hospital.outpatient import cards

    return web.respond(cards.list_own(web.principal()))


@web.route(app, "/outpatient/cards", methods=["POST"], permission=permissions.OUTPATIENT_BOOK,
           body=models.CardBinding, response=answers.Card, success=(201, 200), errors=(404, 409))
def bind_card():
    """Bind a hospital card: the HIS finds the archive by name, ID number and mobile.

    201 for a new binding, 200 when the card was already bound to the caller."""
    from hospital.outpatient import cards

    body = web.body()
    card, created = cards.bind(web.principal(), body)
    return web.respond(card, status=201 if created else 200)


@web.route(app, "/outpatient/cards/{card_id}", methods=["DELETE"], permission=permissions.OUTPATIENT_BOOK,
           errors=(409,))
def unbind_card(card_id):
    """Unbind one of the caller's cards.

    409 while a registration of the card is still to be seen."""
    from hospital.outpatient import cards

    cards.unbind(web.principal(), card_id)
    return web.respond(None, status=204)


@web.route(app, "/outpatient/departments", methods=["GET"], permission=permissions.OUTPATIENT_BOOK,
           response=web.list_of(answers.Department))
def list_departments():
    """The clinical departments that take registrations."""
    from hospital.outpatient import catalogue

    return web.respond(catalogue.departments())


@web.route(app, "/outpatient/departments/{dept_code}/doctors", methods=["GET"], permission=permissions.OUTPATIENT_BOOK,
           response=web.list_of(answers.Doctor))
def list_doctors(dept_code):
    """A department's doctors, with whether each consults online."""
    from hospital.outpatient import catalogue

    return web.respond(catalogue.doctors(dept_code))


@web.route(app, "/outpatient/doctors/{doctor_code}/slots", methods=["GET"], permission=permissions.OUTPATIENT_BOOK,
           query=(web.Date("date_from"), web.Date("date_to")), response=web.list_of(answers.Slot))
def list_slots(doctor_code):
    """A doctor's time slots from date_from to date_to, each with whether it can be booked."""
    from hospital.outpatient import catalogue

    args = web.args()
    return web.respond(catalogue.slots(doctor_code, args.date_from, args.date_to))


@web.route(app, "/outpatient/registrations", methods=["POST"], permission=permissions.OUTPATIENT_BOOK,
           body=models.NewRegistration, response=answers.Registration, success=(201, 200), errors=(404, 409))
def book():
    """Book a slot for one of the caller's cards; the registration is then paid as its order.

    201 for a new registration, 200 when the same booking was already made."""
    from hospital.outpatient import booking

    body = web.body()
    registration, created = booking.book(web.principal(), body)
    return web.respond(registration, status=201 if created else 200)


@web.route(app, "/outpatient/registrations", methods=["GET"], permission=permissions.OUTPATIENT_BOOK,
           query=(web.Int("limit", default=20, low=1, high=100),), response=web.list_of(answers.Registration))
def list_registrations():
    """The caller's registrations, newest first."""
    from hospital.outpatient import booking

    return web.respond(booking.list_own(web.principal(), web.args().limit))


@web.route(app, "/outpatient/registrations/{registration_id}", methods=["GET"], permission=permissions.OUTPATIENT_BOOK,
           response=answers.Registration)
def get_registration(registration_id):
    """One of the caller's registrations."""
    from hospital.outpatient import booking

    return web.respond(booking.view(web.principal(), registration_id))


@web.route(app, "/outpatient/registrations/{registration_id}/cancel", methods=["POST"],
           permission=permissions.OUTPATIENT_BOOK, body=models.RegistrationCancellation, response=answers.Registration,
           errors=(409,))
def cancel_registration(registration_id):
    """Cancel a booked registration within the cancellation window; a paid one is refunded.

    Asking again carries a cancellation under way on and answers the registration."""
    from hospital.outpatient import cancellation

    body = web.body()
    return web.respond(cancellation.cancel(web.principal(), registration_id, body.reason))
