"""The transactional outbox: publishes are written with the state they announce, then relayed.

``enqueue`` adds an outbox row inside the caller's transaction. After commit, ``flush`` publishes
those rows at once; whatever could not be published (broker down, process killed) is picked up
by ``OutboxRelay.sweep`` in the worker. Consumers are idempotent, so a publish repeated by the
relay after a crash between publish and delete does no harm.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.canonical import utcnow
from hub.store.database import Database
from hub.store.tables import OutboxEntry
from queues.publisher import Publisher

log = logging.getLogger(__name__)


def enqueue(session: Session, routing_key: str, body: dict[str, Any]) -> OutboxEntry:
    entry = OutboxEntry(routing_key=routing_key, body=body, created_at=utcnow())
    session.add(entry)
    return entry


class OutboxRelay:
    def __init__(self, database: Database, publisher: Publisher, grace_seconds: float = 5.0):
        self.database = database
        self.publisher = publisher
        self.grace = timedelta(seconds=grace_seconds)

    def flush(self, entries: list[OutboxEntry]) -> bool:
        """Publish rows just committed by this process; False if some stay for the relay."""
        published: list[int] = []
        try:
            for entry in entries:
                self.publisher.publish(entry.routing_key, entry.body)
                published.append(entry.entry_id)
        except Exception as error:
            log.warning("publish failed, left for the outbox relay: %s", type(error).__name__)
        finally:
            self._forget(published)
        return len(published) == len(entries)

    def sweep(self, batch: int = 500) -> int:
        """Publish rows older than the grace period that nobody published. Returns how many."""
        cutoff = utcnow() - self.grace
        with self.database.transaction() as session:
            owed = session.execute(
                select(OutboxEntry).where(OutboxEntry.created_at < cutoff)
                .order_by(OutboxEntry.entry_id).limit(batch).with_for_update(skip_locked=True)
            ).scalars().all()
            published = 0
            for entry in owed:
                try:
                    self.publisher.publish(entry.routing_key, entry.body)
                except Exception as error:
                    log.warning("outbox relay could not publish: %s", type(error).__name__)
                    break
                session.delete(entry)
                published += 1
        return published

    def _forget(self, entry_ids: list[int]) -> None:
        if entry_ids:
            with self.database.transaction() as session:
                session.execute(delete(OutboxEntry).where(OutboxEntry.entry_id.in_(entry_ids)))
