"""Every call to an external system, recorded so that it can be looked up by order, case or
patient (AS3): WeChat, WeChat Pay, the insurance platform, the credit provider, the HIS, the
ED triage system, and whichever partner an adapter speaks to next.

    with external_calls.concerning(order_id=order.id, user_id=order.user_id):
        channel.refund(order, refund)

Kept per call (hospital.external_calls.call_rules says how): when it began, the system (the
adapter's HTTP session: wechat, wechatpay_v3, wechatpay_v2, his, medical_insurance, credit,
triage), the operation (method and path, or the HIS's trade code), the function and the
correlation id, the order, case and user it concerns, its latency, its outcome (ok, refused,
error, timeout), the HTTP status and the provider's error code. Never a body, a header, a
query string or a token; nothing personal.

One mechanism. hospital.adapters.http_sessions, the session every adapter sends through
(wechatpy's v2 client included: its session is ours), calls `started` and `ended` around each
request, so an adapter is recorded by using it. Adapters add only what their wire format says
beyond the status: `refused(code)` and `failed(code)` (WeChat's errcode under HTTP 200, the
HIS's E_ codes, an answer that fails verification); the HIS gateway names its trade code
(`as_operation`). The domain says what the calls concern where it calls an adapter
(`concerning`; `concerning_caller` on a patient's entry). AWS (queues, keys, secrets, the
WebSocket API) goes through boto3, not these sessions: it is not an external system here.

When the records are written: held in memory for the invocation (`recorded`, which every
function's app opens: hospital.chalice_app) and written at its end, all in one short
transaction (hospital.external_calls.journal). Not each at once in a transaction of its own:

- the provider's error code is known only once the adapter has read the answer, after the
  session returned: it goes into the held record, not into a second write;
- a container has one database connection (DB_POOL_SIZE 1, no overflow): a record written
  while its caller held a transaction would wait for that connection forever; at the end of
  an invocation none is held;
- the call itself pays a clock read and a list append; the invocation pays one commit, and
  only when it called out. Writing at once would add a commit to every call.

The price: an invocation killed before its end (its Lambda timeout, the container dying) takes
its records with it; the adapters' own log lines (logger hospital.external, with the
correlation id) still tell of those calls. An invocation holds at most MAX_HELD records and
logs how many it left out. Calls made outside an invocation (a script; a test without
`recorded`) are not kept.

Never in the way: recording cannot fail or hold up a call. Each step is guarded; a failure to
record, or to write the records, is logged (logger hospital.external_calls) and swallowed.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

from hospital.external_calls import call_rules as rules
from hospital.observability import current_correlation_id, current_function
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.external_calls")
P = ParamSpec("P")
R = TypeVar("R")

OK, REFUSED, ERROR, TIMEOUT, OUTCOMES = rules.OK, rules.REFUSED, rules.ERROR, rules.TIMEOUT, rules.OUTCOMES
MAX_HELD = 1000  # records one invocation keeps; a sweeper's run of full batches makes a few hundred


class Call:
    """One external call, as its record will be written."""

    __slots__ = ("at", "case_id", "correlation_id", "error_code", "function", "http_status", "latency_ms",
                 "operation", "order_id", "outcome", "started", "system", "user_id")

    def __init__(self, system: str, operation: str, about: tuple[str | None, str | None, int | None]) -> None:
        order_id, case_id, user_id = about
        self.at = utcnow()
        self.started = time.monotonic()
        self.system = rules.text(system, rules.SYSTEM_LENGTH)
        self.operation = operation
        self.function = rules.text(current_function(), rules.FUNCTION_LENGTH)
        self.correlation_id = rules.text(current_correlation_id(), rules.CORRELATION_LENGTH)
        self.order_id = rules.text(order_id, rules.REFERENCE_LENGTH)
        self.case_id = rules.text(case_id, rules.REFERENCE_LENGTH)
        self.user_id = None if user_id is None else int(user_id)
        self.latency_ms: int | None = None
        self.outcome = rules.ERROR  # until it ends: a call that never ended did not succeed
        self.http_status: int | None = None
        self.error_code: str | None = None

    def row(self) -> dict:
        return {"at": self.at, "system": self.system, "operation": self.operation, "function": self.function,
                "correlation_id": self.correlation_id, "order_id": self.order_id, "case_id": self.case_id,
                "user_id": self.user_id, "latency_ms": self.latency_ms, "outcome": self.outcome,
                "http_status": self.http_status, "error_code": self.error_code}


class Held:
    """The records of one invocation, until its end."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.left_out = 0

    def add(self, call: Call) -> None:
        if len(self.calls) < MAX_HELD:
            self.calls.append(call)
        else:
            self.left_out += 1


_about: contextvars.ContextVar[tuple[str | None, str | None, int | None]] = contextvars.ContextVar(
    "external_calls_about", default=(None, None, None))
_operation: contextvars.ContextVar[str | None] = contextvars.ContextVar("external_calls_operation", default=None)
_held: contextvars.ContextVar[Held | None] = contextvars.ContextVar("external_calls_held", default=None)
# The call that ended last here: the one an adapter is reading the answer of.
_last: contextvars.ContextVar[Call | None] = contextvars.ContextVar("external_calls_last", default=None)


# ---- the domain: what the calls inside concern --------------------------------------------

@contextlib.contextmanager
def concerning(*, order_id: str | None = None, case_id: str | None = None,
               user_id: int | None = None) -> Iterator[None]:
    """Calls inside concern this order, case and user (the patient); what is not given is
    kept from an enclosing `concerning`."""
    outer = _about.get()
    token = _about.set((order_id or outer[0], case_id or outer[1], outer[2] if user_id is None else user_id))
    try:
        yield
    finally:
        _about.reset(token)


def concerning_caller(entry: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """For an entry whose first argument is the patient calling (a Principal): the calls it
    makes concern them."""
    @functools.wraps(entry)
    def with_caller(principal, *args: P.args, **kwargs: P.kwargs) -> R:
        with concerning(user_id=getattr(principal, "user_id", None)):
            return entry(principal, *args, **kwargs)

    return with_caller


# ---- the invocation: records held, then written -------------------------------------------

@contextlib.contextmanager
def recorded() -> Iterator[Held]:
    """The calls made inside are recorded, and written when it ends."""
    held = Held()
    held_token, last_token = _held.set(held), _last.set(None)
    try:
        yield held
    finally:
        _held.reset(held_token)
        _last.reset(last_token)
        _write(held)


def _write(held: Held) -> None:
    if held.left_out:
        log.warning("external calls left out of the record", extra={"kept": len(held.calls),
                                                                     "left_out": held.left_out})
    if not held.calls:
        return
    try:
        from hospital.external_calls import journal

        journal.write(held.calls)
    except Exception as exc:  # noqa: BLE001 - the invocation's work is done; losing its records must not undo it
        log.warning("external calls not recorded", extra={"count": len(held.calls), "error": type(exc).__name__,
                                                          "cause": str(exc)[:200]})


# ---- the transport: hospital.adapters.http_sessions ---------------------------------------

def started(system: str, method: str, url: str) -> Call | None:
    """A call about to be sent by `system`'s session; None if it cannot be recorded."""
    try:
        return Call(system, _operation.get() or rules.operation_of(method, url), _about.get())
    except Exception:  # recording never fails the call it records
        log.warning("an external call could not be recorded", exc_info=True)
        return None


def ended(call: Call | None, *, status: int | None = None, error: str | None = None,
          timed_out: bool = False) -> None:
    """The call got its answer (`status`), or none (`error`: what went wrong; `timed_out`)."""
    if call is None:
        return
    try:
        call.latency_ms = round((time.monotonic() - call.started) * 1000)
        call.http_status = status
        call.outcome = rules.outcome_of(status, timed_out=timed_out)
        call.error_code = rules.code(error)
        _last.set(call)
        held = _held.get()
        if held is not None:
            held.add(call)
    except Exception:  # recording never fails the call it records
        log.warning("an external call could not be recorded", exc_info=True)


# ---- the adapters: what their wire format says ---------------------------------------------

@contextlib.contextmanager
def as_operation(name: str) -> Iterator[None]:
    """Calls inside are recorded as `name` (a gateway's trade code) rather than by their path."""
    token = _operation.set(rules.text(name, rules.OPERATION_LENGTH))
    try:
        yield
    finally:
        _operation.reset(token)


def refused(code) -> None:
    """The answer just read is a refusal: a business answer, under the provider's `code`."""
    _amend(rules.REFUSED, code)


def failed(code=None) -> None:
    """The answer just read is of no use (garbled, unverified, the partner failing inside);
    `code` if it named one."""
    _amend(rules.ERROR, code)


def _amend(outcome: str, code) -> None:
    try:
        call = _last.get()
        if call is None:
            return
        call.outcome = outcome
        call.error_code = rules.code(code) or call.error_code
    except Exception:  # recording never fails the call it records
        log.warning("an external call's answer could not be recorded", exc_info=True)
