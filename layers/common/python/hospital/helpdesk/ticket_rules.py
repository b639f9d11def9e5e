"""Feedback tickets (AS2): their categories, the references they may carry and the moves
between their states. Pure rules: plain data in, a decision out.

    open -> in_progress -> resolved -> closed        worked by IT (it_admin, super_admin)
                           resolved -> in_progress   reopened by the one who filed it
"""
from __future__ import annotations

OPEN, IN_PROGRESS, RESOLVED, CLOSED = "open", "in_progress", "resolved", "closed"
STATUSES = (OPEN, IN_PROGRESS, RESOLVED, CLOSED)

# What the front desk hears about, one word each so a ticket can be sorted at a glance.
CATEGORIES = (
    "registration",       # booking, cancelling, a suspended clinic
    "payment_refund",     # paying, a refund that has not arrived, a double charge
    "medical_insurance",  # insurance settlement, the split between fund and cash
    "rescue",             # the emergency mini-program (the case itself is not shown)
    "account_sign_in",    # WeChat sign-in, binding a hospital card
    "content",            # wrong or missing text, notices, the FAQ itself
    "other",
)

# A ticket may name the record it is about, so IT finds it without asking the patient again.
REFERENCE_TYPES = ("order", "registration", "case")
# Tickets a page of the listing holds: by default, and at most.
DEFAULT_LIMIT, MAX_LIMIT = 20, 100

WORKER_MOVES = frozenset({(OPEN, IN_PROGRESS), (IN_PROGRESS, RESOLVED), (RESOLVED, CLOSED)})
FILER_MOVES = frozenset({(RESOLVED, IN_PROGRESS)})

# Why a move is refused: it is no move of the flow, or the caller may not make it.
NO_SUCH_MOVE, NOT_YOURS = "no_such_move", "not_yours"


def move_refusal(current: str, target: str, *, worker: bool, filer: bool) -> str | None:
    """None if a caller may move a ticket from `current` to `target`; else why not. `worker`:
    the caller works tickets (IT); `filer`: the caller filed this one."""
    move = (current, target)
    if move not in WORKER_MOVES | FILER_MOVES:
        return NO_SUCH_MOVE
    if (worker and move in WORKER_MOVES) or (filer and move in FILER_MOVES):
        return None
    return NOT_YOURS


def takes_comments(status: str) -> bool:
    """A closed ticket is done: a new problem is a new ticket."""
    return status != CLOSED


def takes_assignment(status: str) -> bool:
    return status != CLOSED
