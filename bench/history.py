"""Past messages for the scaling benchmark: the store filled to a given size with batched inserts.

Each past message is a processed CAF referral from a child of its own: its inbox row, one permit
decision, one delivered delivery to the case system and its ``message.received`` audit entry,
chained onto the real audit chain (so ``hub audit verify`` still holds). Their sealed envelope
and payload are one blob sealed once and shared (their content is never read back: what the
benchmark needs is rows and index entries, not distinct ciphertexts). Rows go in 2,000 messages
to a commit; PostgreSQL's statistics are refreshed (ANALYZE) afterwards, as autovacuum would.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from bench.step_up import CAF, CASE
from hub.audit import CHAIN, GENESIS, _entry_hash
from hub.bootstrap import Hub
from hub.canonical import utcnow
from hub.sealing import seal_json
from hub.store.tables import AuditChainHead, AuditEntry, Decision, Delivery, InboxMessage

BATCH = 2000


def stored_messages(hub: Hub) -> int:
    with hub.database.read() as session:
        return session.execute(select(func.count()).select_from(InboxMessage)).scalar_one()


def seed(hub: Hub, messages: int, advance: Callable[[int], None] = lambda _n: None) -> None:
    """Add ``messages`` past messages, calling ``advance`` with each batch's size."""
    sealed = seal_json(hub.keyring, {"past": True}, "bench:history")
    start = utcnow() - timedelta(days=365)
    run = uuid.uuid4().hex[:8]
    for first in range(0, messages, BATCH):
        count = min(BATCH, messages - first)
        inbox, decisions, deliveries = [], [], []
        at = [start + timedelta(seconds=(first + n) * 30) for n in range(count)]
        ids = [str(uuid.uuid4()) for _ in range(3 * count)]
        for n in range(count):
            message_id, decision_id, delivery_id = ids[3 * n: 3 * n + 3]
            inbox.append(dict(
                message_id=message_id, source_system=CAF, source_message_id=f"past-{run}-{first + n}",
                correlation_id=f"past-{run}-{first + n}", message_type="referral-to-social-care",
                status="processed", received_at=at[n], processed_at=at[n], attempts=1,
                key_id=sealed.key_id, envelope_sealed=sealed.blob, raw_sealed=sealed.blob))
            decisions.append(dict(
                decision_id=decision_id, message_id=message_id, destination=CASE, outcome="permit",
                legal_basis="consent: referral-to-social-care", reason="past referral",
                fields_shared=["child"], fields_withheld=[], decided_at=at[n]))
            deliveries.append(dict(
                delivery_id=delivery_id, message_id=message_id, decision_id=decision_id,
                destination=CASE, message_type="referral-to-social-care", status="delivered",
                attempts=1, created_at=at[n], completed_at=at[n], key_id=sealed.key_id,
                payload_sealed=sealed.blob))
        with hub.database.transaction() as session:
            head = session.execute(select(AuditChainHead).where(AuditChainHead.chain == CHAIN)
                                   .with_for_update()).scalar_one_or_none()
            if head is None:
                head = AuditChainHead(chain=CHAIN, last_seq=0, last_hash=GENESIS)
                session.add(head)
            seq, last_hash, entries = head.last_seq, head.last_hash, []
            for row in inbox:
                seq += 1
                detail = {"message_type": row["message_type"], "correlation_id": row["correlation_id"]}
                digest = _entry_hash(last_hash, seq, row["received_at"], "message.received", CAF,
                                     row["message_id"], detail)
                entries.append(dict(seq=seq, recorded_at=row["received_at"], action="message.received",
                                    actor=CAF, message_id=row["message_id"], detail=detail,
                                    prev_hash=last_hash, entry_hash=digest))
                last_hash = digest
            for table, rows in ((InboxMessage, inbox), (Decision, decisions), (Delivery, deliveries),
                                (AuditEntry, entries)):
                session.execute(insert(table), rows)
            head.last_seq, head.last_hash = seq, last_hash
        advance(count)
    if not hub.database.is_sqlite:
        with hub.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
