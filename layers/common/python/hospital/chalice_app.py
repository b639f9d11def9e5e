"""Every function's Chalice app is made here, so all of them log the same way and check the
settings they need before they take their first event.

The function's name and a correlation id are bound per invocation (not per process: the
local runtime hosts every function in one process), and the invocation's external calls are
recorded, then written when it ends (hospital.external_calls). HTTP functions use hospital.web,
which builds on this. The first app made registers the SnapStart hooks (hospital.snapshot).
"""
from __future__ import annotations

from chalice import Chalice

from hospital import external_calls, observability, settings, snapshot


def create_app(name: str, *, needs: tuple[settings.Group, ...]) -> Chalice:
    """`needs`: the settings groups the function's code reads (tests/unit/test_function_settings.py
    finds them from its imports); a missing or malformed one fails the function's init."""
    settings.check(name, needs)
    app = Chalice(app_name=name)
    observability.setup_logging()
    snapshot.register_hooks()

    def bind_invocation(event, get_response):
        function_token = observability.bind_function(name)
        correlation_token = observability.bind_correlation_id(None)  # HTTP and SQS rebind their own
        try:
            with external_calls.recorded():
                return get_response(event)
        finally:
            observability.reset_correlation_id(correlation_token)
            observability.reset_function(function_token)

    app.register_middleware(bind_invocation, "all")
    return app
