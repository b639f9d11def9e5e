"""Every setting the layer reads, declared once, and the groups each function needs.

A function names its groups when its app is made (`create_app("rescue_api", needs=...)`),
and the groups are checked there, at import: a missing or malformed setting stops the
function's init with one message naming every problem, instead of surfacing as the first
failed alert. Code reads a setting through its declaration (`settings.LIVE_API_ENDPOINT.get()`),
typed, from the environment as it is now, so nothing here is cached.

Plain declarations rather than pydantic models: the queue and schedule functions never load
pydantic otherwise, and importing it would add a third of boto3's import time to every one of
their cold starts for checks this small (present, an integer, an http(s) URL, an ARN, one of a
few names).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit


def _problem_of_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http(s) URL"
    return None


def _problem_of_arn(value: str) -> str | None:
    if not value.startswith("arn:") or value.count(":") < 5:
        return "must be an ARN (arn:partition:service:region:account:resource)"
    return None


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the function cannot start work."""


def _problem_of_factory(value: str) -> str | None:
    module, _, factory = value.partition(":")
    if not (module and factory.isidentifier() and all(part.isidentifier() for part in module.split("."))):
        return "must be package.module:factory"
    return None


_KINDS = {"text": lambda value: None, "url": _problem_of_url, "arn": _problem_of_arn, "factory": _problem_of_factory}


@dataclass(frozen=True)
class Text:
    """A string setting; `kind` is "text", "url", "arn" or "factory" (package.module:callable);
    `choices` limits it to a few names."""

    name: str
    what: str
    kind: str = "text"
    default: str | None = None
    required: bool = True
    choices: tuple[str, ...] = ()

    def problem(self) -> str | None:
        raw = os.environ.get(self.name) or self.default
        if not raw:
            return f"{self.name} is not set ({self.what})" if self.required else None
        if self.choices and raw not in self.choices:
            return f"{self.name}={raw!r} must be one of {', '.join(self.choices)} ({self.what})"
        found = _KINDS[self.kind](raw)
        return f"{self.name}={_shown(raw)} {found} ({self.what})" if found else None

    def get(self) -> str:
        found = self.problem()
        if found:
            raise ConfigError(found)
        value = os.environ.get(self.name) or self.default
        if value is None:
            raise ConfigError(f"{self.name} is not set ({self.what})")
        return value

    def get_optional(self) -> str | None:
        """The value, or None where the setting may be left unset."""
        return self.get() if (os.environ.get(self.name) or self.default) else None


@dataclass(frozen=True)
class Number:
    """A whole-number setting with a default and a lower (and perhaps an upper) bound."""

    name: str
    what: str
    default: int
    minimum: int = 0
    maximum: int | None = None

    def problem(self) -> str | None:
        raw = os.environ.get(self.name)
        if raw in (None, ""):
            return None
        try:
            value = int(raw)
        except ValueError:
            return f"{self.name}={raw!r} must be a whole number ({self.what})"
        if value < self.minimum:
            return f"{self.name}={value} must be at least {self.minimum} ({self.what})"
        if self.maximum is not None and value > self.maximum:
            return f"{self.name}={value} must be at most {self.maximum} ({self.what})"
        return None

    def get(self) -> int:
        found = self.problem()
        if found:
            raise ConfigError(found)
        raw = os.environ.get(self.name)
        return int(raw) if raw else self.default


def _shown(raw: str) -> str:
    """Enough of a malformed value to recognise it; a secret's ARN or a URL is not secret."""
    return repr(raw if len(raw) <= 80 else raw[:77] + "...")


Setting = Text | Number


@dataclass(frozen=True)
class Group:
    """Settings that one capability needs together; `one_of` lists sets of which one must be set."""

    name: str
    settings: tuple[Setting, ...]
    one_of: tuple[tuple[Text, ...], ...] = ()

    def problems(self) -> list[str]:
        found = [problem for setting in self.settings if (problem := setting.problem())]
        for choice in self.one_of:
            if not any(os.environ.get(setting.name) for setting in choice):
                found.append(f"set {' or '.join(setting.name for setting in choice)} ({self.name})")
        return found


# ---- the database ----------------------------------------------------------------------------
DATABASE_URL = Text("DATABASE_URL", "the database, for local runs and tests", required=False)
DATABASE_SECRET_ARN = Text("DATABASE_SECRET_ARN", "secret holding the database URL", "arn", required=False)
DB_POOL_SIZE = Number("DB_POOL_SIZE", "connections per container", 1, minimum=1)
DB_CONNECT_TIMEOUT = Number("DB_CONNECT_TIMEOUT", "seconds to connect to the database", 3, minimum=1)
DB_READ_TIMEOUT = Number("DB_READ_TIMEOUT", "seconds to wait for a database answer", 5, minimum=1)
DB_PING_AFTER = Number("DB_PING_AFTER", "seconds idle before a pooled connection is pinged", 10)
DATABASE = Group("database", (DATABASE_URL, DATABASE_SECRET_ARN, DB_POOL_SIZE, DB_CONNECT_TIMEOUT,
                              DB_READ_TIMEOUT, DB_PING_AFTER), one_of=((DATABASE_URL, DATABASE_SECRET_ARN),))

# ---- sign-in sessions ----------------------------------------------------------------------------
APP_SECRET_ARN = Text("APP_SECRET_ARN", "secret holding the session signing key", "arn")
SESSION_TTL_SECONDS = Number("SESSION_TTL_SECONDS", "access token lifetime", 900, minimum=60)
REFRESH_TTL_DAYS = Number("REFRESH_TTL_DAYS", "refresh token lifetime", 30, minimum=1)
STANDING_CACHE_SECONDS = Number("STANDING_CACHE_SECONDS", "how long a user's roles are cached", 5)
# Read by every authenticated call of a back-office session (hospital.auth.admin_activity).
ADMIN_IDLE_MINUTES = Number("ADMIN_IDLE_MINUTES", "minutes without a call before a back-office session ends", 30,
                            minimum=2)
# second_factor: back-office permissions only in sessions signed in with a password and a second
# factor (hospital.auth.permissions.BACK_OFFICE); any: WeChat sessions carry them too.
BACK_OFFICE_SIGN_IN = Text("BACK_OFFICE_SIGN_IN", "which sessions carry back-office permissions",
                           default="second_factor", choices=("second_factor", "any"))
SESSIONS = Group("sessions", (APP_SECRET_ARN, SESSION_TTL_SECONDS, REFRESH_TTL_DAYS, STANDING_CACHE_SECONDS,
                              ADMIN_IDLE_MINUTES, BACK_OFFICE_SIGN_IN))

# ---- back-office sign-in (password and TOTP) -------------------------------------------------------
ADMIN_LOCKOUT_ATTEMPTS = Number("ADMIN_LOCKOUT_ATTEMPTS", "consecutive failed sign-in steps that lock an account",
                                5, minimum=1)
ADMIN_LOCKOUT_MINUTES = Number("ADMIN_LOCKOUT_MINUTES", "minutes a locked back-office account stays locked", 15,
                               minimum=1)
ADMIN_SIGN_IN = Group("admin sign-in", (ADMIN_LOCKOUT_ATTEMPTS, ADMIN_LOCKOUT_MINUTES))

# ---- personal data at rest -------------------------------------------------------------------------
PII_KEY_ID = Text("PII_KEY_ID", "KMS key that wraps the personal-data keys")
PII_CIPHER = Text("PII_CIPHER", "cipher for new personal data", default="AES-GCM", choices=("AES-GCM", "SM4-GCM"))
DATA_KEY_MAX_AGE = Number("DATA_KEY_MAX_AGE", "seconds one data key encrypts before a new one", 3600, minimum=1)
LOOKUP_HASH_SECRET_ARN = Text("LOOKUP_HASH_SECRET_ARN", "secret holding the lookup-hash key", "arn")
PERSONAL_DATA = Group("personal data", (PII_KEY_ID, PII_CIPHER, DATA_KEY_MAX_AGE, LOOKUP_HASH_SECRET_ARN))

# ---- WeChat (sign-in, subscription messages) ----------------------------------------------------------
WECHAT_API_BASE = Text("WECHAT_API_BASE", "WeChat's API", "url", default="https://api.weixin.qq.com")
WECHAT_SECRET_ARN = Text("WECHAT_SECRET_ARN", "secret holding the WeChat app secrets", "arn")
WECHAT_MINI_PROGRAM_APP_ID = Text("WECHAT_MINI_PROGRAM_APP_ID", "the mini-program's app id")
WECHAT_OFFICIAL_ACCOUNT_APP_ID = Text("WECHAT_OFFICIAL_ACCOUNT_APP_ID", "the service account's app id")
WECHAT_ALERT_TEMPLATE_ID = Text("WECHAT_ALERT_TEMPLATE_ID", "subscription message template of staff alerts")
WECHAT = Group("wechat", (WECHAT_API_BASE, WECHAT_SECRET_ARN, WECHAT_MINI_PROGRAM_APP_ID,
                          WECHAT_OFFICIAL_ACCOUNT_APP_ID, WECHAT_ALERT_TEMPLATE_ID))

# ---- queues the outbox relays to ----------------------------------------------------------------------
RESCUE_EVENTS_QUEUE_URL = Text("RESCUE_EVENTS_QUEUE_URL", "queue of new rescue cases", "url")
TRIAGE_QUEUE_URL = Text("TRIAGE_QUEUE_URL", "queue of rescue nodes for ED triage", "url")
NOTIFICATIONS_QUEUE_URL = Text("NOTIFICATIONS_QUEUE_URL", "queue of staff alerts", "url")
PAYMENT_EVENTS_QUEUE_URL = Text("PAYMENT_EVENTS_QUEUE_URL", "queue of paid orders", "url")
REFUNDS_QUEUE_URL = Text("REFUNDS_QUEUE_URL", "queue of refunds to send", "url")
SQS_RETRY_BASE_SECONDS = Number("SQS_RETRY_BASE_SECONDS", "first retry delay of a failed message", 5, minimum=1)
OUTPATIENT_EVENTS_QUEUE_URL = Text("OUTPATIENT_EVENTS_QUEUE_URL", "queue of suspensions and the registrations in them",
                                   "url")
QUEUES = Group("queues", (RESCUE_EVENTS_QUEUE_URL, TRIAGE_QUEUE_URL, NOTIFICATIONS_QUEUE_URL,
                          PAYMENT_EVENTS_QUEUE_URL, REFUNDS_QUEUE_URL, OUTPATIENT_EVENTS_QUEUE_URL,
                          SQS_RETRY_BASE_SECONDS))

# ---- dead-letter queues, whose depth the outbox sweeper publishes (hospital.queue_depths) ---------------------------
RESCUE_EVENTS_DLQ_URL = Text("RESCUE_EVENTS_DLQ_URL", "dead-letter queue of the rescue-events queue", "url")
TRIAGE_DLQ_URL = Text("TRIAGE_DLQ_URL", "dead-letter queue of the triage queue", "url")
NOTIFICATIONS_DLQ_URL = Text("NOTIFICATIONS_DLQ_URL", "dead-letter queue of the notifications queue", "url")
PAYMENT_EVENTS_DLQ_URL = Text("PAYMENT_EVENTS_DLQ_URL", "dead-letter queue of the payment-events queue", "url")
REFUNDS_DLQ_URL = Text("REFUNDS_DLQ_URL", "dead-letter queue of the refunds queue", "url")
OUTPATIENT_EVENTS_DLQ_URL = Text("OUTPATIENT_EVENTS_DLQ_URL", "dead-letter queue of the outpatient-events queue",
                                 "url")
DEAD_LETTER_QUEUES = Group("dead-letter queues", (RESCUE_EVENTS_DLQ_URL, TRIAGE_DLQ_URL, NOTIFICATIONS_DLQ_URL,
                                                  PAYMENT_EVENTS_DLQ_URL, REFUNDS_DLQ_URL, OUTPATIENT_EVENTS_DLQ_URL))

# ---- live pushes to the ED console and the patient's screen -----------------------------------------------
LIVE_API_ENDPOINT = Text("LIVE_API_ENDPOINT", "the WebSocket API's connection-management endpoint", "url")
LIVE = Group("live", (LIVE_API_ENDPOINT,))

# ---- the ED triage system -------------------------------------------------------------------------------
TRIAGE_API_BASE = Text("TRIAGE_API_BASE", "the ED triage system's API", "url")
TRIAGE_SECRET_ARN = Text("TRIAGE_SECRET_ARN", "secret holding the triage API key", "arn")
TRIAGE = Group("triage", (TRIAGE_API_BASE, TRIAGE_SECRET_ARN))

# ---- payments ----------------------------------------------------------------------------------------
WECHATPAY_API_BASE = Text("WECHATPAY_API_BASE", "WeChat Pay's API", "url")
WECHATPAY_MCHID = Text("WECHATPAY_MCHID", "the default merchant")
WECHATPAY_SECRET_ARN = Text("WECHATPAY_SECRET_ARN", "secret holding the merchants' keys", "arn")
WECHATPAY_TIMEOUT_SECONDS = Number("WECHATPAY_TIMEOUT_SECONDS", "seconds to wait for WeChat Pay", 5, minimum=1)
PAYMENT_NOTIFY_BASE_URL = Text("PAYMENT_NOTIFY_BASE_URL", "public base URL of the payment callbacks", "url")
PAYMENT_ORDER_TTL_SECONDS = Number("PAYMENT_ORDER_TTL_SECONDS", "how long an order may be paid", 900, minimum=60)
PAYMENT_QUERY_AFTER_SECONDS = Number("PAYMENT_QUERY_AFTER_SECONDS", "quiet time before an order is queried", 60)
PAYMENT_HIS_CONFIRM_WINDOW_SECONDS = Number("PAYMENT_HIS_CONFIRM_WINDOW_SECONDS",
                                            "how long the HIS confirmation is retried", 7200, minimum=60)
PAYMENTS = Group("payments", (WECHATPAY_API_BASE, WECHATPAY_MCHID, WECHATPAY_SECRET_ARN, WECHATPAY_TIMEOUT_SECONDS,
                              PAYMENT_NOTIFY_BASE_URL, PAYMENT_ORDER_TTL_SECONDS, PAYMENT_QUERY_AFTER_SECONDS,
                              PAYMENT_HIS_CONFIRM_WINDOW_SECONDS))

# ---- the watchdog of abnormal orders (AS1): how long each state may last before finance sees it ----------
# Each is longer than what the payment sweeper needs to settle the state itself, so the watchdog lists
# only what stayed stuck.
PAYMENT_WATCHDOG_UNSETTLED_SECONDS = Number(
    "PAYMENT_WATCHDOG_UNSETTLED_SECONDS", "how long past its expiry an order may still be paying", 1800, minimum=60)
PAYMENT_WATCHDOG_UNCONFIRMED_SECONDS = Number(
    "PAYMENT_WATCHDOG_UNCONFIRMED_SECONDS", "how long a paid order may wait for the HIS", 1800, minimum=60)
PAYMENT_WATCHDOG_HIS_FAILED_SECONDS = Number(
    "PAYMENT_WATCHDOG_HIS_FAILED_SECONDS", "how long an order the HIS failed may wait for its money to go back",
    3600, minimum=60)
PAYMENT_WATCHDOG_REFUND_UNSENT_SECONDS = Number(
    "PAYMENT_WATCHDOG_REFUND_UNSENT_SECONDS", "how long a refund may wait to reach its provider", 3600, minimum=60)
PAYMENT_WATCHDOG_REFUND_PROCESSING_SECONDS = Number(
    "PAYMENT_WATCHDOG_REFUND_PROCESSING_SECONDS", "how long a provider may process a refund", 259200, minimum=60)
PAYMENT_WATCHDOG = Group("payment watchdog", (
    PAYMENT_WATCHDOG_UNSETTLED_SECONDS, PAYMENT_WATCHDOG_UNCONFIRMED_SECONDS, PAYMENT_WATCHDOG_HIS_FAILED_SECONDS,
    PAYMENT_WATCHDOG_REFUND_UNSENT_SECONDS, PAYMENT_WATCHDOG_REFUND_PROCESSING_SECONDS))

# ---- the hospital information system, credit care, medical insurance ---------------------------------------------
HIS_API_BASE = Text("HIS_API_BASE", "the HIS's API", "url")
HIS_SECRET_ARN = Text("HIS_SECRET_ARN", "secret holding the HIS API key", "arn")
# A hospital's own HIS module ("package.module:factory"); unset means the gateway above.
HIS_ADAPTER = Text("HIS_ADAPTER", "a hospital's own HIS adapter", "factory", required=False)
HIS = Group("his", (HIS_API_BASE, HIS_SECRET_ARN, HIS_ADAPTER))
CREDIT_API_BASE = Text("CREDIT_API_BASE", "the credit-care provider's API", "url")
CREDIT_SECRET_ARN = Text("CREDIT_SECRET_ARN", "secret holding the credit provider's API key", "arn")
CREDIT = Group("credit care", (CREDIT_API_BASE, CREDIT_SECRET_ARN))

# ---- links to the hospital's other systems (hospital.links) -----------------------------------------
LINKS_SECRET_ARN = Text("LINKS_SECRET_ARN", "secret holding the keys shared with linked platforms", "arn")
LINK_TOKEN_MINUTES = Number("LINK_TOKEN_MINUTES", "minutes a link to another platform stays valid", 5, minimum=1,
                            maximum=10)
# The linked systems this deployment reaches; one left unset is shown to patients as unavailable.
IMAGING_API_BASE = Text("IMAGING_API_BASE", "the cloud-imaging platform (DICOMweb)", "url", required=False)
EXAM_API_BASE = Text("EXAM_API_BASE", "the physical-exam system", "url", required=False)
INTERNET_HOSPITAL_URL = Text("INTERNET_HOSPITAL_URL", "the internet hospital's doctor pages", "url", required=False)
IMAGING_SECRET_ARN = Text("IMAGING_SECRET_ARN", "secret holding the imaging platform's API key", "arn")
EXAM_SECRET_ARN = Text("EXAM_SECRET_ARN", "secret holding the exam system's API key and identity salt", "arn")
LINKS = Group("links", (LINKS_SECRET_ARN, LINK_TOKEN_MINUTES, IMAGING_API_BASE, EXAM_API_BASE, INTERNET_HOSPITAL_URL,
                        IMAGING_SECRET_ARN, EXAM_SECRET_ARN))
MED_INS_API_BASE = Text("MED_INS_API_BASE", "the medical-insurance platform's API", "url")
MED_INS_SECRET_ARN = Text("MED_INS_SECRET_ARN", "secret holding the insurance platform's API key", "arn")
MEDICAL_INSURANCE = Group("medical insurance", (MED_INS_API_BASE, MED_INS_SECRET_ARN))

# ---- outpatient services ---------------------------------------------------------------------------------------
MAX_CARDS_PER_USER = Number("MAX_CARDS_PER_USER", "hospital cards one WeChat user may hold bound", 5, minimum=1)
WECHAT_SUSPENSION_TEMPLATE_ID = Text("WECHAT_SUSPENSION_TEMPLATE_ID",
                                     "subscription message template of suspension notices to patients")
OUTPATIENT = Group("outpatient", (MAX_CARDS_PER_USER, WECHAT_SUSPENSION_TEMPLATE_ID))

# ---- the record of external calls (AS3) -------------------------------------------------------------------------
EXTERNAL_CALL_RETENTION_DAYS = Number("EXTERNAL_CALL_RETENTION_DAYS",
                                      "days the record of an external call is kept", 30, minimum=1)
EXTERNAL_CALLS = Group("external calls", (EXTERNAL_CALL_RETENTION_DAYS,))

GROUPS = (DATABASE, SESSIONS, ADMIN_SIGN_IN, PERSONAL_DATA, WECHAT, QUEUES, DEAD_LETTER_QUEUES, LIVE, TRIAGE, PAYMENTS,
          PAYMENT_WATCHDOG, HIS, CREDIT, MEDICAL_INSURANCE, OUTPATIENT, EXTERNAL_CALLS, LINKS)


def check(function: str, groups: tuple[Group, ...]) -> None:
    """Refuse to start `function` while a setting of its groups is missing or malformed."""
    found = [problem for group in groups for problem in group.problems()]
    if found:
        raise ConfigError(f"{function} cannot start: " + "; ".join(found))
