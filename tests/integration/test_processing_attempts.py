"""Processing attempts: each is counted once before it starts, a message already processed is
recognised without counting another, and one out of attempts is set aside, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from hub.bootstrap import bootstrap
from hub.registry import register
from hub.store.tables import AuditEntry, ConnectedSystem, InboxMessage
from simulators.hannah import melanie_agreed
from tests.conftest import delete_queues, make_settings


@pytest.fixture
def hub(tmp_path: Path, backend: str, backend_database_url: str | None):  # type: ignore[no-untyped-def]
    hub = bootstrap(make_settings(tmp_path, backend, backend_database_url), migrate=True)
    with hub.database.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system")
        register(session, "directory", "Directory", "directory", "http://directory.test")
    yield hub
    delete_queues(hub, ["directory"])
    hub.close()


def accept(hub, body: bytes) -> str:  # type: ignore[no-untyped-def]
    with hub.database.read() as session:
        caf = session.get(ConnectedSystem, "caf-national")
    return hub.intake.accept(caf, body, "application/xml").message_id


def inbox(hub, message_id: str) -> InboxMessage:  # type: ignore[no-untyped-def]
    with hub.database.read() as session:
        return session.get(InboxMessage, message_id)


def test_an_attempt_is_counted_once_and_a_processed_message_is_not_counted_again(hub):
    message_id = accept(hub, melanie_agreed("attempt-1"))

    assert hub.processor.process(message_id) == "processed"
    first = inbox(hub, message_id)
    assert (first.status, first.attempts) == ("processed", 1)
    assert first.lease_until is not None and first.processed_at is not None
    assert first.hold_reason is None

    assert hub.processor.process(message_id) == "processed"
    assert inbox(hub, message_id).attempts == 1
    assert hub.processor.process("no-such-message") == "unknown"


def test_a_message_out_of_attempts_is_set_aside(hub):
    message_id = accept(hub, melanie_agreed("attempt-2"))
    with hub.database.transaction() as session:
        session.execute(update(InboxMessage).where(InboxMessage.message_id == message_id)
                        .values(attempts=hub.settings.processing_max_attempts))

    assert hub.processor.process(message_id) == "poisoned"
    row = inbox(hub, message_id)
    assert (row.status, row.attempts) == ("poisoned", hub.settings.processing_max_attempts)
    with hub.database.read() as session:
        audited = session.execute(select(AuditEntry.action).where(
            AuditEntry.message_id == message_id)).scalars().all()
    assert "message.poisoned" in audited and "message.held" not in audited
    assert hub.processor.process(message_id) == "poisoned"
