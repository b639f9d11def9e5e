"""The patient's windows into the hospital's other systems (OI1, PE1, OV1, OV2, OH1): the home
grid with each entry's state, and the consents that open them. Own data only; every consent
given or withdrawn is audited."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("links", needs=(settings.DATABASE, settings.SESSIONS, settings.LINKS,
                                     settings.MEDICAL_INSURANCE, settings.PERSONAL_DATA, settings.HIS,
                                     settings.OUTPATIENT))
OWN = permissions.LINKS_OWN


@web.route(app, "/links/grid", methods=["GET"], permission=OWN)
def home_grid():
    from hospital.links import home

    return web.respond(home.grid(web.principal()))


@web.route(app, "/links/consents", methods=["GET"], permission=OWN)
def list_consents():
    from hospital.links import consents

    return web.respond({"consents": consents.listing(web.principal())})


@web.route(app, "/links/consents", methods=["POST"], permission=OWN)
def give_consent():
    from hospital.links import consents, models

    body = web.json_body(models.ConsentRequest)
    if body.service == consents.PHYSICAL_EXAM and body.card_id is not None:
        from hospital.links import exam  # the exam system authorises the card's person first

        consent, created = exam.authorise(web.principal(), body.card_id)
    elif body.service == consents.INSURANCE_VOUCHER and body.card_id is None:
        from hospital.links import insurance  # the insurance platform's auth code names the person

        consent, created = insurance.authorise(web.principal(), body.auth_code)
    else:
        consent, created = consents.grant(web.principal(), body.service, body.card_id)
    return web.respond(consent, status=201 if created else 200)


@web.route(app, "/links/consents/{service}", methods=["DELETE"], permission=OWN)
def withdraw_consent(service):
    from hospital.links import consents

    card_id = web.query("card_id")
    if service == consents.PHYSICAL_EXAM and card_id is not None:
        from hospital.links import exam  # the exam system is told first

        return web.respond({"withdrawn": exam.withdraw(web.principal(), card_id)})
    return web.respond({"withdrawn": consents.withdraw(web.principal(), service, card_id)})


@web.route(app, "/links/online-consultation", methods=["GET"], permission=OWN)
def online_consultation():
    from hospital.links import consultation

    return web.respond(consultation.entry())


@web.route(app, "/links/online-consultation/links", methods=["POST"], permission=OWN)
def consultation_link():
    from hospital.links import consultation, models

    body = web.json_body(models.ConsultationLinkRequest)
    return web.respond(consultation.doctor_link(web.principal(), body.dept_code, body.doctor_code), status=201)


# ---- cloud imaging (OI1-OI3) ---------------------------------------------------------------

@web.route(app, "/links/imaging/studies", methods=["GET"], permission=OWN)
def imaging_studies():
    from hospital.links import imaging

    return web.respond(imaging.studies(web.principal(), _card_id(), _optional_date("from"), _optional_date("to"),
                                       web.query("modality"), web.query("description"), web.query("accession")))


@web.route(app, "/links/imaging/studies/{study_uid}", methods=["GET"], permission=OWN)
def imaging_study(study_uid):
    from hospital.links import imaging

    return web.respond(imaging.study(web.principal(), _card_id(), study_uid))


@web.route(app, "/links/imaging/studies/{study_uid}/viewer-link", methods=["POST"], permission=OWN)
def imaging_viewer_link(study_uid):
    from hospital.links import imaging, models

    body = web.json_body(models.CardRequest)
    return web.respond(imaging.viewer_link(web.principal(), body.card_id, study_uid), status=201)


# ---- insurance e-voucher (OV1-OV3) -----------------------------------------------------------

@web.route(app, "/links/insurance-voucher", methods=["GET"], permission=OWN)
def insurance_voucher():
    from hospital.links import insurance

    return web.respond(insurance.entry(web.principal()))


@web.route(app, "/links/insurance-voucher/card", methods=["GET"], permission=OWN)
def insurance_card():
    from hospital.links import insurance

    return web.respond(insurance.card(web.principal()))


# ---- physical exam (PE1-PE2) ---------------------------------------------------------------

@web.route(app, "/links/exam/appointments", methods=["GET"], permission=OWN)
def exam_appointments():
    from hospital.links import exam

    return web.respond(exam.appointments(web.principal(), _card_id()))


@web.route(app, "/links/exam/reports", methods=["GET"], permission=OWN)
def exam_reports():
    from hospital.links import exam

    return web.respond(exam.reports(web.principal(), _card_id()))


@web.route(app, "/links/exam/reports/{report_id}", methods=["GET"], permission=OWN)
def exam_report(report_id):
    from hospital.links import exam

    return web.respond(exam.report(web.principal(), _card_id(), _report_id(report_id)))


@web.route(app, "/links/exam/reports/{report_id}/pdf-link", methods=["POST"], permission=OWN)
def exam_pdf_link(report_id):
    from hospital.links import exam, models

    body = web.json_body(models.CardRequest)
    return web.respond(exam.pdf_link(web.principal(), body.card_id, _report_id(report_id)), status=201)


def _card_id() -> str:
    import re

    from hospital.errors import ValidationFailed

    card_id = web.query("card_id")
    if not card_id or not re.fullmatch(r"[0-9a-f]{32}", card_id):
        raise ValidationFailed("card_id (one of your bound cards) is required", field="card_id")
    return card_id


def _report_id(raw: str) -> str:
    import re

    from hospital.errors import ValidationFailed

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", raw):
        raise ValidationFailed("report_id is 1 to 64 of letters, digits, _ and -", field="report_id")
    return raw


def _optional_date(name: str):
    return None if web.query(name) is None else web.query_date(name)
