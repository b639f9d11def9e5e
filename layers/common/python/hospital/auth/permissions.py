"""Named permissions and the roles seeded with them (AD2, NF1).

Every route declares one permission (hospital.web); a role is a set of permissions kept in the
database (role_permissions), so the super admin can make new roles and change them, and a user
holds roles, a role perhaps narrowed to one department. The seeded roles below are what a fresh
database holds: together with the routes' permissions they give the README's authorisation
matrix, and a migration writes exactly these rows (tests/functions/test_who_may_do_what.py).

A permission of DEPARTMENT reach guards data that belongs to a department (a doctor's clinic):
held through a role scoped to a department, it reaches that department's data only. HOSPITAL
permissions guard hospital-wide work (the rescue line is the emergency department's, the
ledger the hospital's), so a role holding any of them cannot be scoped; OWN ones reach only
the caller's own data, which a scope does not change.
"""
from __future__ import annotations

from typing import NamedTuple

from hospital.auth import roles as R

OWN, HOSPITAL, DEPARTMENT = "own", "hospital", "department"


class Permission(NamedTuple):
    name: str
    description: str
    # own: a caller's own data (patients' and everyone's sessions); hospital: hospital-wide work;
    # department: data that belongs to a department, narrowed by a role's scope.
    reach: str = HOSPITAL
    # Back-office work, done in Chrome: needs a session signed in with a password and a second
    # factor (BACK_OFFICE_SIGN_IN); the crews, the 120 line and the ED console keep WeChat sign-in.
    back_office: bool = True


SESSION_SELF = "session.self"
RESCUE_CALL = "rescue.call"
OUTPATIENT_BOOK = "outpatient.book"
PAYMENTS_PAY = "payments.pay"
LINKS_OWN = "links.own"
RESCUE_DISPATCH = "rescue.dispatch"
RESCUE_CONSOLE = "rescue.console"
RESCUE_CREW = "rescue.crew"
STAFF_DUTY = "staff.duty"
RESCUE_RECORDS = "rescue.records"
PAYMENTS_READ = "payments.read"
PAYMENTS_MANAGE = "payments.manage"
RECONCILIATION_READ = "reconciliation.read"
RECONCILIATION_MANAGE = "reconciliation.manage"
CONSISTENCY_CHECK = "consistency.check"
LOGS_READ = "logs.read"
AUDIT_READ = "audit.read"
OUTPATIENT_SCHEDULE = "outpatient.schedule"
CONTENT_EDIT = "content.edit"
CONTENT_PUBLISH = "content.publish"
FEEDBACK_FILE = "feedback.file"
FEEDBACK_FOLLOW = "feedback.follow"
FEEDBACK_WORK = "feedback.work"
FAQ_READ = "faq.read"
FAQ_EDIT = "faq.edit"
ACCESS_MANAGE = "access.manage"
ACCESS_GRANT_ANY = "access.grant_any"

CATALOGUE: tuple[Permission, ...] = (
    Permission(SESSION_SELF, "one's own sessions, password and second factor", OWN, back_office=False),
    Permission(RESCUE_CALL, "call for rescue, follow one's cases, keep one's rescue persons", OWN, back_office=False),
    Permission(OUTPATIENT_BOOK, "one's own patient cards and registrations", OWN, back_office=False),
    Permission(PAYMENTS_PAY, "pay one's own orders; enrol in credit care", OWN, back_office=False),
    Permission(LINKS_OWN, "one's own windows into linked systems: consents, imaging, exams", OWN, back_office=False),
    Permission(RESCUE_DISPATCH, "take 120 calls; decide, dispatch, cancel, complete cases", back_office=False),
    Permission(RESCUE_CONSOLE, "the ED console: alerts, accepting cases, phone guidance", back_office=False),
    Permission(RESCUE_CREW, "an ambulance crew's case, progress and positions", back_office=False),
    Permission(STAFF_DUTY, "go on and off duty", back_office=False),
    Permission(RESCUE_RECORDS, "rescue dispatch statistics and case records"),
    Permission(PAYMENTS_READ, "payment anomalies, orders, credit debts, the ledger check"),
    Permission(PAYMENTS_MANAGE, "resolve payment anomalies, act on them, refund by hand"),
    Permission(RECONCILIATION_READ, "reconciliation runs and findings, their export"),
    Permission(RECONCILIATION_MANAGE, "start reconciliation runs, upload bills, resolve findings"),
    Permission(CONSISTENCY_CHECK, "run and read the data consistency checks"),
    Permission(LOGS_READ, "look up the record of calls to outside systems"),
    Permission(AUDIT_READ, "search the audit log and verify its chain"),
    Permission(OUTPATIENT_SCHEDULE, "suspend doctors' clinics and follow the suspensions", DEPARTMENT),
    Permission(CONTENT_EDIT, "draft, edit, submit and restore the WeChat site's pages, notices and menus"),
    Permission(CONTENT_PUBLISH, "review (approve or reject) and unpublish site content; never one's own version"),
    Permission(FEEDBACK_FILE, "file a feedback ticket for IT"),
    Permission(FEEDBACK_FOLLOW, "list, read, comment on and move feedback tickets: one's own (all: feedback.work)"),
    Permission(FEEDBACK_WORK, "work every feedback ticket: see all, assign, move through to closed"),
    Permission(FAQ_READ, "read and search the usage guide (FAQ)", back_office=False),
    Permission(FAQ_EDIT, "write, change and delete the usage guide's entries"),
    Permission(ACCESS_MANAGE, "roles, their permissions and who holds them; accounts"),
    Permission(ACCESS_GRANT_ANY, "grant permissions one does not hold oneself (the root of trust)"),
)
BY_NAME = {p.name: p for p in CATALOGUE}
NAMES = frozenset(BY_NAME)
BACK_OFFICE = frozenset(p.name for p in CATALOGUE if p.back_office)
# The amr values of a session signed in with a password and a second factor (hospital.auth.admin_accounts).
SECOND_FACTORS = frozenset({"otp", "recovery_code"})


def usable(held: frozenset[str], auth_method, policy: str) -> frozenset[str]:
    """The permissions a session may use of those its user holds: without a second factor
    (a WeChat session) no back-office permission, unless the policy is "any"."""
    if policy == "any" or SECOND_FACTORS & set(auth_method or ()):
        return held
    return held - BACK_OFFICE

# role -> (label, permissions). The matrix the routes had as fixed role lists, now as data.
SEEDED: dict[str, tuple[str, frozenset[str]]] = {
    R.PATIENT: ("Patient", frozenset({SESSION_SELF, RESCUE_CALL, OUTPATIENT_BOOK, PAYMENTS_PAY, LINKS_OWN})),
    R.STAFF: ("Ambulance crew", frozenset({SESSION_SELF, RESCUE_CREW, STAFF_DUTY, FAQ_READ})),
    R.DISPATCHER: ("Dispatcher (120)", frozenset({SESSION_SELF, RESCUE_DISPATCH, RESCUE_CONSOLE, FAQ_READ})),
    R.ED_NURSE: ("Emergency department nurse", frozenset({SESSION_SELF, RESCUE_CONSOLE, STAFF_DUTY, RESCUE_RECORDS,
                                                           FAQ_READ})),
    R.FRONT_DESK: ("Front desk", frozenset({SESSION_SELF, FEEDBACK_FILE, FEEDBACK_FOLLOW, FAQ_READ, FAQ_EDIT})),
    R.FINANCE: ("Finance", frozenset({SESSION_SELF, PAYMENTS_READ, PAYMENTS_MANAGE, RECONCILIATION_READ,
                                      RECONCILIATION_MANAGE, CONSISTENCY_CHECK, FAQ_READ, FAQ_EDIT})),
    R.IT_ADMIN: ("IT administration", frozenset({SESSION_SELF, RESCUE_RECORDS, CONSISTENCY_CHECK, LOGS_READ,
                                                 AUDIT_READ, CONTENT_EDIT, CONTENT_PUBLISH, FEEDBACK_FOLLOW,
                                                 FEEDBACK_WORK, FAQ_READ})),
    R.SUPER_ADMIN: ("Super admin", frozenset({SESSION_SELF, RESCUE_RECORDS, PAYMENTS_READ, PAYMENTS_MANAGE,
                                              RECONCILIATION_READ, RECONCILIATION_MANAGE, CONSISTENCY_CHECK,
                                              LOGS_READ, AUDIT_READ, OUTPATIENT_SCHEDULE, CONTENT_EDIT,
                                              CONTENT_PUBLISH, FEEDBACK_FILE, FEEDBACK_FOLLOW, FEEDBACK_WORK,
                                              FAQ_READ, FAQ_EDIT, ACCESS_MANAGE, ACCESS_GRANT_ANY})),
}
# What the super admin role keeps whatever is edited: without them nobody could manage access.
SUPER_ADMIN_CORE = frozenset({ACCESS_MANAGE, ACCESS_GRANT_ANY})


class Grant(NamedTuple):
    """One permission as a user holds it through one role: department None is hospital-wide."""
    role: str
    permission: str
    department: str | None


def departments(grants, permission: str) -> frozenset[str] | None:
    """Where a user may use `permission`: None for everywhere (some role gives it unscoped),
    else the departments of the scoped roles giving it (empty when nothing gives it)."""
    scoped = set()
    for grant in grants:
        if grant.permission == permission:
            if grant.department is None:
                return None
            scoped.add(grant.department)
    return frozenset(scoped)


def ungrantable(granter: frozenset[str], wanted) -> list[str]:
    """The permissions among `wanted` that someone holding `granter` may not give: those they
    do not hold themselves, unless they hold access.grant_any."""
    if ACCESS_GRANT_ANY in granter:
        return []
    return sorted(set(wanted) - granter)


def scope_refusal(permissions) -> str | None:
    """Why a role with these permissions cannot be narrowed to a department, or None."""
    wide = sorted(p for p in permissions if p in BY_NAME and BY_NAME[p].reach == HOSPITAL)
    if wide:
        return f"{wide[0]} is hospital-wide work: a role holding it cannot be limited to a department"
    return None
