"""The transactional outbox: publishes are written with the state they announce, then relayed.

``enqueue`` adds an outbox row inside the caller's transaction: written as it commits, with the
transaction's other outbox rows, in one statement that hands back their ids (``hub.planned``), so
nothing in the transaction may query the row before then. After commit, ``flush`` publishes
those rows at once; whatever could not be published (broker down, process killed) is picked up
by ``OutboxRelay.sweep`` in the worker. Consumers are idempotent, so a publish repeated by the
relay after a crash between publish and delete does no harm.

Rows published by ``flush`` are deleted together, not one transaction per flush: the relay
keeps their ids and a background thread deletes them in one statement every
``FORGET_SECONDS`` (sooner once ``FORGET_AT`` are waiting), well inside the sweep's grace
period, and ``close`` deletes what is left. A process killed in between leaves those rows for
the sweep, which publishes them again: the same as a crash between publish and delete.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.canonical import utcnow
from hub.planned import Notice, plan_notice
from hub.store.database import Database
from hub.store.tables import OutboxEntry
from queues.publisher import Publisher

log = logging.getLogger(__name__)

FORGET_SECONDS = 0.2  # the longest a published row waits to be deleted
FORGET_AT = 200       # published rows that wake the deleting thread at once


def enqueue(session: Session, routing_key: str, body: dict[str, Any]) -> Notice:
    """An outbox row owed for this transaction; its ``entry_id`` is known once it commits."""
    return plan_notice(session, routing_key, body)


class OutboxRelay:
    def __init__(self, database: Database, publisher: Publisher, grace_seconds: float = 5.0):
        self.database = database
        self.publisher = publisher
        self.grace = timedelta(seconds=grace_seconds)
        self._published: list[int] = []  # published by ``flush``, not deleted yet
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._forgetter: threading.Thread | None = None

    def flush(self, entries: Sequence[Notice | OutboxEntry]) -> bool:
        """Publish rows just committed by this process; False if some stay for the relay."""
        taken = self.publisher.publish_many([(entry.routing_key, entry.body) for entry in entries])
        self._remember([entry.entry_id for entry in entries[:taken]])
        if taken < len(entries):
            log.warning("%d of %d notices left for the outbox relay", len(entries) - taken, len(entries))
        return taken == len(entries)

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

    def forget_published(self) -> int:
        """Delete the rows ``flush`` published, in one statement; how many it found. If the store
        refuses, they are kept for the next attempt (the sweep re-publishes any it gets to first)."""
        with self._lock:
            entry_ids, self._published = self._published, []
        if not entry_ids:
            return 0
        try:
            with self.database.transaction() as session:
                table = OutboxEntry.__table__  # a plain statement: no session objects to update
                deleted = session.execute(
                    delete(table).where(table.c.entry_id.in_(entry_ids))).rowcount
        except Exception as error:
            log.warning("published outbox rows not deleted yet: %s", type(error).__name__)
            with self._lock:
                self._published[:0] = entry_ids
            return 0
        return deleted

    def close(self) -> None:
        """Stop the deleting thread and delete what it had not deleted yet."""
        self._closing.set()
        self._wake.set()
        if self._forgetter is not None:
            self._forgetter.join(10)
            self._forgetter = None
        self.forget_published()

    def _remember(self, entry_ids: list[int]) -> None:
        if not entry_ids:
            return
        with self._lock:
            self._published.extend(entry_ids)
            waiting = len(self._published)
            if self._forgetter is None and not self._closing.is_set():
                self._forgetter = threading.Thread(target=self._forget_loop, name="hub-outbox-forget",
                                                   daemon=True)
                self._forgetter.start()
        if self._closing.is_set():
            self.forget_published()  # closed: nobody else will
        elif waiting >= FORGET_AT:
            self._wake.set()

    def _forget_loop(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(FORGET_SECONDS)
            self._wake.clear()
            self.forget_published()
