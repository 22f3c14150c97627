"""Intake: turn an authenticated system's body into an accepted, durable inbox message, or quarantine it.

The inbox row, its outbox row and the audit entry commit together, in one transaction with the
other messages arriving at the same moment (``hub.intake_group``); then the publish is tried at
once and left to the outbox relay if the broker is away. A resubmission (same source system and
source message id) gets the original tracking id back and creates nothing.
"""

from __future__ import annotations

from pydantic import ValidationError

from adapters.registry import Adapters
from adapters.rejection import InputRejected
from hub import metrics
from hub.audit import record
from hub.canonical import Envelope, new_id, utcnow
from hub.crypto import KeyRing
from hub.intake_group import Accepted, Arrival, GroupCommit
from hub.sealing import seal_model
from hub.store.database import Database
from hub.store.tables import ConnectedSystem, QuarantinedMessage
from queues.outbox import OutboxRelay

QUARANTINE_KEEP_BYTES = 65_536


class Quarantined(Exception):
    """Input refused; the body is kept in quarantine under ``quarantine_id``."""

    def __init__(self, rejection: InputRejected, quarantine_id: str):
        super().__init__(rejection.detail)
        self.rejection = rejection
        self.quarantine_id = quarantine_id


class Intake:
    def __init__(self, database: Database, keyring: KeyRing, relay: OutboxRelay, adapters: Adapters):
        self.database = database
        self.keyring = keyring
        self.relay = relay
        self.adapters = adapters
        self.group = GroupCommit(database, relay)

    def accept(
        self, system: ConnectedSystem, body: bytes, content_type: str, oversize: bool = False,
    ) -> Accepted:
        try:
            if oversize:
                raise InputRejected(413, "body.max-size", "the message is larger than allowed", "body")
            envelope = self._read(system, body, content_type)
        except InputRejected as rejection:
            quarantine_id = self.quarantine(system.system_id, body, content_type, rejection)
            metrics.INBOUND.labels(system.system_id, "quarantined").inc()
            raise Quarantined(rejection, quarantine_id) from None
        accepted = self._store(system, envelope, body)
        metrics.INBOUND.labels(system.system_id, "duplicate" if accepted.duplicate else "accepted").inc()
        return accepted

    def _read(self, system: ConnectedSystem, body: bytes, content_type: str) -> Envelope:
        adapter = self.adapters.for_kind(system.kind)
        if adapter is None or not adapter.sends(system.profile):
            raise InputRejected(
                403, "system.allowed-in", f"{system.system_id} may not send messages to the hub",
                "message type",
            )
        identified = adapter.identify(body, content_type, system.profile)
        if identified.message_type not in system.allowed_in:
            raise InputRejected(
                403, "system.allowed-in",
                f"{system.system_id} is not allowed to send {identified.message_type}",
                "message type",
            )
        try:
            received = adapter.read(identified, system.system_id)
        except (ValidationError, ValueError) as error:
            raise _canonical_rejection(error) from None
        return Envelope(
            correlation_id=received.correlation_id or new_id(), source_system=system.system_id,
            source_message_id=received.source_message_id, message_type=received.message_type,
            message_version=received.message_version, occurred_at=received.occurred_at,
            purpose=received.purpose, payload=received.event, provenance=received.provenance,
        )

    def _store(self, system: ConnectedSystem, envelope: Envelope, body: bytes) -> Accepted:
        """Seal the message and write it with the others arriving now (``hub.intake_group``);
        a resubmission breaks the inbox's unique (source system, source message id) and is
        answered with the original: no look-up first for the messages that are new."""
        sealed = seal_model(self.keyring, envelope, f"inbox:{envelope.message_id}")
        raw = self.keyring.seal(body, f"inbox-raw:{envelope.message_id}")
        return self.group.write(Arrival(row=dict(
            message_id=envelope.message_id, source_system=system.system_id,
            source_message_id=envelope.source_message_id, correlation_id=envelope.correlation_id,
            message_type=envelope.message_type, status="accepted", received_at=envelope.received_at,
            key_id=sealed.key_id, envelope_sealed=sealed.blob, raw_sealed=raw.blob,
        ), correlation_id=envelope.correlation_id))

    def quarantine(
        self, system_id: str, body: bytes, content_type: str | None, rejection: InputRejected,
    ) -> str:
        quarantine_id = new_id()
        kept = body[:QUARANTINE_KEEP_BYTES] if rejection.status == 413 else body
        sealed = self.keyring.seal(kept, f"quarantine:{quarantine_id}")
        with self.database.transaction() as session:
            session.add(QuarantinedMessage(
                quarantine_id=quarantine_id, source_system=system_id, received_at=utcnow(),
                status_code=rejection.status, rule=rejection.rule, field=rejection.field,
                detail=rejection.detail[:2000], content_type=(content_type or "")[:200],
                body_bytes=len(body), truncated=len(kept) < len(body), key_id=sealed.key_id,
                raw_sealed=sealed.blob,
            ))
            record(
                session, "message.quarantined", system_id, None, quarantine_id=quarantine_id,
                status=rejection.status, rule=rejection.rule, field=rejection.field,
            )
        return quarantine_id


def _canonical_rejection(error: ValidationError | ValueError) -> InputRejected:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return InputRejected(422, f"canonical.{first['type']}", first["msg"], field)
    return InputRejected(422, "canonical.value", str(error))
