"""The rows processing plans (decisions, their contexts, deliveries, outbox rows) are written as
the transaction commits: one INSERT per table for a whole batch of messages, the outbox rows'
ids handed back to the relay; a transaction rolled back writes none of them."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select

from hub.planned import NOTICES, PLANNED
from hub.store.tables import Decision, DecisionContext, Delivery, OutboxEntry
from queues.outbox import enqueue
from tests.integration.quiet import accepted_updates

PLANNED_TABLES = ("decisions", "decision_contexts", "deliveries", "outbox")


def inserts_of(hub, work) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The INSERT statements ``work`` runs in this thread, by table."""
    seen: dict[str, int] = {}
    here = threading.get_ident()

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        words = statement.split()
        if threading.get_ident() == here and words[0].upper() == "INSERT":
            table = words[2].strip('"')
            seen[table] = seen.get(table, 0) + 1

    event.listen(hub.database.engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        event.remove(hub.database.engine, "before_cursor_execute", count)
    return seen


def test_a_batch_writes_its_planned_rows_in_one_statement_per_table(quiet_hub):
    hub = quiet_hub.hub
    batch = accepted_updates(quiet_hub, 6)
    flushed: list[list[Any]] = []
    relay_flush = hub.relay.flush
    hub.relay.flush = lambda entries: flushed.append(list(entries)) or relay_flush(entries)
    statuses: dict[str, str] = {}

    inserts = inserts_of(hub, lambda: statuses.update(hub.processor.process_batch(batch)))

    assert statuses == {message_id: "processed" for message_id in batch}
    assert {table: inserts.get(table) for table in PLANNED_TABLES} == dict.fromkeys(PLANNED_TABLES, 1)
    with hub.database.read() as session:
        deliveries = session.execute(select(Delivery).where(Delivery.message_id.in_(batch))).scalars().all()
        decisions = {row.decision_id: row for row in session.execute(
            select(Decision).where(Decision.message_id.in_(batch))).scalars()}
        contexts = session.execute(select(func.count()).select_from(DecisionContext).where(
            DecisionContext.decision_id.in_(decisions))).scalar_one()
    assert len(deliveries) == len(decisions) == contexts == len(batch)
    assert all(decisions[row.decision_id].message_id == row.message_id for row in deliveries)
    announced = [entry for entries in flushed for entry in entries]
    assert sorted(entry.body["delivery_id"] for entry in announced) == \
        sorted(row.delivery_id for row in deliveries)
    ids = [entry.entry_id for entry in announced]
    assert all(isinstance(entry_id, int) for entry_id in ids) and len(set(ids)) == len(ids)


def test_outbox_rows_get_their_ids_in_the_order_they_were_enqueued(quiet_hub):
    hub = quiet_hub.hub
    with hub.database.transaction() as session:
        entries = [enqueue(session, "inbound", {"message_id": f"order-{n}"}) for n in range(5)]
        assert all(entry.entry_id is None for entry in entries)  # written as the transaction commits
    with hub.database.read() as session:
        stored = dict(session.execute(select(OutboxEntry.entry_id, OutboxEntry.body).where(
            OutboxEntry.entry_id.in_([entry.entry_id for entry in entries]))).all())
    assert [stored[entry.entry_id] for entry in entries] == [entry.body for entry in entries]
    hub.relay.flush(entries)


def test_a_transaction_rolled_back_writes_none_of_its_planned_rows(quiet_hub):
    hub = quiet_hub.hub
    with hub.database.read() as session:
        before = session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one()
    with pytest.raises(RuntimeError), hub.database.transaction() as session:
        enqueue(session, "inbound", {"message_id": "never"})
        assert session.info[NOTICES]
        raise RuntimeError("the work failed")
    assert NOTICES not in session.info and PLANNED not in session.info
    with hub.database.read() as session:
        assert session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one() == before
