"""The payment-channel interface: how an order is paid and its money given back, whatever
the channel (WeChat Pay v3 or v2, medical insurance, credit care, the next one).

A channel talks to its provider through an adapter, which turns every answer into a
PaymentResult or RefundResult; the payments domain applies those once and asks the channel
(chosen by hospital.payments.channels.registry) for anything that differs between channels,
so it never branches on one.

- pay: open the payment of a payable order; the answer the patient's page needs.
- query: ask the provider about an order being paid and apply what it knows; True if paid.
- close: the order expired; stop it at the provider unless it was paid after all.
- refund: ask the provider to give a refund's money back (idempotent by out_refund_no);
  its answer as a result, for the domain to apply.
- follow_up: ask the provider how a refund it is processing stands.
- finish_refund: the steps left once the provider's answer is booked (a mixed order's
  insurance part).
And the rules the domain books by: what a payment request needs, how a refund is split, what
the provider itself refunds and what its SUCCESS means.
"""
from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from hospital.adapters.payment_results import RefundResult
from hospital.payments import refund_records


@dataclass(frozen=True)
class PayRequest:
    """A patient's request to pay an order."""
    channel: str               # the channel's name, as recorded on the order
    client_ip: str             # the payer's address (WeChat Pay v2 wants it)
    auth_code: str | None = None  # medical insurance: the code of the patient's authorisation


class RefundRefused(Exception):
    """The provider refused the refund request itself (a refusal, not an outage: asking again
    cannot help). Nothing went back: the refund is closed and finance may ask again."""


class RefundRefusedMidway(RefundRefused):
    """A refusal after some parts of the refund may be back already: nothing is undone, a
    person finishes it."""


class PaymentChannel(abc.ABC):
    name: ClassVar[str]               # recorded on its orders (channel) and refunds (route)
    api: ClassVar[str | None] = None  # the WeChat Pay API a merchant must speak for this one to
    #                                   serve (implementations of one name differ by it); None: any

    # ---- the provider ----------------------------------------------------------------------
    @abc.abstractmethod
    def pay(self, principal, order, request: PayRequest) -> dict:
        """Open the payment of `order` (the caller's, payable); what the page needs."""

    @abc.abstractmethod
    def query(self, order) -> bool:
        """Ask the provider about an order being paid; apply a payment it knows of. True if paid."""

    def close(self, order, paid_after_all: Callable[[], bool]) -> bool:
        """The order expired: stop it at the provider. True if it turned out paid (it stays
        open here). `paid_after_all()` queries the order (and applies a payment found).

        A channel with nothing to close at the provider asks it instead."""
        return paid_after_all()

    @abc.abstractmethod
    def refund(self, order, refund) -> RefundResult | None:
        """Ask the provider to refund (idempotent by refund.out_refund_no). None: nothing of
        this refund is left to ask of it. Raises RefundRefused when the provider says no."""

    @abc.abstractmethod
    def follow_up(self, order, refund) -> RefundResult | None:
        """How a refund the provider is still processing stands. None: the provider has no
        query, so the refund is carried on again (`refund`, idempotent)."""

    def finish_refund(self, order, refund, outcome: str | None) -> str:
        """The steps left once the provider's answer to `refund` is booked (`outcome`; None
        when nothing was asked). Most channels have none: the outcome stands."""
        return outcome if outcome is not None else refund.status

    # ---- the rules the books follow --------------------------------------------------------
    def check(self, request: PayRequest) -> None:  # noqa: B027 - a hook: by default a channel takes any request
        """Refuse a payment request this channel cannot take, before anything is read."""

    def refund_parts(self, order, amount_fen: int) -> dict:
        """Columns of a new refund beyond its amount (how it is split); Conflict if this
        channel cannot refund that amount."""
        return {}

    def refunded_by_provider(self, refund) -> int:
        """What the provider itself gives back of `refund` (checked against its news)."""
        return refund.amount_fen

    def refund_succeeded(self, conn, order, refund, provider_ref: str | None, at, now) -> str:
        """The provider says the refund succeeded: book it on the locked rows."""
        return refund_records.succeeded(conn, order, refund, provider_ref, at, now)
