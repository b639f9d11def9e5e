"""Patient rescue intake and case view (ER1-ER5, first slice)."""
from hospital import web
from hospital.auth import roles

app = web.create_app("rescue_api")


@web.route(app, "/rescue/cases", methods=["POST"], allow={roles.PATIENT})
def create_case():
    from hospital.rescue import cases, models

    intake = web.json_body(models.CaseIntake)
    case, created = cases.create_case(web.principal(), intake, web.header("Idempotency-Key"))
    return web.respond(case, status=201 if created else 200)


@web.route(app, "/rescue/cases/{case_id}", methods=["GET"], allow={roles.PATIENT})
def get_case(case_id):
    from hospital.rescue import cases

    return web.respond(cases.get_case(web.principal(), case_id))
