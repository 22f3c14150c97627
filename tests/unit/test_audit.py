"""The audit log: a hash chain that names the first entry that was altered or removed."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, event, func, select, update

from hub.audit import GENESIS, _entry_hash, record, verify_chain
from hub.canonical import utcnow
from hub.store.database import Database
from hub.store.tables import AuditChainHead, AuditEntry, ChildRecord


def record_entries(db: Database, count: int) -> None:
    with db.transaction() as session:
        for number in range(1, count + 1):
            record(
                session, "message.received", "caf-national", f"msg-{number}",
                fields=["child.name", "episode_id"], number=number,
            )


def test_recorded_entries_form_an_intact_chain(db: Database):
    record_entries(db, 4)
    with db.transaction() as session:
        status = verify_chain(session)
    assert status.intact is True
    assert status.entries == 4
    assert status.broken_at is None
    assert status.problem is None


def test_entries_are_numbered_and_linked_from_genesis(db: Database):
    record_entries(db, 3)
    with db.transaction() as session:
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        head = session.get(AuditChainHead, "main")
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert entries[1].prev_hash == entries[0].entry_hash
    assert entries[2].prev_hash == entries[1].entry_hash
    assert (head.last_seq, head.last_hash) == (3, entries[2].entry_hash)


def test_entries_keep_action_actor_message_and_detail(db: Database):
    with db.transaction() as session:
        record(session, "decision.permit", "worker", "msg-9", destination="directory", basis="s12")
    with db.transaction() as session:
        entry = session.execute(select(AuditEntry)).scalar_one()
    assert (entry.action, entry.actor, entry.message_id) == ("decision.permit", "worker", "msg-9")
    assert entry.detail == {"destination": "directory", "basis": "s12"}


def test_appends_across_transactions_continue_the_chain(db: Database):
    record_entries(db, 2)
    record_entries(db, 2)
    with db.transaction() as session:
        status = verify_chain(session)
    assert (status.intact, status.entries) == (True, 4)


def test_entry_rolls_back_with_the_transaction(db: Database):
    record_entries(db, 2)
    with pytest.raises(RuntimeError), db.transaction() as session:
        record(session, "message.received", "caf-national", "msg-lost")
        raise RuntimeError("the work failed")
    record_entries(db, 1)
    with db.transaction() as session:
        status = verify_chain(session)
        lost = session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.message_id == "msg-lost")
        ).scalar_one()
    assert lost == 0
    assert (status.intact, status.entries) == (True, 3)


def test_altered_detail_breaks_the_chain_at_that_entry(db: Database):
    record_entries(db, 5)
    with db.transaction() as session:
        session.execute(
            update(AuditEntry).where(AuditEntry.seq == 3).values(detail={"number": 999})
        )
    with db.transaction() as session:
        status = verify_chain(session)
    assert status.intact is False
    assert status.broken_at == 3
    assert "altered" in status.problem
    assert status.entries == 2


def test_altered_action_breaks_the_chain_at_that_entry(db: Database):
    record_entries(db, 3)
    with db.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone-else"))
    with db.transaction() as session:
        status = verify_chain(session)
    assert (status.intact, status.broken_at) == (False, 2)
    assert "altered" in status.problem


def test_rewritten_entry_with_recomputed_hash_breaks_the_link_to_the_next(db: Database):
    record_entries(db, 4)
    with db.transaction() as session:
        entry = session.get(AuditEntry, 2)
        forged = {"number": 999}
        entry.detail = forged
        entry.entry_hash = _entry_hash(
            entry.prev_hash, entry.seq, entry.recorded_at, entry.action, entry.actor,
            entry.message_id, forged,
        )
    with db.transaction() as session:
        status = verify_chain(session)
    # entry 2 is self-consistent now, but entry 3 still points at its original hash
    assert (status.intact, status.broken_at) == (False, 3)
    assert "link" in status.problem


def test_broken_link_is_reported_at_the_entry_whose_prev_hash_is_wrong(db: Database):
    record_entries(db, 4)
    with db.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(prev_hash="e" * 64))
    with db.transaction() as session:
        status = verify_chain(session)
    assert (status.intact, status.broken_at) == (False, 3)
    assert "link" in status.problem


def test_deleted_middle_entry_is_reported_missing(db: Database):
    record_entries(db, 5)
    with db.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    with db.transaction() as session:
        status = verify_chain(session)
    assert status.intact is False
    assert status.broken_at == 3
    assert "missing" in status.problem


def test_deleted_first_entry_is_reported_missing(db: Database):
    record_entries(db, 3)
    with db.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 1))
    with db.transaction() as session:
        status = verify_chain(session)
    assert (status.intact, status.broken_at) == (False, 1)
    assert "missing" in status.problem


def test_tampering_is_found_beyond_the_first_batch(db: Database):
    record_entries(db, 7)
    with db.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 6).values(detail={}))
    with db.transaction() as session:
        intact_prefix = verify_chain(session, batch=2)
    assert (intact_prefix.intact, intact_prefix.broken_at, intact_prefix.entries) == (False, 6, 5)


def test_chain_verifies_across_batches(db: Database):
    record_entries(db, 7)
    with db.transaction() as session:
        status = verify_chain(session, batch=2)
    assert (status.intact, status.entries) == (True, 7)


def test_deleted_last_entry_is_detected(db: Database):
    record_entries(db, 3)
    with db.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    with db.transaction() as session:
        status = verify_chain(session)
    assert status.intact is False


def test_empty_log_is_intact(db: Database):
    with db.transaction() as session:
        status = verify_chain(session)
    assert (status.intact, status.entries) == (True, 0)


def test_an_entry_recorded_while_the_commit_writes_the_transactions_changes_is_chained(db: Database):
    with db.transaction() as session:
        record(session, "message.received", "caf-national", "msg-1")

        @event.listens_for(session, "before_flush")
        def while_written(flushing, _context, _instances):  # type: ignore[no-untyped-def]
            if any(isinstance(row, ChildRecord) for row in flushing.new):
                record(flushing, "identity.new-child", "hub", "msg-1", child_id="c-1")

        session.add(ChildRecord(child_id="c-1", created_at=utcnow()))
    with db.transaction() as session:
        actions = session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars().all()
        assert verify_chain(session).intact
    assert actions == ["message.received", "identity.new-child"]
