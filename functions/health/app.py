"""Health for a monitor (GET /health): the database, the queues, the personal-data key and the
session secret, each with its latency; 200 when all answer, 503 when one does not. Public, as a
monitor has no session; it tells nothing but which of these answered and how fast."""
from hospital import settings, web

health_answer = web.lazy("hospital.health_answer")

app = web.create_app("health", needs=(settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.QUEUES))


@web.route(app, "/health", methods=["GET"], public=True, response=health_answer.HealthReport, success=(200, 503))
def health():
    """Whether the service can serve: each dependency's check with its latency.

    200 when every check passed; 503 with the same report, naming the failing check, when one
    did not. Probes within a few seconds share one round of checks."""
    from hospital import health as probes

    answer = probes.check()
    return web.respond(answer, status=200 if answer["status"] == "ok" else 503,
                       headers={"Cache-Control": "no-store"})
