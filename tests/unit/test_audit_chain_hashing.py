"""The audit log's hash chain as pure functions (NF1): what an entry's hash covers, how it is
encoded, and how links chain."""
import datetime as dt
import hashlib

import pytest

from hospital import audit_chain

ENTRY = {"at": dt.datetime(2026, 12, 4, 2, 15, 9, 412000), "actor_user_id": 7, "actor_roles": "it_admin,super_admin",
         "action": "payments.refund", "target_type": "payment_order", "target_id": "a1b2", "result": "ok",
         "details": {"amount_fen": 1200, "reason": "退费", "nested": {"b": 1, "a": [1, 2]}},
         "correlation_id": "corr-1"}


def test_the_canonical_content_is_fixed_order_sorted_keys_ascii_json_NF1():
    assert audit_chain.canonical_content(**ENTRY) == (
        b'["v1","2026-12-04T02:15:09.412000",7,"it_admin,super_admin","payments.refund","payment_order","a1b2",'
        b'"ok",{"amount_fen":1200,"nested":{"a":[1,2],"b":1},"reason":"\\u9000\\u8d39"},"corr-1"]')


def test_key_order_of_the_details_does_not_change_the_hash_NF1():
    reordered = {**ENTRY, "details": {"reason": "退费", "nested": {"a": [1, 2], "b": 1}, "amount_fen": 1200}}
    assert audit_chain.content_hash(**reordered) == audit_chain.content_hash(**ENTRY)


def test_no_details_hash_as_the_empty_object_they_are_stored_as_NF1():
    none, empty = {**ENTRY, "details": None}, {**ENTRY, "details": {}}
    assert audit_chain.content_hash(**none) == audit_chain.content_hash(**empty)


@pytest.mark.parametrize("field, value", [
    ("at", dt.datetime(2026, 12, 4, 2, 15, 9, 412001)), ("actor_user_id", 8), ("actor_user_id", None),
    ("actor_roles", "super_admin"), ("action", "payments.refunds"), ("target_type", None), ("target_id", "a1b3"),
    ("result", "refused"), ("details", {"amount_fen": 1201}), ("correlation_id", None),
])
def test_every_field_is_covered_by_the_hash_NF1(field, value):
    assert audit_chain.content_hash(**{**ENTRY, field: value}) != audit_chain.content_hash(**ENTRY)


def test_a_number_and_its_text_hash_differently_NF1():
    # "7" in a target id and 7 in the details are not the same record.
    assert (audit_chain.content_hash(**{**ENTRY, "details": {"n": 7}})
            != audit_chain.content_hash(**{**ENTRY, "details": {"n": "7"}}))


def test_a_link_is_the_sha256_of_the_previous_hash_and_the_content_hash_as_hex_text_NF1():
    # The database computes the same link with SHA2(CONCAT(previous, content), 256).
    content = audit_chain.content_hash(**ENTRY)
    assert audit_chain.link(audit_chain.GENESIS, content) == hashlib.sha256(
        ("0" * 64 + content).encode()).hexdigest()
    assert audit_chain.link(audit_chain.link(audit_chain.GENESIS, content), content) != audit_chain.link(
        audit_chain.GENESIS, content)


def test_a_stored_row_hashes_as_the_entry_it_was_written_from_NF1():
    class Row:
        pass

    row = Row()
    row.__dict__.update({**ENTRY, "details": dict(reversed(list(ENTRY["details"].items())))})
    assert audit_chain.row_content_hash(row) == audit_chain.content_hash(**ENTRY)


def test_details_that_json_cannot_hold_are_refused_not_hashed_loosely_NF1():
    with pytest.raises(ValueError):
        audit_chain.content_hash(**{**ENTRY, "details": {"x": float("nan")}})
