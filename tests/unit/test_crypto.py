"""The key ring: AES-GCM sealing bound to a context, with key rotation."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from hub.crypto import NONCE_BYTES, KeyRing, KeyRingError, Sealed, new_key_spec

PLAINTEXT = b"Hannah Example, born 2011-03-14, lives at 1 Example Road"


def ring(*key_ids: str) -> KeyRing:
    return KeyRing.parse(",".join(new_key_spec(key_id) for key_id in key_ids))


def test_seal_then_open_returns_the_plaintext():
    keys = ring("k1")
    sealed = keys.seal(PLAINTEXT, "inbox:msg-1")
    assert keys.open(sealed, "inbox:msg-1") == PLAINTEXT


def test_sealed_blob_does_not_contain_the_plaintext():
    sealed = ring("k1").seal(PLAINTEXT, "inbox:msg-1")
    assert PLAINTEXT not in sealed.blob
    assert b"Hannah" not in sealed.blob


def test_sealing_twice_uses_a_fresh_nonce():
    keys = ring("k1")
    first, second = keys.seal(PLAINTEXT, "ctx"), keys.seal(PLAINTEXT, "ctx")
    assert first.blob[:NONCE_BYTES] != second.blob[:NONCE_BYTES]
    assert first.blob != second.blob


def test_blob_opened_under_another_context_fails():
    keys = ring("k1")
    sealed = keys.seal(PLAINTEXT, "inbox:msg-1")
    with pytest.raises(InvalidTag):
        keys.open(sealed, "inbox:msg-2")


def test_tampered_blob_fails_to_open():
    keys = ring("k1")
    sealed = keys.seal(PLAINTEXT, "ctx")
    flipped = bytearray(sealed.blob)
    flipped[-1] ^= 0x01
    with pytest.raises(InvalidTag):
        keys.open(Sealed(sealed.key_id, bytes(flipped)), "ctx")


def test_rotated_ring_opens_data_sealed_by_the_old_key():
    old_spec, new_spec = new_key_spec("old"), new_key_spec("new")
    sealed_before = KeyRing.parse(old_spec).seal(PLAINTEXT, "ctx")

    rotated = KeyRing.parse(f"{new_spec},{old_spec}")

    assert sealed_before.key_id == "old"
    assert rotated.open(sealed_before, "ctx") == PLAINTEXT


def test_rotated_ring_seals_new_data_with_the_first_key():
    old_spec, new_spec = new_key_spec("old"), new_key_spec("new")
    rotated = KeyRing.parse(f"{new_spec},{old_spec}")

    sealed = rotated.seal(PLAINTEXT, "ctx")

    assert rotated.active_key_id == "new"
    assert sealed.key_id == "new"
    # only the new key can open it: a ring holding just the new key succeeds, the old alone fails
    assert KeyRing.parse(new_spec).open(sealed, "ctx") == PLAINTEXT
    with pytest.raises(KeyRingError):
        KeyRing.parse(old_spec).open(sealed, "ctx")


def test_opening_with_an_unknown_key_id_raises_keyring_error():
    sealed = ring("gone").seal(PLAINTEXT, "ctx")
    with pytest.raises(KeyRingError, match="'gone'"):
        ring("k1").open(sealed, "ctx")


def test_same_key_id_with_a_different_key_fails_to_open():
    sealed = ring("k1").seal(PLAINTEXT, "ctx")
    with pytest.raises(InvalidTag):
        ring("k1").open(sealed, "ctx")


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("", id="empty"),
        pytest.param(" , ", id="only-separators"),
        pytest.param("no-separator-here", id="missing-colon"),
        pytest.param(":" + base64.b64encode(os.urandom(32)).decode(), id="missing-key-id"),
        pytest.param("k1:" + base64.b64encode(os.urandom(16)).decode(), id="16-byte-key"),
        pytest.param("k1:", id="empty-key"),
    ],
)
def test_malformed_spec_raises_keyring_error(spec: str):
    with pytest.raises(KeyRingError):
        KeyRing.parse(spec)


def test_spec_with_invalid_base64_raises_keyring_error():
    with pytest.raises(KeyRingError):
        KeyRing.parse("k1:abc")


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33, 64])
def test_key_of_wrong_length_raises_keyring_error(length: int):
    with pytest.raises(KeyRingError, match="32 bytes"):
        KeyRing([("k1", os.urandom(length))])


def test_empty_key_list_raises_keyring_error():
    with pytest.raises(KeyRingError):
        KeyRing([])


def test_new_key_spec_is_a_parsable_32_byte_key():
    key_id, _, encoded = new_key_spec("fresh").partition(":")
    assert key_id == "fresh"
    assert len(base64.b64decode(encoded)) == 32


def test_from_file_creates_the_key_file_readable_by_owner_only(tmp_path: Path):
    path = tmp_path / "keys" / "hub.keys"

    keys = KeyRing.from_file(path)

    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.active_key_id == "local-1"


def test_from_file_reuses_the_existing_key_on_the_second_call(tmp_path: Path):
    path = tmp_path / "hub.keys"
    first = KeyRing.from_file(path)
    contents = path.read_text()
    sealed = first.seal(PLAINTEXT, "ctx")

    second = KeyRing.from_file(path)

    assert path.read_text() == contents
    assert second.open(sealed, "ctx") == PLAINTEXT
