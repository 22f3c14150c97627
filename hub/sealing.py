"""Sealed columns: how the store's personal-data blobs are written and read with the key ring."""

from __future__ import annotations

import json
from typing import Any

from hub.crypto import KeyRing, Sealed


def seal_json(keyring: KeyRing, value: Any, context: str) -> Sealed:
    return keyring.seal(json.dumps(value, separators=(",", ":"), default=str).encode(), context)


def open_json(keyring: KeyRing, key_id: str, blob: bytes, context: str) -> Any:
    return json.loads(keyring.open(Sealed(key_id, blob), context))
