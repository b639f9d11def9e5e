"""The patient's windows into the hospital's other systems (OI1, PE1, OV1, OV2, OH1): the home
grid with each entry's state, and the consents that open them. Own data only; every consent
given or withdrawn is audited."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.links.answers")
models = web.lazy("hospital.links.models")

app = web.create_app("links", needs=(settings.DATABASE, settings.SESSIONS, settings.LINKS,
                                     settings.MEDICAL_INSURANCE, settings.PERSONAL_DATA, settings.HIS,
                                     settings.OUTPATIENT))
OWN = permissions.LINKS_OWN
CARD = web.Text("card_id", max_length=32, required=True, description="one of the caller's bound cards")


@web.route(app, "/links/grid", methods=["GET"], permission=OWN, response=answers.Grid)
def home_grid():
    """The home grid: each entry and whether it opens, needs the patient's consent first or is unavailable."""
    from hospital.links import home

    return web.respond(home.grid(web.principal()))


@web.route(app, "/links/consents", methods=["GET"], permission=OWN, response=answers.Consents)
def list_consents():
    """The caller's consents to linked systems that hold now."""
    from hospital.links import consents

    return web.respond({"consents": consents.listing(web.principal())})


@web.route(app, "/links/consents", methods=["POST"], permission=OWN, body=models.ConsentRequest,
           response=answers.Consent, success=(201, 200), errors=(404, 409))
def give_consent():
    """Consent to a linked system: cloud imaging and physical exams per bound card (card_id), the
    insurance e-voucher with the insurance platform's auth_code.

    201 for a new consent, 200 with the one that holds already. A physical-exam consent is given
    to the exam system first (404 when it does not know the card's person)."""
    from hospital.links import consents

    body = web.body()
    if body.service == consents.PHYSICAL_EXAM and body.card_id is not None:
        from hospital.links import exam  # the exam system authorises the card's person first

        consent, created = exam.authorise(web.principal(), body.card_id)
    elif body.service == consents.INSURANCE_VOUCHER and body.card_id is None:
        from hospital.links import insurance  # the insurance platform's auth code names the person

        consent, created = insurance.authorise(web.principal(), body.auth_code)
    else:
        consent, created = consents.grant(web.principal(), body.service, body.card_id)
    return web.respond(consent, status=201 if created else 200)


@web.route(app, "/links/consents/{service}", methods=["DELETE"], permission=OWN, response=answers.Withdrawal,
           query=(web.Text("card_id", max_length=32, description="the card, for a per-card service"),))
def withdraw_consent(service):
    """Withdraw a consent; withdrawn is false when none held.

    What was shown before stays shown; nothing more is asked of the system for the patient."""
    from hospital.links import consents

    card_id = web.args().card_id
    if service == consents.PHYSICAL_EXAM and card_id is not None:
        from hospital.links import exam  # the exam system is told first

        return web.respond({"withdrawn": exam.withdraw(web.principal(), card_id)})
    return web.respond({"withdrawn": consents.withdraw(web.principal(), service, card_id)})


@web.route(app, "/links/online-consultation", methods=["GET"], permission=OWN,
           response=answers.ConsultationEntry)
def online_consultation():
    """Where the internet hospital opens, if it is connected here."""
    from hospital.links import consultation

    return web.respond(consultation.entry())


@web.route(app, "/links/online-consultation/links", methods=["POST"], permission=OWN,
           body=models.ConsultationLinkRequest, response=answers.ConsultationLink, success=(201,), errors=(404, 409))
def consultation_link():
    """A short-lived link to a doctor's consultation page, naming the patient only by a pseudonym.

    404 for a doctor not in the department, 409 for one who does not consult online."""
    from hospital.links import consultation

    body = web.body()
    return web.respond(consultation.doctor_link(web.principal(), body.dept_code, body.doctor_code), status=201)


# ---- cloud imaging (OI1-OI3) ---------------------------------------------------------------

@web.route(app, "/links/imaging/studies", methods=["GET"], permission=OWN, response=answers.Studies,
           query=(CARD, web.Date("from", required=False), web.Date("to", required=False),
                  web.Text("modality", max_length=4, description="a modality code: CT, MR, DX, US, ..."),
                  web.Text("description", max_length=64, description="the study's description; * and ? are "
                           "wildcards"),
                  web.Text("accession", max_length=16, description="the accession number")),
           errors=(404, 409))
def imaging_studies():
    """The imaging studies of a bound card's person, once the patient consented for that card (else 409)."""
    from hospital.links import imaging

    args = web.args()
    return web.respond(imaging.studies(web.principal(), _card_id(), getattr(args, "from"), args.to, args.modality,
                                       args.description, args.accession))


@web.route(app, "/links/imaging/studies/{study_uid}", methods=["GET"], permission=OWN, query=(CARD,),
           response=answers.StudyDetail, errors=(409,))
def imaging_study(study_uid):
    """One study of the card's person, with its report once there is one."""
    from hospital.links import imaging

    return web.respond(imaging.study(web.principal(), _card_id(), study_uid))


@web.route(app, "/links/imaging/studies/{study_uid}/viewer-link", methods=["POST"], permission=OWN,
           body=models.CardRequest, response=answers.ViewerLink, success=(201,), errors=(409,))
def imaging_viewer_link(study_uid):
    """A short-lived link to the imaging viewer for the study."""
    from hospital.links import imaging

    body = web.body()
    return web.respond(imaging.viewer_link(web.principal(), body.card_id, study_uid), status=201)


# ---- insurance e-voucher (OV1-OV3) -----------------------------------------------------------

@web.route(app, "/links/insurance-voucher", methods=["GET"], permission=OWN,
           response=answers.InsuranceVoucherEntry)
def insurance_voucher():
    """The e-voucher entry's state, and where the patient authorises us at the insurance platform."""
    from hospital.links import insurance

    return web.respond(insurance.entry(web.principal()))


@web.route(app, "/links/insurance-voucher/card", methods=["GET"], permission=OWN,
           response=answers.InsuranceCard, errors=(404, 409))
def insurance_card():
    """The patient's e-insurance card, masked where sensitive.

    409 consent_required before the patient authorised us; 404 not_insured when the platform
    no longer knows the person."""
    from hospital.links import insurance

    return web.respond(insurance.card(web.principal()))


# ---- physical exam (PE1-PE2) ---------------------------------------------------------------

@web.route(app, "/links/exam/appointments", methods=["GET"], permission=OWN, query=(CARD,),
           response=answers.Appointments, errors=(404, 409))
def exam_appointments():
    """The exam appointments of a bound card's person, once the patient consented for that card."""
    from hospital.links import exam

    return web.respond(exam.appointments(web.principal(), _card_id()))


@web.route(app, "/links/exam/reports", methods=["GET"], permission=OWN, query=(CARD,),
           response=answers.Reports, errors=(404, 409))
def exam_reports():
    """The exam reports of a bound card's person, once the patient consented for that card."""
    from hospital.links import exam

    return web.respond(exam.reports(web.principal(), _card_id()))


@web.route(app, "/links/exam/reports/{report_id}", methods=["GET"], permission=OWN, query=(CARD,),
           response=answers.Report, errors=(409,))
def exam_report(report_id):
    """One exam report of the card's person, with its sections, conclusion and advice."""
    from hospital.links import exam

    return web.respond(exam.report(web.principal(), _card_id(), _report_id(report_id)))


@web.route(app, "/links/exam/reports/{report_id}/pdf-link", methods=["POST"], permission=OWN,
           body=models.CardRequest, response=answers.PdfLink, success=(201,), errors=(409,))
def exam_pdf_link(report_id):
    """A short-lived link to a final report's PDF (409 report_pending before it is final)."""
    from hospital.links import exam

    body = web.body()
    return web.respond(exam.pdf_link(web.principal(), body.card_id, _report_id(report_id)), status=201)


def _card_id() -> str:
    import re

    from hospital.errors import ValidationFailed

    card_id = web.args().card_id
    if not card_id or not re.fullmatch(r"[0-9a-f]{32}", card_id):
        raise ValidationFailed("card_id (one of your bound cards) is required", field="card_id")
    return card_id


def _report_id(raw: str) -> str:
    import re

    from hospital.errors import ValidationFailed

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", raw):
        raise ValidationFailed("report_id is 1 to 64 of letters, digits, _ and -", field="report_id")
    return raw

