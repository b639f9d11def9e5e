"""The schema as SQLAlchemy Core tables. Alembic migrations create it; a test checks the
migrated database matches these definitions, so code and migrations cannot drift.

Times are naive UTC (DATETIME(6) on MySQL). Personal data lives only in `*_enc` columns
(envelope-encrypted, see hospital.crypto) with a keyed hash beside it where we look it up.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
Time = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Blob = sa.LargeBinary().with_variant(mysql.BLOB(), "mysql", "mariadb")
PublicId = sa.String(32)  # uuid4 hex: unguessable ids for anything a patient can name


def Exact(length: int):
    """A string compared byte for byte: MySQL's default collations fold case, which would
    make "Key-A" and "key-a" (or two openids) the same row."""
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def _pk() -> sa.Column:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


users = sa.Table(
    "users", metadata,
    _pk(),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("created_at", Time, nullable=False),
)

user_roles = sa.Table(
    "user_roles", metadata,
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("role", sa.String(32), sa.ForeignKey("roles.name"), primary_key=True),
    # The department the role is limited to (hospital.auth.permissions); NULL: hospital-wide.
    sa.Column("department", sa.String(32), nullable=True),
    sa.Column("granted_at", Time, nullable=False),
    sa.Column("granted_by", Id, nullable=True),
    sa.Index("ix_user_roles_role", "role"),
)

# Roles as sets of named permissions (AD2): seeded with the built-in ones, edited by the
# super admin. A built-in role cannot be deleted.
roles = sa.Table(
    "roles", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("builtin", sa.Boolean(), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("updated_by", Id, nullable=True),
)

role_permissions = sa.Table(
    "role_permissions", metadata,
    sa.Column("role", sa.String(32), sa.ForeignKey("roles.name"), primary_key=True),
    sa.Column("permission", sa.String(64), primary_key=True),
)

wechat_identities = sa.Table(
    "wechat_identities", metadata,
    _pk(),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("openid", Exact(128), nullable=False),
    # Kept hashed: it links a person across our apps, which needs their consent first (ER8).
    sa.Column("unionid_hash", sa.String(64), nullable=True, index=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("last_login_at", Time, nullable=False),
    sa.UniqueConstraint("app_id", "openid"),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    _pk(),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("family_id", sa.String(32), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("app_id", sa.String(64), nullable=True),  # the app the session was opened in
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("used_at", Time, nullable=True),
    sa.Column("revoked_at", Time, nullable=True),
    # How the user signed in (the token's "amr", space-separated), carried to each rotation.
    sa.Column("auth_method", sa.String(32), nullable=True),
)

# A back-office sign-in (username, password, TOTP) is one more way in for a user, who holds
# roles as before. Usernames are stored lowercased, so two spellings are one account.
admin_accounts = sa.Table(
    "admin_accounts", metadata,
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True, autoincrement=False),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),  # argon2id, PHC string
    sa.Column("password_changed_at", Time, nullable=False),
    sa.Column("must_change_password", sa.Boolean(), nullable=False),  # a temporary one set by an admin
    sa.Column("totp_secret_enc", Blob, nullable=True),  # hospital.crypto; set at enrolment
    sa.Column("totp_confirmed_at", Time, nullable=True),
    sa.Column("last_totp_step", sa.BigInteger(), nullable=True),  # a step's code is accepted once
    sa.Column("failed_attempts", sa.Integer(), nullable=False),
    sa.Column("locked_until", Time, nullable=True),
    sa.Column("challenge_id", sa.String(32), nullable=True),  # the one sign-in challenge that may be used
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", Id, nullable=True),
)

admin_recovery_codes = sa.Table(
    "admin_recovery_codes", metadata,
    _pk(),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),  # keyed hash (hospital.crypto.lookup_hash)
    sa.Column("created_at", Time, nullable=False),
    sa.Column("used_at", Time, nullable=True),
    sa.UniqueConstraint("user_id", "code_hash"),
)

# Failed sign-ins under usernames that have no account, counted and locked as an account's
# are: a lock-out must not tell which usernames exist. Keyed by the username's lookup hash.
admin_unknown_usernames = sa.Table(
    "admin_unknown_usernames", metadata,
    sa.Column("name_hash", sa.String(64), primary_key=True),
    sa.Column("failed_attempts", sa.Integer(), nullable=False),
    sa.Column("locked_until", Time, nullable=True),
    sa.Column("updated_at", Time, nullable=False),
)

# The last call of each back-office session (a refresh-token family), for the idle timeout.
admin_session_activity = sa.Table(
    "admin_session_activity", metadata,
    sa.Column("family_id", sa.String(32), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("last_seen_at", Time, nullable=False),
)

wechat_access_tokens = sa.Table(
    "wechat_access_tokens", metadata,
    sa.Column("app_id", sa.String(64), primary_key=True),
    sa.Column("token_enc", Blob, nullable=True),
    sa.Column("expires_at", Time, nullable=True),
    # A container that is refreshing holds the lease, so the others don't all call WeChat.
    sa.Column("lease_until", Time, nullable=True),
    sa.Column("updated_at", Time, nullable=False),
)

outbox = sa.Table(
    "outbox", metadata,
    _pk(),
    sa.Column("destination", sa.String(64), nullable=False),
    sa.Column("message_type", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("correlation_id", sa.String(128), nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("sent_at", Time, nullable=True),
    sa.Column("claimed_until", Time, nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Index("ix_outbox_pending", "sent_at", "created_at"),
)

audit_log = sa.Table(
    "audit_log", metadata,
    _pk(),
    sa.Column("at", Time, nullable=False),
    sa.Column("actor_user_id", Id, nullable=True),
    sa.Column("actor_roles", sa.String(200), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(64), nullable=True),
    sa.Column("target_id", sa.String(64), nullable=True),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("details", sa.JSON(), nullable=True),
    sa.Column("correlation_id", sa.String(128), nullable=True),
    sa.Index("ix_audit_log_actor_at", "actor_user_id", "at"),
)

patient_cards = sa.Table(
    "patient_cards", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("his_patient_id", sa.String(64), nullable=False),
    sa.Column("card_no_enc", Blob, nullable=False),
    sa.Column("card_no_hash", sa.String(64), nullable=False),
    # The card's hash while bound, else NULL: a card is bound to one WeChat user at a time.
    sa.Column("bound_card_hash", sa.String(64), nullable=True, unique=True),
    # What the HIS archive was found by (bound through the outpatient service): kept
    # encrypted, the ID number also as a lookup hash.
    sa.Column("name_enc", Blob, nullable=True),
    sa.Column("id_no_enc", Blob, nullable=True),
    sa.Column("id_no_hash", sa.String(64), nullable=True, index=True),
    sa.Column("phone_enc", Blob, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("unbound_at", Time, nullable=True),
    sa.UniqueConstraint("user_id", "card_no_hash"),
)

rescue_persons = sa.Table(
    "rescue_persons", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("owner_user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("name_enc", Blob, nullable=False),
    sa.Column("phone_enc", Blob, nullable=True),
    sa.Column("phone_hash", sa.String(64), nullable=True),
    sa.Column("relation", sa.String(32), nullable=True),
    sa.Column("notes_enc", Blob, nullable=True),  # allergies, conditions: what a crew must know
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("deleted_at", Time, nullable=True),
)

rescue_cases = sa.Table(
    "rescue_cases", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("patient_user_id", Id, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("card_id", PublicId, sa.ForeignKey("patient_cards.id"), nullable=True),
    sa.Column("rescue_person_id", PublicId, sa.ForeignKey("rescue_persons.id"), nullable=True),
    sa.Column("location_enc", Blob, nullable=True),  # a phone call may come without coordinates
    sa.Column("coord_system", sa.String(8), nullable=True),
    sa.Column("address_enc", Blob, nullable=True),
    sa.Column("complaint_enc", Blob, nullable=True),
    sa.Column("caller_phone_enc", Blob, nullable=True),  # phone intake: the number that called 120
    sa.Column("intake_user_id", Id, nullable=True),  # the dispatcher who entered a phone call
    # PIPL: processing to protect life in an emergency needs no consent; we record the basis.
    sa.Column("legal_basis", sa.String(32), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("idempotency_key", Exact(64), nullable=True),
    # Delivery to the ED triage system (ER7): pending, delivered, retrying, failed, rejected, no_location.
    sa.Column("triage_status", sa.String(16), nullable=True),
    sa.Column("triage_version", sa.BigInteger(), nullable=True),
    sa.Column("triage_ref", sa.String(64), nullable=True),
    sa.Column("triage_attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("triage_error", sa.String(200), nullable=True),
    sa.Column("triage_updated_at", Time, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("patient_user_id", "idempotency_key"),
    sa.Index("ix_rescue_cases_patient_created", "patient_user_id", "created_at"),
    # The ED consoles' open cases (not completed or cancelled), oldest first, read every few seconds.
    sa.Index("ix_rescue_cases_status_created", "status", "created_at"),
)

rescue_events = sa.Table(
    "rescue_events", metadata,
    _pk(),
    sa.Column("case_id", PublicId, sa.ForeignKey("rescue_cases.id"), nullable=False),
    sa.Column("node", sa.String(32), nullable=False),
    sa.Column("occurred_at", Time, nullable=False),
    sa.Column("actor_user_id", Id, nullable=True),
    sa.Column("actor_role", sa.String(32), nullable=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("details", sa.JSON(), nullable=True),
    # A redelivered message carries the same key, so its node is written once.
    sa.Column("dedupe_key", Exact(96), nullable=True),
    sa.UniqueConstraint("case_id", "dedupe_key"),
    sa.Index("ix_rescue_events_case_id", "case_id", "id"),
)

rescue_locations = sa.Table(
    "rescue_locations", metadata,
    _pk(),
    sa.Column("case_id", PublicId, sa.ForeignKey("rescue_cases.id"), nullable=False),
    sa.Column("location_enc", Blob, nullable=False),
    sa.Column("coord_system", sa.String(8), nullable=False),
    sa.Column("address_enc", Blob, nullable=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("reported_at", Time, nullable=False),
    sa.Index("ix_rescue_locations_case_id", "case_id", "id"),
)

vehicles = sa.Table(
    "vehicles", metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # call sign, e.g. "120-07"
    sa.Column("plate", sa.String(16), nullable=False, unique=True),
    # available, dispatched, en_route, on_scene, transporting, at_hospital, returning, out_of_service
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("dropped_points", sa.Integer(), nullable=False, server_default="0"),  # rejected GPS fixes
    sa.Column("updated_at", Time, nullable=False),
)

vehicle_positions = sa.Table(
    "vehicle_positions", metadata,
    _pk(),
    sa.Column("vehicle_id", sa.String(32), sa.ForeignKey("vehicles.id"), nullable=False),
    sa.Column("dispatch_id", PublicId, sa.ForeignKey("dispatches.id"), nullable=True),
    # {"latitude", "longitude"} in GCJ-02 (converted once, on arrival), encrypted: a track
    # leads to the patient's door.
    sa.Column("location_enc", Blob, nullable=False),
    sa.Column("reported_coord_system", sa.String(8), nullable=False),
    sa.Column("accuracy_m", sa.Float(), nullable=True),
    sa.Column("speed_mps", sa.Float(), nullable=True),
    sa.Column("heading", sa.Float(), nullable=True),
    sa.Column("device_time", Time, nullable=False),
    sa.Column("server_time", Time, nullable=False),
    sa.Index("ix_vehicle_positions_vehicle_time", "vehicle_id", "device_time"),
)

dispatches = sa.Table(
    "dispatches", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("case_id", PublicId, sa.ForeignKey("rescue_cases.id"), nullable=False, index=True),
    sa.Column("vehicle_id", sa.String(32), sa.ForeignKey("vehicles.id"), nullable=False, index=True),
    sa.Column("dispatcher_user_id", Id, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("closed_at", Time, nullable=True),  # back in service
)

dispatch_crew = sa.Table(
    "dispatch_crew", metadata,
    sa.Column("dispatch_id", PublicId, sa.ForeignKey("dispatches.id"), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
)

guidance_sessions = sa.Table(
    "guidance_sessions", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("case_id", PublicId, sa.ForeignKey("rescue_cases.id"), nullable=False, index=True),
    sa.Column("mode", sa.String(8), nullable=False),  # voice, video, phone
    sa.Column("started_by", Id, nullable=False),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("ended_by", Id, nullable=True),
    sa.Column("ended_at", Time, nullable=True),
    sa.Column("recording_ref", sa.String(256), nullable=True),  # where the recording is kept, not the recording
)

live_connections = sa.Table(
    "live_connections", metadata,
    sa.Column("connection_id", Exact(128), primary_key=True),
    sa.Column("user_id", Id, nullable=False),
    # "ed_console" for the emergency department's screens, "case:<id>" for a patient
    # following their own case; NULL until a patient subscribes.
    sa.Column("channel", sa.String(64), nullable=True, index=True),
    sa.Column("connected_at", Time, nullable=False),
    # The right to the connection ends with the session token it was opened with (renewable),
    # and with that session's family when it is revoked.
    sa.Column("expires_at", Time, nullable=True),
    sa.Column("session_id", sa.String(32), nullable=True, index=True),
    sa.Index("ix_live_connections_user", "user_id"),
)

on_duty = sa.Table(
    "on_duty", metadata,
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("since", Time, nullable=False),
)

consents = sa.Table(
    "consents", metadata,
    _pk(),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(48), nullable=False),  # e.g. rescue_profile_reuse
    sa.Column("granted_at", Time, nullable=False),
    sa.Column("granted_via", sa.String(64), nullable=False),  # the app the patient consented in
    sa.Column("details", sa.JSON(), nullable=True),
    sa.Column("withdrawn_at", Time, nullable=True),
)


# ---- payments: orders, refunds, the ledger, abnormal notifications -------------------

payment_orders = sa.Table(
    "payment_orders", metadata,
    # Also the out_trade_no at WeChat Pay: 32 hex characters, unguessable.
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),          # registration, outpatient
    sa.Column("his_ref", Exact(64), nullable=False),           # the HIS bill this order pays
    sa.Column("his_patient_id", sa.String(64), nullable=False),
    sa.Column("description", sa.String(128), nullable=False),
    sa.Column("amount_fen", sa.BigInteger(), nullable=False),
    # The HIS bill while this order is open (not closed, not refunded), else NULL: a unique key
    # on it means one bill never has two open orders, so a patient cannot pay twice.
    sa.Column("open_his_ref", Exact(64), nullable=True),
    sa.Column("channel", sa.String(16), nullable=True),        # wechat, med_ins, credit
    sa.Column("mchid", sa.String(32), nullable=True),
    sa.Column("appid", sa.String(64), nullable=True),
    sa.Column("api_version", sa.String(4), nullable=True),     # v3, v2
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("prepay_id", sa.String(64), nullable=True),
    sa.Column("expires_at", Time, nullable=False),            # unpaid after this: closed
    sa.Column("transaction_id", sa.String(64), nullable=True),
    sa.Column("paid_at", Time, nullable=True),
    sa.Column("paid_fen", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("refunded_fen", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("his_confirmed_at", Time, nullable=True),
    sa.Column("his_attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("his_error", sa.String(200), nullable=True),
    # What the HIS answered when it confirmed: receipt_no; for a registration reg_no, visit_no.
    sa.Column("his_confirmation", sa.JSON(), nullable=True),
    sa.Column("closed_reason", sa.String(32), nullable=True),
    sa.Column("checked_at", Time, nullable=True),              # last query at the provider
    # Medical-insurance mixed payment (OP1): the split the insurance platform settled.
    sa.Column("mix_trade_no", sa.String(64), nullable=True),
    sa.Column("ins_pay_ord_id", sa.String(64), nullable=True),
    sa.Column("ins_fund_fen", sa.BigInteger(), nullable=True),     # pooled fund (统筹)
    sa.Column("ins_account_fen", sa.BigInteger(), nullable=True),  # personal account (个账)
    sa.Column("ins_other_fen", sa.BigInteger(), nullable=True),
    sa.Column("cash_fen", sa.BigInteger(), nullable=True),         # self-paid through WeChat Pay
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("kind", "open_his_ref"),
    sa.Index("ix_payment_orders_user_created", "user_id", "created_at"),
    sa.Index("ix_payment_orders_status_updated", "status", "updated_at"),
)

payment_refunds = sa.Table(
    "payment_refunds", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("order_id", PublicId, sa.ForeignKey("payment_orders.id"), nullable=False, index=True),
    # Derived from the order and the reason, never from a clock or a random number: a retry
    # sends the same number and the provider refunds once.
    sa.Column("out_refund_no", Exact(64), nullable=False, unique=True),
    sa.Column("route", sa.String(16), nullable=False),         # wechat, med_ins, credit
    sa.Column("amount_fen", sa.BigInteger(), nullable=False),
    sa.Column("reason", sa.String(48), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),        # requested, processing, succeeded, closed, abnormal
    sa.Column("provider_refund_id", sa.String(64), nullable=True),
    sa.Column("requested_by", Id, nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(200), nullable=True),
    # A mixed (insurance) refund has steps, each done once: the cash part at WeChat, the
    # insurance part at the insurance platform, then the notice to WeChat (OP3).
    sa.Column("cash_fen", sa.BigInteger(), nullable=True),
    sa.Column("insurance_fen", sa.BigInteger(), nullable=True),
    sa.Column("cash_done_at", Time, nullable=True),
    sa.Column("insurance_done_at", Time, nullable=True),
    sa.Column("notified_at", Time, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("finished_at", Time, nullable=True),
    sa.Index("ix_payment_refunds_status_updated", "status", "updated_at"),
)

# Every money movement, never updated or deleted (a trigger refuses it on MySQL/MariaDB).
# amount_fen > 0: received from the patient; < 0: paid back.
ledger_entries = sa.Table(
    "ledger_entries", metadata,
    _pk(),
    sa.Column("order_id", PublicId, sa.ForeignKey("payment_orders.id"), nullable=False, index=True),
    sa.Column("refund_id", PublicId, nullable=True),
    sa.Column("entry_type", sa.String(16), nullable=False),    # payment, refund
    sa.Column("channel", sa.String(24), nullable=False),       # wechat, med_ins_fund, med_ins_account, credit ...
    sa.Column("amount_fen", sa.BigInteger(), nullable=False),
    sa.Column("provider_ref", sa.String(64), nullable=True),
    sa.Column("dedupe_key", Exact(128), nullable=False, unique=True),
    sa.Column("occurred_at", Time, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

# Verified notifications that do not fit an order (unknown order, other amount or merchant,
# paid after closing, abnormal refund): acknowledged to the platform, kept here for finance.
payment_anomalies = sa.Table(
    "payment_anomalies", metadata,
    _pk(),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("order_id", sa.String(64), nullable=True),
    sa.Column("out_refund_no", sa.String(64), nullable=True),
    sa.Column("provider_ref", sa.String(64), nullable=True),
    sa.Column("amount_fen", sa.BigInteger(), nullable=True),
    sa.Column("details", sa.JSON(), nullable=True),
    sa.Column("dedupe_key", Exact(160), nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("resolved_at", Time, nullable=True),
    sa.Column("resolved_by", Id, nullable=True),
    sa.Column("resolution", sa.String(200), nullable=True),
    sa.Index("ix_payment_anomalies_open", "resolved_at", "created_at"),
    sa.Index("ix_payment_anomalies_order_id", "order_id"),
    sa.Index("ix_payment_anomalies_out_refund_no", "out_refund_no"),
)

# ---- credit care (OC1, OC2): pay after treatment, through a credit provider ---------------------

credit_enrolments = sa.Table(
    "credit_enrolments", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    # The user while enrolled (not withdrawn), else NULL: one live enrolment per patient.
    sa.Column("active_user_id", Id, nullable=True, unique=True),
    sa.Column("provider_enrolment_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),        # active, withdrawn
    sa.Column("limit_fen", sa.BigInteger(), nullable=False),
    sa.Column("consent_id", Id, sa.ForeignKey("consents.id"), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("withdrawn_at", Time, nullable=True),
)

# The patient's debt for an order paid on credit: open until the provider says it was settled.
credit_debts = sa.Table(
    "credit_debts", metadata,
    sa.Column("order_id", PublicId, sa.ForeignKey("payment_orders.id"), primary_key=True),
    sa.Column("enrolment_id", PublicId, sa.ForeignKey("credit_enrolments.id"), nullable=False, index=True),
    sa.Column("user_id", Id, nullable=False, index=True),
    sa.Column("charge_id", sa.String(64), nullable=False),
    sa.Column("amount_fen", sa.BigInteger(), nullable=False),
    sa.Column("reversed_fen", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),        # open, overdue, settled, reversed
    sa.Column("due_date", sa.Date(), nullable=True),
    sa.Column("settled_by", sa.String(16), nullable=True),     # patient, provider
    sa.Column("settled_at", Time, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_credit_debts_status", "status", "updated_at"),
)

# An outpatient registration booked on the service account: a slot held at the HIS, paid by
# an order for the hold's HIS bill, confirmed by the HIS (reg_no), perhaps cancelled later.
# The HIS's codes compare byte for byte (Exact), as they do in the HIS and in Python.
registrations = sa.Table(
    "registrations", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("card_id", PublicId, sa.ForeignKey("patient_cards.id"), nullable=False),
    sa.Column("his_patient_id", sa.String(64), nullable=False),
    sa.Column("slot_id", Exact(64), nullable=False),
    sa.Column("dept_code", sa.String(32), nullable=False),
    sa.Column("dept_name", sa.String(64), nullable=False),
    sa.Column("doctor_code", Exact(32), nullable=False),
    sa.Column("doctor_name", sa.String(64), nullable=False),
    sa.Column("visit_date", sa.Date(), nullable=False),
    sa.Column("start_time", sa.String(5), nullable=False),     # HH:MM, Asia/Shanghai
    sa.Column("end_time", sa.String(5), nullable=False),
    sa.Column("fee_fen", sa.BigInteger(), nullable=False),
    # The HIS's hold and the order paying its bill, once the hold was taken.
    sa.Column("hold_id", Exact(64), nullable=True, unique=True),
    sa.Column("hold_expires_at", Time, nullable=True),
    sa.Column("order_id", PublicId, sa.ForeignKey("payment_orders.id"), nullable=True, unique=True),
    sa.Column("status", sa.String(20), nullable=False),       # see hospital.outpatient.registration_rules
    sa.Column("reg_no", sa.String(64), nullable=True),
    sa.Column("visit_no", sa.Integer(), nullable=True),
    sa.Column("failure", sa.String(200), nullable=True),      # why the HIS could not confirm
    sa.Column("cancel_source", sa.String(16), nullable=True),  # patient, suspension
    sa.Column("cancel_reason", sa.String(200), nullable=True),
    sa.Column("refund_id", PublicId, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_registrations_status", "status", "updated_at"),
    sa.Index("ix_registrations_doctor_day", "doctor_code", "visit_date"),
    sa.Index("ix_registrations_card_doctor_day", "card_id", "doctor_code", "visit_date"),
)

# Every step of a registration, append-only: held, paid, booked, failed, expired, the
# cancellation's window check, HIS risk check, HIS cancel and refund.
registration_steps = sa.Table(
    "registration_steps", metadata,
    _pk(),
    sa.Column("registration_id", PublicId, sa.ForeignKey("registrations.id"), nullable=False, index=True),
    sa.Column("step", sa.String(32), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("actor_user_id", Id, nullable=True),
    sa.Column("details", sa.JSON(), nullable=True),
)

# A doctor's clinic suspended for one or more slots of a day (停诊), from the back office or
# the HIS's feed: each booked registration inside it is found once, its patient told once, and
# it is cancelled at the HIS and refunded once (suspension_items follow each).
suspensions = sa.Table(
    "suspensions", metadata,
    sa.Column("id", PublicId, primary_key=True),
    # What makes asking again the same suspension: the HIS's id, or ours from the slots.
    sa.Column("dedupe_key", Exact(160), nullable=False, unique=True),
    sa.Column("source", sa.String(16), nullable=False),          # back_office, his_feed
    sa.Column("his_suspension_id", Exact(64), nullable=True),
    sa.Column("doctor_code", Exact(32), nullable=False),
    # The clinic's department, for schedulers limited to one; NULL when the HIS's feed named none.
    sa.Column("dept_code", sa.String(32), nullable=True),
    sa.Column("visit_date", sa.Date(), nullable=False),
    sa.Column("slot_ids", sa.JSON(), nullable=False),
    sa.Column("reason", sa.String(100), nullable=False),
    sa.Column("created_by", Id, nullable=True),
    sa.Column("found", sa.Integer(), nullable=True),             # registrations found; NULL until looked for
    sa.Column("created_at", Time, nullable=False),
    sa.Index("ix_suspensions_doctor_day", "doctor_code", "visit_date"),
)

suspension_items = sa.Table(
    "suspension_items", metadata,
    sa.Column("suspension_id", PublicId, sa.ForeignKey("suspensions.id"), primary_key=True),
    sa.Column("registration_id", PublicId, sa.ForeignKey("registrations.id"), primary_key=True),
    # The notice: NULL, then sending (claimed by one delivery), then sent / refused / failed.
    sa.Column("notice", sa.String(16), nullable=True),
    sa.Column("notice_claimed_at", Time, nullable=True),
    sa.Column("notice_detail", sa.JSON(), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),         # found, cancelled, failed
    sa.Column("error", sa.String(200), nullable=True),
    sa.Column("updated_at", Time, nullable=False),
)

# Where each feed of the HIS was last read up to.
his_feed_cursors = sa.Table(
    "his_feed_cursors", metadata,
    sa.Column("feed", sa.String(32), primary_key=True),
    sa.Column("cursor", sa.String(200), nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)


# ---- reconciliation (AD1): one run writes a day at a time; findings for finance ---------

# A day's reconciliation as a whole: who may write it now (a lease), and when to try again.
reconciliation_days = sa.Table(
    "reconciliation_days", metadata,
    sa.Column("bill_date", sa.Date(), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),          # running, waiting, done, failed
    sa.Column("lease_token", sa.String(32), nullable=True),
    sa.Column("lease_until", Time, nullable=True),
    sa.Column("last_run_id", Id, nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_try_at", Time, nullable=True),              # waiting or failed: when to run again
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_reconciliation_days_status_next", "status", "next_try_at"),
)

reconciliation_runs = sa.Table(
    "reconciliation_runs", metadata,
    _pk(),
    sa.Column("bill_date", sa.Date(), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),         # schedule, back_office, command, upload
    sa.Column("requested_by", Id, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),          # running, done, waiting, failed, abandoned
    # Each input: source, name, sha256, bytes, entries (what was reconciled, for audits).
    sa.Column("inputs", sa.JSON(), nullable=True),
    sa.Column("counts", sa.JSON(), nullable=True),               # entries, matched, findings by kind
    sa.Column("error", sa.String(300), nullable=True),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("finished_at", Time, nullable=True),
    sa.Index("ix_reconciliation_runs_date", "bill_date", "id"),
)

# One row per discrepancy of a day; a rerun of the day keeps the row of a finding it finds
# again (and its resolution), adds new ones and drops open ones it no longer finds.
reconciliation_findings = sa.Table(
    "reconciliation_findings", metadata,
    _pk(),
    sa.Column("bill_date", sa.Date(), nullable=False),
    sa.Column("fingerprint", Exact(160), nullable=False),
    sa.Column("run_id", Id, nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("source", sa.String(24), nullable=False),          # wechatpay, medical_insurance, credit, his
    sa.Column("trade", sa.String(8), nullable=False),            # payment, refund
    sa.Column("trade_key", Exact(64), nullable=False),           # out_trade_no / out_refund_no
    sa.Column("order_id", sa.String(64), nullable=True),
    sa.Column("ours_fen", sa.BigInteger(), nullable=True),
    sa.Column("theirs_fen", sa.BigInteger(), nullable=True),
    sa.Column("detail", sa.String(300), nullable=False, server_default=""),
    sa.Column("status", sa.String(12), nullable=False),          # open, resolved
    sa.Column("resolved_at", Time, nullable=True),
    sa.Column("resolved_by", Id, nullable=True),
    sa.Column("resolution", sa.String(500), nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("bill_date", "fingerprint"),
    sa.Index("ix_reconciliation_findings_date_kind", "bill_date", "kind", "status"),
)

# Trades a day's run left for the next day (carried: expected there) or took from it (taken:
# booked a little early, not expected there again).
reconciliation_carry_overs = sa.Table(
    "reconciliation_carry_overs", metadata,
    sa.Column("into_date", sa.Date(), primary_key=True),
    sa.Column("source", sa.String(24), primary_key=True),
    sa.Column("trade_key", Exact(64), primary_key=True),
    sa.Column("direction", sa.String(8), nullable=False),        # carried, taken
    sa.Column("from_date", sa.Date(), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("amount_fen", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("mchid", sa.String(32), nullable=False, server_default=""),
    sa.Column("appid", sa.String(64), nullable=False, server_default=""),
    sa.Column("run_id", Id, nullable=False),
)

# A day's trades are read by the time the counterpart booked them.
sa.Index("ix_payment_orders_paid_at", payment_orders.c.paid_at)
sa.Index("ix_payment_orders_his_confirmed_at", payment_orders.c.his_confirmed_at)
sa.Index("ix_payment_refunds_created_at", payment_refunds.c.created_at)


# ---- watchdog: consistency reports (AS4) ---------------------------------------------------------

# One run of every consistency check (hospital.reconciliation.consistency): each check's count
# of rows breaking it and the first of those rows (ids, states, amounts; no personal field).
consistency_reports = sa.Table(
    "consistency_reports", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),          # schedule, back_office
    sa.Column("requested_by", Id, nullable=True),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("finished_at", Time, nullable=False),
    sa.Column("broken", sa.Integer(), nullable=False),           # how many checks found rows breaking them
    sa.Column("findings", sa.JSON(), nullable=False),
    sa.Index("ix_consistency_reports_started_at", "started_at"),
)


# ---- external calls (AS3) ----
# Every call to an external system, for looking it up by order, case, patient, system, time
# and outcome (hospital.external_calls). No foreign keys: a record outlives nothing it names
# and must be written whatever it names; rows past EXTERNAL_CALL_RETENTION_DAYS are deleted.
external_calls = sa.Table(
    "external_calls", metadata,
    _pk(),
    sa.Column("at", Time, nullable=False),                        # when the call began
    sa.Column("system", sa.String(32), nullable=False),           # wechat, wechatpay_v3, his, ...
    sa.Column("operation", sa.String(200), nullable=False),       # "POST /v3/refund/domestic/refunds", "FEE_QUERY"
    sa.Column("function", sa.String(64), nullable=True),
    sa.Column("correlation_id", sa.String(128), nullable=True),
    sa.Column("order_id", sa.String(32), nullable=True),
    sa.Column("case_id", sa.String(32), nullable=True),
    sa.Column("user_id", Id, nullable=True),                      # the patient the call concerns
    sa.Column("latency_ms", sa.Integer(), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),          # ok, refused, error, timeout
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Index("ix_external_calls_at", "at"),
    sa.Index("ix_external_calls_order_at", "order_id", "at"),
    sa.Index("ix_external_calls_case_at", "case_id", "at"),
    sa.Index("ix_external_calls_user_at", "user_id", "at"),
    sa.Index("ix_external_calls_system_at", "system", "at"),
    sa.Index("ix_external_calls_outcome_at", "outcome", "at"),
    sa.Index("ix_external_calls_correlation_id", "correlation_id"),
)


# ---- audit chain (NF1) ----
# The audit log's entries are chained (audit_log.seq, prev_hash, entry_hash; see
# hospital.audit_chain) and append-only (triggers refuse UPDATE and DELETE). The chain's head:
# one row (id 1) that every append updates in the writer's transaction, so appends queue on its
# lock and cannot fork the chain; it carries the last link's hashes to the INSERT that follows.
audit_log.append_column(sa.Column("seq", Id, nullable=False))
audit_log.append_column(sa.Column("prev_hash", sa.String(64), nullable=False))
audit_log.append_column(sa.Column("entry_hash", sa.String(64), nullable=False))
sa.Index("ix_audit_log_seq", audit_log.c.seq, unique=True)
sa.Index("ix_audit_log_action", audit_log.c.action)
sa.Index("ix_audit_log_target", audit_log.c.target_type, audit_log.c.target_id)
sa.Index("ix_audit_log_at", audit_log.c.at)

audit_chain_head = sa.Table(
    "audit_chain_head", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("seq", Id, nullable=False),                 # the last entry's seq; 0 before any
    sa.Column("prev_hash", sa.String(64), nullable=False),  # the hash the last entry links to
    sa.Column("head_hash", sa.String(64), nullable=False),  # the last entry's hash
)


# ---- site content (AD3) ----
# Pages, notices and menus of the hospital's WeChat site. An item names what the public asks for
# (kind + slug) and which of its versions is live; its versions are the history, each written
# once and never edited (an edit is a new version), with its review. `latest_version` is the
# editors' lock: an edit names the version it was based on and moves it on only if it still is.
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")  # bodies up to 200 KB; TEXT stops at 64

content_items = sa.Table(
    "content_items", metadata,
    sa.Column("id", PublicId, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),             # page, notice, menu
    sa.Column("slug", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),          # draft, published, unpublished
    sa.Column("latest_version", sa.Integer(), nullable=False),
    sa.Column("published_version", sa.Integer(), nullable=True),
    sa.Column("published_at", Time, nullable=True),
    sa.Column("published_by", Id, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("updated_by", Id, nullable=False),
    sa.UniqueConstraint("kind", "slug", name="uq_content_items_kind_slug"),
    sa.Index("ix_content_items_status_kind", "status", "kind"),
)

content_versions = sa.Table(
    "content_versions", metadata,
    _pk(),
    sa.Column("item_id", PublicId, sa.ForeignKey("content_items.id"), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("title", sa.String(100), nullable=False),
    sa.Column("body_html", LongText, nullable=True),             # pages and notices: sanitised
    sa.Column("menu", sa.JSON(), nullable=True),                 # menus: validated entries
    sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("shown_from", Time, nullable=True),
    sa.Column("shown_until", Time, nullable=True),
    sa.Column("restored_from", sa.Integer(), nullable=True),
    sa.Column("author_id", Id, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),           # draft, in_review, approved, rejected, superseded
    sa.Column("submitted_at", Time, nullable=True),
    sa.Column("submitted_by", Id, nullable=True),
    sa.Column("reviewed_at", Time, nullable=True),
    sa.Column("reviewed_by", Id, nullable=True),
    sa.Column("review_note", sa.String(500), nullable=True),
    sa.UniqueConstraint("item_id", "version", name="uq_content_versions_item_id_version"),
)


# ---- usage guidance (AS2): feedback tickets and the FAQ ----
# A ticket the front desk filed (hospital.helpdesk.tickets); its text may hold a patient's name
# or phone, so it is encrypted. `request_id` makes a retried create the same ticket.
feedback_tickets = sa.Table(
    "feedback_tickets", metadata,
    _pk(),
    sa.Column("request_id", Exact(32), nullable=False, unique=True),  # the client's UUID, as 32 hex
    sa.Column("category", sa.String(24), nullable=False),
    sa.Column("text_enc", Blob, nullable=False),
    sa.Column("ref_type", sa.String(16), nullable=True),          # order, registration, case
    sa.Column("ref_id", PublicId, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),           # see hospital.helpdesk.ticket_rules
    sa.Column("filed_by", Id, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("assignee_user_id", Id, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_feedback_tickets_filed_by", "filed_by", "id"),
    sa.Index("ix_feedback_tickets_status", "status", "id"),
    sa.Index("ix_feedback_tickets_assignee", "assignee_user_id", "id"),
)

# What happened to a ticket, append-only: filed, comment, status (with its note), assigned.
feedback_ticket_events = sa.Table(
    "feedback_ticket_events", metadata,
    _pk(),
    sa.Column("ticket_id", Id, sa.ForeignKey("feedback_tickets.id"), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("actor_user_id", Id, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=True),
    sa.Column("assignee_user_id", Id, nullable=True),
    sa.Column("note_enc", Blob, nullable=True),
    sa.Index("ix_feedback_ticket_events_ticket", "ticket_id", "id"),
)

# The FAQ: public answers, not personal data, kept in plain text. `version` grows with each
# edit; an edit naming an older one is refused (optimistic concurrency).
faq_entries = sa.Table(
    "faq_entries", metadata,
    _pk(),
    sa.Column("question", sa.String(200), nullable=False),
    sa.Column("answer", sa.Text(), nullable=False),
    sa.Column("category", sa.String(24), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_by", Id, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# The search index of the FAQ (hospital.helpdesk.search_rules): each term of an entry once,
# with its weight; a query sums the weights of its terms by entry.
faq_terms = sa.Table(
    "faq_terms", metadata,
    sa.Column("entry_id", Id, sa.ForeignKey("faq_entries.id"), primary_key=True),
    sa.Column("term", Exact(32), primary_key=True),
    sa.Column("weight", sa.SmallInteger(), nullable=False),
    sa.Index("ix_faq_terms_term", "term", "entry_id", "weight"),
)
