"""Encryption of personal data at rest: AES-GCM with a key ring so keys can rotate.

Every stored ciphertext carries the id of the key that sealed it; the first key of the ring
seals new data, every key in the ring can still open old data. The row's identity is bound in
as associated data, so a ciphertext copied onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class KeyRingError(ValueError):
    """The configured keys are missing or malformed."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes


class KeyRing:
    def __init__(self, keys: list[tuple[str, bytes]]):
        if not keys:
            raise KeyRingError("the key ring is empty")
        for key_id, key in keys:
            if len(key) != 32:
                raise KeyRingError(f"key {key_id!r} must be 32 bytes, not {len(key)}")
        self.active_key_id = keys[0][0]
        self._aead = {key_id: AESGCM(key) for key_id, key in keys}

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Read ``key_id:base64key[,key_id:base64key...]``, active key first."""
        keys = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id:
                raise KeyRingError("each key must be written 'key_id:base64key'")
            try:
                keys.append((key_id, base64.b64decode(encoded, validate=True)))
            except binascii.Error:
                raise KeyRingError(f"key {key_id!r} is not valid base64") from None
        return cls(keys)

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """Load the embedded deployment's key file, creating it (mode 0600) on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(new_key_spec("local-1") + "\n")
        return cls.parse(path.read_text().strip())

    def seal(self, plaintext: bytes, context: str) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        aead = self._aead[self.active_key_id]
        return Sealed(self.active_key_id, nonce + aead.encrypt(nonce, plaintext, context.encode()))

    def open(self, sealed: Sealed, context: str) -> bytes:
        try:
            aead = self._aead[sealed.key_id]
        except KeyError:
            raise KeyRingError(f"key {sealed.key_id!r} is not in the key ring") from None
        nonce, ciphertext = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        return aead.decrypt(nonce, ciphertext, context.encode())


def new_key_spec(key_id: str) -> str:
    """A fresh random key, written the way ``HUB_ENCRYPTION_KEYS`` expects it."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"
