"""Lead professional agreed or changed at a TAC: every registered directory is told.

The directory records the practitioner as the child's lead professional. Which fields it gets,
and whether it gets anything at all (a shielded child), is the sharing decision's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from hub.canonical import Envelope
from hub.canonical.people import Practitioner
from hub.registry import receivers
from hub.store.tables import ConnectedSystem


@dataclass(frozen=True)
class Outgoing:
    """One message for one destination; ``recipients`` are the practitioners there it is for."""

    destination: ConnectedSystem
    envelope: Envelope
    recipients: tuple[Practitioner, ...] = ()


def tell_directories(session: Session, envelope: Envelope) -> list[Outgoing]:
    return [
        Outgoing(destination=system, envelope=envelope)
        for system in receivers(session, envelope.message_type)
        if system.kind == "directory"
    ]
