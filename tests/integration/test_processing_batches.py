"""Inbound messages waiting together are processed together: messages about different children
share one transaction and come out as they would one by one; messages about one child are
processed one after the other, in order; a failure in the batch keeps none of it and each goes
alone, only the bad one failing; a message tried before goes alone, its attempt counted just
before, so a message that kills the worker costs its batch-mates one attempt at most."""

from __future__ import annotations

from sqlalchemy import func, select, update

from hub.audit import verify_chain
from hub.flows import FLOWS
from hub.store.tables import AuditEntry, Decision, Delivery, InboxMessage
from tests.integration.quiet import accepted_updates, statements_of


def inbox(hub, ids: list[str]) -> dict[str, InboxMessage]:  # type: ignore[no-untyped-def]
    with hub.database.read() as session:
        rows = session.execute(select(InboxMessage).where(InboxMessage.message_id.in_(ids))).scalars()
        return {row.message_id: row for row in rows}


def planned_per_message(hub, ids: list[str]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with hub.database.read() as session:
        return dict(session.execute(select(Delivery.message_id, func.count()).where(
            Delivery.message_id.in_(ids)).group_by(Delivery.message_id)).all())


def test_messages_about_different_children_share_one_transaction(quiet_hub):
    hub = quiet_hub.hub
    alone = accepted_updates(quiet_hub, 4)
    batch = accepted_updates(quiet_hub, 8, first=4)

    one_by_one = statements_of(hub, lambda: [hub.processor.process(m) for m in alone], "commit")
    statuses: dict[str, str] = {}
    together = statements_of(hub, lambda: statuses.update(hub.processor.process_batch(batch)), "commit")

    assert statuses == {message_id: "processed" for message_id in batch}
    assert one_by_one == 2 * 4  # an attempt counted, then processed: two commits a message
    assert together == 2  # the attempts of all eight, then their processing
    assert planned_per_message(hub, batch) == {message_id: 1 for message_id in batch}
    assert {row.attempts for row in inbox(hub, batch).values()} == {1}
    with hub.database.read() as session:
        decided = session.execute(select(Decision.message_id).where(Decision.message_id.in_(batch))
                                  ).scalars().all()
        received = session.execute(select(AuditEntry.message_id).where(
            AuditEntry.action.like("decision.%"), AuditEntry.message_id.in_(batch))).scalars().all()
        assert sorted(decided) == sorted(batch) == sorted(received)
        assert verify_chain(session).intact

    # processed already: said so, nothing planned twice
    assert hub.processor.process_batch(batch[:3]) == {message_id: "processed" for message_id in batch[:3]}
    assert planned_per_message(hub, batch) == {message_id: 1 for message_id in batch}


def test_messages_about_one_child_are_processed_in_order(quiet_hub):
    hub = quiet_hub.hub
    versions = accepted_updates(quiet_hub, 3, same_child=True)

    statuses = hub.processor.process_batch(versions)

    assert statuses == {message_id: "processed" for message_id in versions}
    rows = inbox(hub, versions)
    finished = [rows[message_id].processed_at for message_id in versions]
    assert finished == sorted(finished)  # version 1, then 2, then 3


def test_a_failure_in_a_batch_keeps_none_of_it_and_only_the_bad_message_fails(quiet_hub, monkeypatch):
    hub = quiet_hub.hub
    ids = accepted_updates(quiet_hub, 5)
    bad = ids[2]
    flow = FLOWS["involvement-changed"]

    def breaks_on_the_bad_one(ctx):  # type: ignore[no-untyped-def]
        if ctx.message_id == bad:
            raise RuntimeError("a bug in the flow")
        return flow(ctx)

    monkeypatch.setitem(FLOWS, "involvement-changed", breaks_on_the_bad_one)

    statuses = hub.processor.process_batch(ids)

    assert statuses == {message_id: "failed" if message_id == bad else "processed" for message_id in ids}
    assert planned_per_message(hub, ids) == {message_id: 1 for message_id in ids if message_id != bad}
    assert {row.attempts for row in inbox(hub, ids).values()} == {1}  # no attempt counted twice
    with hub.database.read() as session:
        assert verify_chain(session).intact


def test_a_message_tried_before_goes_alone_its_attempt_counted_just_before(quiet_hub, monkeypatch):
    hub = quiet_hub.hub
    ids = accepted_updates(quiet_hub, 4)
    tried = ids[1]
    with hub.database.transaction() as session:  # as if the worker died while processing it
        session.execute(update(InboxMessage).where(InboxMessage.message_id == tried).values(attempts=1))
    shared: list[list[str]] = []
    together = hub.processor._process_together

    def watch(batch):  # type: ignore[no-untyped-def]
        shared.append([row.message_id for row, _ in batch])
        return together(batch)

    monkeypatch.setattr(hub.processor, "_process_together", watch)

    statuses = hub.processor.process_batch(ids)

    assert statuses == {message_id: "processed" for message_id in ids}
    assert shared == [[ids[0], ids[2], ids[3]]]
    attempts = {message_id: row.attempts for message_id, row in inbox(hub, ids).items()}
    assert attempts == {ids[0]: 1, tried: 2, ids[2]: 1, ids[3]: 1}
