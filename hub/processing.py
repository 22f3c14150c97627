"""Processing an accepted message: route it, decide each disclosure, render, and plan deliveries.

A message's decisions, deliveries, their outbox rows, its audit entries and its inbox status
commit together, so a crash leaves either nothing done (the message is processed again) or
everything done (a repeat is recognised and skipped). Messages waiting together, each about a
different child, share that transaction (``process_batch``); if any of them fails there, none
of the batch is kept and each is processed in a transaction of its own.

Each attempt is counted, in a transaction of its own, before it starts: a message that keeps
killing the worker or failing against the store (a poison message) is set aside after
``HUB_PROCESSING_MAX_ATTEMPTS`` and dead-lettered, and the worker goes on with the next. The
count is one statement that also hands back the sealed envelope, which never changes once
accepted; the processing transaction then locks the row again and reads only its status.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from adapters.registry import Adapters
from consent.sharing import Sharing
from hub import metrics
from hub.audit import record
from hub.canonical import Envelope, new_id, utcnow
from hub.crypto import KeyRing
from hub.flows import FLOWS, FlowContext, Outgoing
from hub.identity import IdentityResolver
from hub.planned import Notice, plan_row
from hub.sealing import open_json, seal_json
from hub.settings import Settings
from hub.store.database import Database
from hub.store.tables import DeadLetter, Delivery, InboxMessage
from mappings.engine import MappingError
from queues.outbox import OutboxRelay, enqueue
from queues.topology import DEAD_LETTER, delivery_key

log = logging.getLogger(__name__)


def open_envelope(keyring: KeyRing, row: InboxMessage | Started) -> Envelope:
    data = open_json(keyring, row.key_id, row.envelope_sealed, f"inbox:{row.message_id}")
    return Envelope.model_validate(data)


INBOX = InboxMessage.__table__
DELIVERIES = Delivery.__table__
DEAD_LETTERS = DeadLetter.__table__
# an accepted message's attempt counted, if it has attempts left: its sealed envelope back
_START = (
    update(INBOX)
    .where(INBOX.c.message_id == bindparam("id"), INBOX.c.status == "accepted",
           INBOX.c.attempts < bindparam("most"))
    .values(attempts=INBOX.c.attempts + 1, lease_until=bindparam("lease"))
    .returning(INBOX.c.source_system, INBOX.c.message_type, INBOX.c.key_id, INBOX.c.envelope_sealed)
)
_START_FRESH = (  # the first attempt of messages never tried
    update(INBOX)
    .where(INBOX.c.message_id.in_(bindparam("ids", expanding=True)), INBOX.c.status == "accepted",
           INBOX.c.attempts == 0)
    .values(attempts=INBOX.c.attempts + 1, lease_until=bindparam("lease"))
    .returning(INBOX.c.message_id, INBOX.c.source_system, INBOX.c.message_type, INBOX.c.key_id,
               INBOX.c.envelope_sealed)
)
_LOCK = select(INBOX.c.status).where(INBOX.c.message_id == bindparam("id")).with_for_update()
_LOCK_MANY = (  # in one order, so two workers locking overlapping batches cannot deadlock
    select(INBOX.c.message_id, INBOX.c.status)
    .where(INBOX.c.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(INBOX.c.message_id).with_for_update()
)
_FINISHED = (
    update(INBOX).where(INBOX.c.message_id == bindparam("id"))
    .values(status=bindparam("to"), hold_reason=bindparam("held"), processed_at=bindparam("at"))
)
_UNROUTED = (
    update(INBOX).where(INBOX.c.message_id == bindparam("id"))
    .values(status="unrouted", processed_at=bindparam("at"))
)


@dataclass(frozen=True)
class Started:
    """An attempt counted: what the processing transaction needs of the inbox row."""

    message_id: str
    source_system: str
    message_type: str
    key_id: str
    envelope_sealed: bytes


class Processor:
    def __init__(
        self, database: Database, keyring: KeyRing, relay: OutboxRelay, adapters: Adapters,
        sharing: Sharing, identity: IdentityResolver, settings: Settings,
    ):
        self.database = database
        self.keyring = keyring
        self.relay = relay
        self.adapters = adapters
        self.sharing = sharing
        self.identity = identity
        self.settings = settings

    def process(self, message_id: str) -> str:
        """Process one inbox message; returns its status. Safe to call again for the same id.

        A database that is away propagates (the broker message is redelivered); any other
        failure marks the message failed and audits it, so one bad message cannot stop a worker.
        """
        started = self._begin(message_id)
        if isinstance(started, str):
            return started
        return self._carry_out(started)

    def process_batch(self, message_ids: list[str]) -> dict[str, str]:
        """Process several inbox messages, in one transaction where they can share it; returns
        each one's status, as ``process`` would. Safe to call again for any of them.

        A message tried before (whose attempt did not finish: it may be what stopped the
        worker) is processed alone first, its attempt counted just before, as if it had come
        alone: a message that kills the worker costs the others of its batch one attempt at
        most. The attempts of the rest are then counted in one statement, and those about
        different children processed together: one transaction, one turn of the audit chain, a
        statement per table for their decisions, deliveries and outbox rows. One about a child
        already in the batch, or about no child, is processed alone after it, in the order
        received. If anything fails while the batch is processed together, none of it is kept
        and each message is processed alone, where a failure is its own.
        """
        message_ids = list(dict.fromkeys(message_ids))
        if len(message_ids) == 1:
            return {message_ids[0]: self.process(message_ids[0])}
        statuses: dict[str, str] = {}
        fresh = self._begin_fresh(message_ids)
        for message_id in message_ids:
            if message_id not in fresh:  # tried before, finished or unknown: as if alone
                statuses[message_id] = self.process(message_id)
        rows = [fresh[message_id] for message_id in message_ids if message_id in fresh]
        together: list[tuple[Started, Envelope]] = []
        alone: list[Started] = []
        children: set[str] = set()
        for row in rows:
            envelope = open_envelope(self.keyring, row)
            subjects = set(self.sharing.subjects_of(envelope))
            if subjects and not subjects & children:
                children |= subjects
                together.append((row, envelope))
            else:
                alone.append(row)
        if len(together) == 1:
            alone = rows  # nothing to share a transaction with
        elif together:
            try:
                statuses.update(self._process_together(together))
            except Exception as error:
                log.warning("a batch of %d messages could not be processed together (%s); each is "
                            "processed alone", len(together), type(error).__name__)
                alone = rows  # in the order received
        for row in alone:
            statuses[row.message_id] = self._carry_out(row)
        return statuses

    def _carry_out(self, started: Started) -> str:
        """Process a message whose attempt is counted; a failure other than the store's marks
        it failed."""
        message_id = started.message_id
        try:
            return self._process(started)
        except DBAPIError:
            raise
        except Exception as error:
            # the type only: an exception's message can quote the personal data it choked on
            log.error("processing of message %s failed: %s", message_id, type(error).__name__)
            with self.database.transaction() as session:
                row = session.get(InboxMessage, message_id, with_for_update=True)
                if row is not None and row.status == "accepted":
                    row.status = "failed"
                    row.processed_at = utcnow()
                    row.failure_reason = f"processing failed: {type(error).__name__}"
                    record(session, "message.failed", "hub", message_id, error=type(error).__name__)
            return "failed"

    def _begin(self, message_id: str) -> Started | str:
        """Count the attempt about to start; or the status that says there is nothing to do.

        One statement for a message with attempts left; anything else (unknown, no longer
        accepted, out of attempts) is looked at in full by ``_begin_otherwise``."""
        lease = utcnow() + timedelta(seconds=self.settings.processing_lease)
        with self.database.engine.begin() as connection:
            row = connection.execute(_START, {
                "id": message_id, "most": self.settings.processing_max_attempts, "lease": lease,
            }).one_or_none()
        if row is None:
            return self._begin_otherwise(message_id)
        return Started(message_id, row.source_system, row.message_type, row.key_id, row.envelope_sealed)

    def _begin_fresh(self, message_ids: list[str]) -> dict[str, Started]:
        """Count, in one statement, the first attempt of those of these messages that are
        accepted and were never tried."""
        lease = utcnow() + timedelta(seconds=self.settings.processing_lease)
        with self.database.engine.begin() as connection:
            return {row.message_id: Started(row.message_id, row.source_system, row.message_type,
                                            row.key_id, row.envelope_sealed)
                    for row in connection.execute(_START_FRESH, {"ids": message_ids, "lease": lease})}

    def _begin_otherwise(self, message_id: str) -> Started | str:
        with self.database.transaction() as session:
            row = session.get(InboxMessage, message_id, with_for_update=True)
            if row is None:
                log.warning("inbound notice for unknown message %s ignored", message_id)
                return "unknown"
            if row.status != "accepted":
                return row.status
            if row.attempts < self.settings.processing_max_attempts:
                row.attempts += 1
                row.lease_until = utcnow() + timedelta(seconds=self.settings.processing_lease)
                return Started(message_id, row.source_system, row.message_type, row.key_id,
                               row.envelope_sealed)
            reason = f"set aside after {row.attempts} processing attempts that did not finish"
            row.status, row.failure_reason, row.processed_at = "poisoned", reason, utcnow()
            record(session, "message.poisoned", "hub", message_id, reason=reason, attempts=row.attempts)
            entry = enqueue(session, DEAD_LETTER, {
                "message_id": message_id, "kind": "inbound", "reason": reason, "attempts": row.attempts,
            })
        log.error("message %s set aside as poison after %d attempts", message_id, row.attempts)
        self.relay.flush([entry])
        return "poisoned"

    def _process(self, row: Started) -> str:
        started = time.perf_counter()
        message_id = row.message_id
        with self.database.transaction() as session:
            connection = session.connection()
            status = connection.execute(_LOCK, {"id": message_id}).scalar_one_or_none()
            if status is None:
                log.warning("inbound notice for unknown message %s ignored", message_id)
                return "unknown"
            if status != "accepted":
                return status
            status, entries = self._work(session, row, open_envelope(self.keyring, row))
        self.relay.flush(entries)
        self._count(row, status, time.perf_counter() - started)
        return status

    def _process_together(self, batch: list[tuple[Started, Envelope]]) -> dict[str, str]:
        """Messages about different children processed in one transaction (``process_batch``)."""
        started = time.perf_counter()
        statuses: dict[str, str] = {}
        entries: list[Notice] = []
        with self.database.transaction() as session:
            connection = session.connection()
            found = dict(connection.execute(_LOCK_MANY, {"ids": [row.message_id for row, _ in batch]}).all())
            for row, envelope in batch:
                status = found.get(row.message_id)
                if status is None:
                    log.warning("inbound notice for unknown message %s ignored", row.message_id)
                    status = "unknown"
                elif status == "accepted":
                    status, planned = self._work(session, row, envelope)
                    entries += planned
                statuses[row.message_id] = status
        self.relay.flush(entries)
        each = (time.perf_counter() - started) / len(batch)  # the batch's time, shared
        for row, _ in batch:
            self._count(row, statuses[row.message_id], each)
        return statuses

    def _work(self, session: Session, row: Started, envelope: Envelope) -> tuple[str, list[Notice]]:
        """Route a locked, accepted message, run its flow and plan its deliveries; its status
        and outbox rows. Written in the caller's transaction."""
        message_id = row.message_id
        connection = session.connection()
        self.sharing.observe(session, envelope)
        flow = FLOWS.get(envelope.message_type)
        entries: list[Notice] = []
        if flow is None:
            status = "unrouted"
            record(session, "message.unrouted", "hub", message_id, message_type=row.message_type)
            connection.execute(_UNROUTED, {"id": message_id, "at": utcnow()})
        else:
            ctx = FlowContext(session, envelope, message_id, self.identity, self.settings,
                              self.sharing.preview)
            entries = self.plan(session, message_id, list(flow(ctx)))
            status = "held" if ctx.held else "processed"
            if ctx.held:
                record(session, "message.held", "hub", message_id, reason=ctx.held)
            connection.execute(_FINISHED, {"id": message_id, "to": status, "held": ctx.held,
                                           "at": utcnow()})
        return status, entries

    @staticmethod
    def _count(row: Started, status: str, seconds: float) -> None:
        metrics.PROCESSED.labels(row.message_type, row.source_system, status).inc()
        metrics.PROCESSING_SECONDS.labels(row.message_type, row.source_system).observe(seconds)

    def plan(self, session: Session, message_id: str, outgoing: list[Outgoing]) -> list[Notice]:
        """Decide, render and plan the delivery of each of a flow's outgoing messages.

        The flow's own writes go to the store first; the decisions, their contexts, the
        deliveries and their outbox rows are then only planned (``hub.planned``): nothing in the
        transaction reads them back, and they are written as it commits, with those of the
        other messages sharing it, a statement per table."""
        session.flush()
        entries: list[Notice] = []
        with session.no_autoflush:
            for each in outgoing:
                entry = self.plan_one(session, message_id, each)
                if entry is not None:
                    entries.append(entry)
        return entries

    def plan_one(self, session: Session, message_id: str, outgoing: Outgoing) -> Notice | None:
        """Decide one disclosure; if permitted, render it and add its delivery and outbox row."""
        system = outgoing.destination
        stored = self.sharing.decide(session, message_id, system, outgoing.envelope, outgoing.recipients)
        decision, decision_id = stored.decision, stored.decision_id
        if not decision.permitted:
            return None
        delivery_id = new_id()
        envelope = outgoing.envelope
        try:
            rendered = self.adapters.render(
                system.kind, system.profile, envelope.message_type, decision.data,
                header={"message_id": delivery_id, "sent_at": utcnow().isoformat(),
                        "correlation_id": envelope.correlation_id},
                origin=envelope.provenance,
            )
        except (MappingError, LookupError) as error:
            return self._unrenderable(session, message_id, decision_id, system.system_id,
                                      envelope.message_type, delivery_id, error)
        sealed = seal_json(self.keyring, {
            "path": rendered.path, "content_type": rendered.content_type,
            "body": rendered.body.decode(),
            "provenance": [field.to_dict() for field in rendered.fields],
            "skipped": [asdict(skipped) for skipped in rendered.skipped],
        }, f"delivery:{delivery_id}")
        plan_row(session, DELIVERIES, dict(
            delivery_id=delivery_id, message_id=message_id, decision_id=decision_id,
            destination=system.system_id, message_type=outgoing.envelope.message_type,
            status="pending", attempts=0, created_at=utcnow(), key_id=sealed.key_id,
            payload_sealed=sealed.blob,
        ))
        return enqueue(session, delivery_key(system.system_id), {"delivery_id": delivery_id})

    def _unrenderable(
        self, session: Session, message_id: str, decision_id: str, destination: str,
        message_type: str, delivery_id: str, error: Exception,
    ) -> Notice:
        """A message the destination's mapping cannot render goes to the dead letter channel
        at once, naming the rule (not the value, which may be personal data); the other
        destinations of the same message go ahead."""
        if isinstance(error, MappingError):
            reason = f"could not render: rule {error.rule_id} at {error.where}"
        else:
            reason = f"could not render: {error}"
        sealed = seal_json(self.keyring, {"error": reason}, f"delivery:{delivery_id}")
        plan_row(session, DELIVERIES, dict(
            delivery_id=delivery_id, message_id=message_id, decision_id=decision_id,
            destination=destination, message_type=message_type, status="dead", attempts=0,
            last_error=reason, created_at=utcnow(), completed_at=utcnow(),
            key_id=sealed.key_id, payload_sealed=sealed.blob,
        ))
        dead_letter_id = new_id()
        plan_row(session, DEAD_LETTERS, dict(
            dead_letter_id=dead_letter_id, delivery_id=delivery_id, message_id=message_id,
            destination=destination, reason=reason, attempts=0, dead_at=utcnow(),
        ))
        record(session, "delivery.unrenderable", "hub", message_id, destination=destination,
               delivery_id=delivery_id, reason=reason)
        return enqueue(session, DEAD_LETTER, {
            "dead_letter_id": dead_letter_id, "delivery_id": delivery_id,
            "message_id": message_id, "destination": destination, "reason": reason, "attempts": 0,
        })
