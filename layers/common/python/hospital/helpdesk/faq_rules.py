"""The FAQ (AS2): its categories and limits. Pure rules."""
from __future__ import annotations

CATEGORIES = (
    "registration",       # 挂号: booking, cancelling, a suspended clinic
    "payment_refund",     # 缴费与退费
    "medical_insurance",  # 医保
    "visiting",           # 就诊指引: where to go, opening hours, reports
    "rescue",             # 急救 mini-program
    "account_sign_in",    # sign-in, binding a hospital card
    "other",
)
MAX_ANSWER = 5000  # characters: an answer read on a phone, not a manual
MAX_TAGS = 10
DEFAULT_LIMIT, MAX_LIMIT = 20, 50
