"""Sealed columns: how the store's personal-data blobs are written and read with the key ring."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel

from hub.crypto import KeyRing, Sealed

M = TypeVar("M", bound=BaseModel)


def seal_json(keyring: KeyRing, value: Any, context: str) -> Sealed:
    return keyring.seal(json.dumps(value, separators=(",", ":"), default=str).encode(), context)


def open_json(keyring: KeyRing, key_id: str, blob: bytes, context: str) -> Any:
    return json.loads(keyring.open(Sealed(key_id, blob), context))


def seal_model(keyring: KeyRing, model: BaseModel, context: str) -> Sealed:
    """A pydantic model sealed as the JSON ``seal_json`` would write of ``model_dump(mode="json")``
    (the same values; serialised by pydantic itself, several times faster)."""
    return keyring.seal(model.model_dump_json().encode(), context)


def open_model(keyring: KeyRing, model: type[M], key_id: str, blob: bytes, context: str) -> M:
    """A sealed model (``seal_model`` or ``seal_json``) opened and validated from its JSON."""
    return model.model_validate_json(keyring.open(Sealed(key_id, blob), context))
