"""The sharing decision: ``decide(envelope, destination)`` returns permit with basis and fields, or deny.

Default deny: an event reaches a destination only where a rule below names the legal basis for
that message type, destination kind and purpose. The directory never receives an involvement
of a shielded child (DOMAIN: a shielded record shows no involvements).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consent.minimise import minimise
from consent.profiles import allowed_categories
from hub.canonical import Envelope, Purpose

DIRECTORY_BASIS = (
    "Children Act 2004 s12: the directory of children and the practitioners working with them"
)

# (message type, destination kind, purpose) -> legal basis
BASES: dict[tuple[str, str, Purpose], str] = {
    ("lead-professional-changed", "directory", Purpose.DIRECTORY_UPDATE): DIRECTORY_BASIS,
}


@dataclass(frozen=True)
class Destination:
    system_id: str
    kind: str
    allowed_out: frozenset[str]


@dataclass(frozen=True)
class SharingDecision:
    permitted: bool
    reason: str
    legal_basis: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    shared: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


def deny(reason: str) -> SharingDecision:
    return SharingDecision(permitted=False, reason=reason)


def decide(envelope: Envelope, destination: Destination) -> SharingDecision:
    if envelope.message_type not in destination.allowed_out:
        return deny(f"{destination.system_id} is not registered to receive {envelope.message_type}")
    basis = BASES.get((envelope.message_type, destination.kind, envelope.purpose))
    if basis is None:
        return deny(
            f"no legal basis for {envelope.message_type} to a {destination.kind} "
            f"for the purpose {envelope.purpose.value}"
        )
    child = getattr(envelope.payload, "child", None)
    if destination.kind == "directory" and child is not None and child.shielded:
        return deny("the child is shielded: the directory shows no involvements for them")
    allowed = allowed_categories(destination.kind)
    minimised = minimise(envelope.payload, allowed)
    return SharingDecision(
        permitted=True,
        reason=f"{envelope.message_type} to {destination.kind} for {envelope.purpose.value}",
        legal_basis=basis,
        data=minimised.data,
        shared=minimised.shared,
        withheld=minimised.withheld,
    )
