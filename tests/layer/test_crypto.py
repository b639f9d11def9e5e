"""Envelope encryption of personal data at rest (NF5) and keyed lookup hashes."""
import pytest

from hospital import crypto


@pytest.mark.parametrize("cipher", ["AES-GCM", "SM4-GCM"])
def test_round_trip_with_each_cipher_NF5(db, platform, monkeypatch, cipher):
    monkeypatch.setenv("PII_CIPHER", cipher)
    blob = crypto.encrypt("张三 13800138000", "test.name:1")
    assert b"13800138000" not in blob
    assert crypto.decrypt_text(blob, "test.name:1") == "张三 13800138000"
    assert blob[1] == (crypto.SM4_GCM if cipher == "SM4-GCM" else crypto.AES_GCM)


def test_ciphertext_is_bound_to_its_context_and_tamper_evident_NF5(db, platform):
    blob = crypto.encrypt("310101199001011234", "rescue_persons.id_number:a")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(blob, "rescue_persons.id_number:b")  # copied to another row
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(tampered, "rescue_persons.id_number:a")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(blob[:20], "rescue_persons.id_number:a")


def test_data_key_is_reused_and_a_new_container_unwraps_it_through_kms_NF5(db, platform):
    crypto.forget_keys()
    first = crypto.encrypt("a", "ctx")
    second = crypto.encrypt("b", "ctx")
    wrapped_len = int.from_bytes(first[2:4], "big")
    wrapped = first[4 : 4 + wrapped_len]
    assert wrapped == second[4 : 4 + wrapped_len]  # one KMS call per container, not per row
    assert len(wrapped) > 32  # the KMS-wrapped key, never the plaintext key
    crypto.forget_keys()  # like a fresh container: must unwrap the key through KMS
    assert crypto.decrypt_text(first, "ctx") == "a"


def test_a_key_kms_cannot_unwrap_is_a_decryption_failure_NF5(db, platform):
    blob = bytearray(crypto.encrypt("a", "ctx"))
    blob[10] ^= 0xFF  # inside the wrapped key
    crypto.forget_keys()
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(bytes(blob), "ctx")


def test_lookup_hash_is_keyed_normalised_and_namespaced(db, platform):
    assert crypto.lookup_hash(" 13800138000 ", "phone") == crypto.lookup_hash("13800138000", "phone")
    assert crypto.lookup_hash("13800138000", "phone") != crypto.lookup_hash("13800138000", "id_number")
    assert len(crypto.lookup_hash("x", "phone")) == 64
