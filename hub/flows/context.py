"""What a flow works with: the message, the transaction, identity resolution, and its outputs.

A flow reads the canonical envelope and returns ``Outgoing`` messages, one per destination; it
may derive new canonical events (a referral becomes a TAC change for the CAF system and an
involvement for the directory), each keeping the original's correlation id and naming it as
cause. A flow that cannot go on yet (a child to identify, a consent to capture) holds the
message with a reason, which is kept and shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from consent.policy import SharingDecision
from hub.canonical import Envelope, Purpose
from hub.canonical.events import CanonicalEvent
from hub.canonical.people import Practitioner
from hub.crypto import KeyRing
from hub.identity import IdentityResolver
from hub.settings import Settings
from hub.store.tables import ConnectedSystem


@dataclass(frozen=True)
class Outgoing:
    """One message for one destination; ``recipients`` are the practitioners there it is for."""

    destination: ConnectedSystem
    envelope: Envelope
    recipients: tuple[Practitioner, ...] = ()


@dataclass
class FlowContext:
    session: Session
    envelope: Envelope
    message_id: str
    identity: IdentityResolver
    settings: Settings
    preview: Callable[[Session, ConnectedSystem, Envelope], SharingDecision]
    held: str | None = field(default=None)

    @property
    def keyring(self) -> KeyRing:
        """The store's key ring, for a flow that keeps sealed records of its own."""
        return self.identity.subjects.keyring

    def hold(self, reason: str) -> None:
        self.held = reason

    def permits(self, system: ConnectedSystem, envelope: Envelope) -> SharingDecision:
        return self.preview(self.session, system, envelope)

    def derive(
        self, event: CanonicalEvent, purpose: Purpose, correlation_id: str | None = None,
    ) -> Envelope:
        """A new message caused by this one, in the same correlation (or the one named)."""
        return Envelope(
            correlation_id=correlation_id or self.envelope.correlation_id,
            causation_id=self.message_id,
            source_system=self.envelope.source_system,
            source_message_id=f"{self.envelope.source_message_id}/{event.event_type}",
            message_type=event.event_type, message_version="1",
            occurred_at=self.envelope.occurred_at, purpose=purpose, payload=event,
            provenance=self.envelope.provenance,
        )
