"""Every function's Chalice app is made here, so all of them log the same way and check the
settings they need before they take their first event.

The function's name, a correlation id, the Lambda request id, the trace id and whether this
is the container's first invocation (a cold start) are bound per invocation (not per process:
the local runtime hosts every function in one process), and the invocation's external calls are
recorded, then written when it ends (hospital.external_calls). HTTP functions use hospital.web,
which builds on this. The first app made registers the SnapStart hooks (hospital.snapshot).
"""
from __future__ import annotations

import os

from chalice import Chalice

from hospital import external_calls, observability, settings, snapshot


def create_app(name: str, *, needs: tuple[settings.Group, ...]) -> Chalice:
    """`needs`: the settings groups the function's code reads (tests/unit/test_function_settings.py
    finds them from its imports); a missing or malformed one fails the function's init."""
    settings.check(name, needs)
    app = Chalice(app_name=name)
    observability.setup_logging()
    snapshot.register_hooks()

    first = {"cold": True}  # emptied by the container's first invocation of the function

    def bind_invocation(event, get_response):
        function_token = observability.bind_function(name)
        correlation_token = observability.bind_correlation_id(None)  # HTTP and SQS rebind their own
        # Lambda sets the trace id of each invocation in the environment (active tracing).
        # The Lambda context: a request's `lambda_context`, another event's `context` (a
        # request's `context` is API Gateway's requestContext, which has no request id).
        context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
        invocation_token = observability.bind_invocation(
            getattr(context, "aws_request_id", None), os.environ.get("_X_AMZN_TRACE_ID"),
            cold_start=first.pop("cold", False))
        try:
            with external_calls.recorded():
                return get_response(event)
        finally:
            observability.reset_invocation(invocation_token)
            observability.reset_correlation_id(correlation_token)
            observability.reset_function(function_token)

    app.register_middleware(bind_invocation, "all")
    return app
