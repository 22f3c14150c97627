"""Which adapter speaks for which kind of connected system.

Every kind has a mapped adapter driven by its mapping specs. A kind whose format has no spec for
a message type may still have a renderer written in code (``OUTBOUND``), used as a fallback.
A kind may add checks of its own to the schema check (``EXTRA_CHECKS``), in both directions: the
FHIR validation of health partners' messages.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from adapters.base import OutboundAdapter, Rendered
from adapters.mapped import MappedAdapter, Validator
from adapters.partner.fhir import validate_fhir
from adapters.partner.outbound import PARTNER
from hub.canonical import FieldSource
from mappings.registry import MappingRegistry

KINDS = ("caf_system", "case_system", "directory", "partner")

OUTBOUND: dict[str, OutboundAdapter] = {PARTNER.kind: PARTNER}

EXTRA_CHECKS: dict[str, tuple[Validator, ...]] = {"partner": (validate_fhir,)}


def mapped_adapter(kind: str, mappings: MappingRegistry) -> MappedAdapter:
    """The adapter for a kind, with the kind's own checks: build adapters only through here."""
    return MappedAdapter(kind, mappings, EXTRA_CHECKS.get(kind, ()))


class Adapters:
    def __init__(self, mappings: MappingRegistry):
        self.mappings = mappings
        self._mapped = {kind: mapped_adapter(kind, mappings) for kind in KINDS}

    def for_kind(self, kind: str) -> MappedAdapter | None:
        return self._mapped.get(kind)

    def render(
        self, kind: str, profile: str, message_type: str, shared: dict[str, Any],
        header: dict[str, str], origin: dict[str, FieldSource] | None = None,
    ) -> Rendered:
        mapped = self._mapped.get(kind)
        if mapped is not None and mapped.can_render(profile, message_type):
            return mapped.render(profile, message_type, shared, header, origin)
        coded = OUTBOUND.get(kind)
        if coded is not None and message_type in coded.sends:
            return coded.render(message_type, shared)
        raise LookupError(f"no mapping or renderer for {message_type} to a {kind} ({profile})")


@cache
def _base_mappings() -> MappingRegistry:
    return MappingRegistry()


def default_message_types(kind: str) -> tuple[list[str], list[str]]:
    """What a kind can send to the hub and receive from it: the registry's default allow-lists."""
    sends, receives = set(), set()
    for key, effective in _base_mappings().all().items():
        if not key.startswith(f"{kind}/"):
            continue
        if effective.spec.direction in ("inbound", "both"):
            sends.add(effective.spec.message_type)
        if effective.spec.direction in ("outbound", "both"):
            receives.add(effective.spec.message_type)
    coded = OUTBOUND.get(kind)
    if coded is not None:
        receives |= coded.sends
    return sorted(sends), sorted(receives)
