"""Every log line of an invocation carries the Lambda request id, the trace id and whether it
is the container's first invocation (a cold start), without a database."""
import io
import json
import logging

from hospital import chalice_app, observability


class Context:
    def __init__(self, request_id: str):
        self.aws_request_id = request_id
        self.function_name = "t"
        self.memory_limit_in_mb = 128

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def lines_of(run) -> list[dict]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(observability.JsonFormatter())
    logger = logging.getLogger("hospital.test_invocation")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        run(logger)
    finally:
        logger.removeHandler(handler)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_line_names_its_invocation_and_only_the_first_is_cold(monkeypatch):
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8")
    app = chalice_app.create_app("invocation-logs", needs=())

    @app.lambda_function(name="job")
    def job(event, context):
        logging.getLogger("hospital.test_invocation").info("working")
        return {}

    def run(_logger):
        job({}, Context("req-1"))
        job({}, Context("req-2"))

    first, second = lines_of(run)
    assert (first["request_id"], first["cold_start"]) == ("req-1", True)
    assert (second["request_id"], second["cold_start"]) == ("req-2", False)
    assert first["trace_id"].startswith("Root=1-5759e988")
    assert first["function"] == "invocation-logs"


def test_a_line_outside_an_invocation_has_none_of_it():
    line, = lines_of(lambda logger: logger.info("at import"))
    assert not {"request_id", "trace_id", "cold_start"} & set(line)
