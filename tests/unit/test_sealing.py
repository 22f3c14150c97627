"""A sealed envelope opens to the same envelope whichever way it was sealed: pydantic's own JSON
(``seal_model`` / ``open_model``) and ``json.dumps`` of ``model_dump`` (``seal_json`` /
``open_json``) agree for every message the shipped mappings read."""

from __future__ import annotations

import pytest

from adapters.registry import mapped_adapter
from hub.canonical import Envelope, new_id
from hub.crypto import KeyRing, new_key_spec
from hub.sealing import open_json, open_model, seal_json, seal_model
from mappings.golden import CONTENT_TYPES, cases
from mappings.layers import GOLDEN_DIR
from mappings.registry import MappingRegistry

REGISTRY = MappingRegistry()
VALID = [case for case in cases(GOLDEN_DIR) if (case / "canonical.json").exists()]
KEYS = KeyRing.parse(new_key_spec("test-1"))


def envelope_of(case) -> Envelope:  # type: ignore[no-untyped-def]
    kind, profile, _type, _name = case.relative_to(GOLDEN_DIR).parts
    wire = next(case.glob("wire.*"))
    adapter = mapped_adapter(kind, REGISTRY)
    received = adapter.read(adapter.identify(wire.read_bytes(), CONTENT_TYPES[wire.suffix[1:]], profile),
                            "golden")
    return Envelope(
        correlation_id=new_id(), source_system="golden", source_message_id=new_id(),
        message_type=received.message_type, message_version=received.message_version,
        occurred_at=received.occurred_at, purpose=received.purpose,
        payload=received.event, provenance=received.provenance,
    )


@pytest.mark.parametrize("case", VALID, ids=[str(c.relative_to(GOLDEN_DIR)) for c in VALID])
def test_an_envelope_sealed_either_way_opens_the_same(case):
    envelope = envelope_of(case)

    by_model = seal_model(KEYS, envelope, "inbox:x")
    by_json = seal_json(KEYS, envelope.model_dump(mode="json"), "inbox:x")

    assert open_model(KEYS, Envelope, by_model.key_id, by_model.blob, "inbox:x") == envelope
    assert open_model(KEYS, Envelope, by_json.key_id, by_json.blob, "inbox:x") == envelope
    assert open_json(KEYS, by_model.key_id, by_model.blob, "inbox:x") == \
        open_json(KEYS, by_json.key_id, by_json.blob, "inbox:x")
    assert len(VALID) >= 30  # every shipped mapping's valid case is here
