"""Taking over work whose announcement was lost or whose worker died.

The store, not the broker, says what is owed: an inbound message still ``accepted`` and a
delivery still ``pending``. The broker's notice about one can be lost (the embedded transport
forgets a message its consumer was killed holding) and a worker can die holding a delivery's
lease. Each sweep announces again, through the outbox, every such item whose lease has run out
(or that was never leased and is older than the lease), and leases it for another period so that
the next sweep leaves it alone. A notice announced twice is harmless: processing and delivery are
idempotent, and a live worker's lease keeps a second one off its delivery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select

from hub.canonical import utcnow
from hub.store.database import Database
from hub.store.tables import Delivery, InboxMessage
from queues.outbox import OutboxRelay, enqueue
from queues.topology import INBOUND, delivery_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Announced:
    messages: int
    deliveries: int


class Takeover:
    def __init__(self, database: Database, relay: OutboxRelay, lease_seconds: float, batch: int = 200):
        self.database = database
        self.relay = relay
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch

    def sweep(self) -> Announced:
        now = utcnow()
        stale = now - self.lease
        messages = select(InboxMessage.message_id).where(
            InboxMessage.status == "accepted",
            or_(InboxMessage.lease_until < now,
                and_(InboxMessage.lease_until.is_(None), InboxMessage.received_at < stale)),
        ).limit(self.batch)
        deliveries = select(Delivery.delivery_id).where(
            Delivery.status == "pending",
            or_(Delivery.lease_until < now,
                and_(Delivery.lease_until.is_(None), Delivery.created_at < stale)),
        ).limit(self.batch)
        with self.database.read() as session:
            owed_messages = list(session.execute(messages).scalars())
            owed_deliveries = list(session.execute(deliveries).scalars())
        if not owed_messages and not owed_deliveries:
            return Announced(0, 0)
        entries = []
        with self.database.transaction() as session:
            for row in session.execute(
                select(InboxMessage).where(InboxMessage.message_id.in_(owed_messages))
                .with_for_update(skip_locked=True)
            ).scalars():
                if row.status == "accepted":
                    row.lease_until = now + self.lease
                    entries.append(enqueue(session, INBOUND, {"message_id": row.message_id}))
            for delivery in session.execute(
                select(Delivery).where(Delivery.delivery_id.in_(owed_deliveries))
                .with_for_update(skip_locked=True)
            ).scalars():
                if delivery.status == "pending":
                    delivery.leased_by, delivery.lease_until = None, now + self.lease
                    entries.append(enqueue(
                        session, delivery_key(delivery.destination), {"delivery_id": delivery.delivery_id}
                    ))
            session.flush()
            counted = Announced(
                sum(1 for entry in entries if entry.routing_key == INBOUND),
                sum(1 for entry in entries if entry.routing_key != INBOUND),
            )
        self.relay.flush(entries)
        log.info("announced again: %d inbound messages, %d deliveries", counted.messages, counted.deliveries)
        return counted
