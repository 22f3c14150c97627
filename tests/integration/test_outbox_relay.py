"""The outbox relay: rows published after commit are deleted together, none left behind."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import event, func, select

from hub.bootstrap import bootstrap
from hub.store.database import Database
from hub.store.tables import OutboxEntry
from queues import outbox
from queues.outbox import enqueue
from tests.conftest import delete_queues, make_settings


def _rows(hub) -> int:  # type: ignore[no-untyped-def]
    with hub.database.read() as session:
        return session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one()


def _committed(hub, count: int) -> list[OutboxEntry]:  # type: ignore[no-untyped-def]
    entries = []
    for number in range(count):
        with hub.database.transaction() as session:
            entries.append(enqueue(session, "inbound", {"message_id": f"m-{number}"}))
    return entries


def test_published_rows_are_deleted_in_one_statement_soon_after(tmp_path, backend, backend_database_url):
    hub = bootstrap(make_settings(tmp_path, backend, backend_database_url), migrate=True)
    deletes: list[str] = []

    def count_deletes(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("DELETE FROM OUTBOX"):
            deletes.append(statement)

    try:
        entries = _committed(hub, 5)
        event.listen(hub.database.engine, "before_cursor_execute", count_deletes)
        for entry in entries:
            assert hub.relay.flush([entry]) is True
        deadline = time.monotonic() + 5
        while _rows(hub) and time.monotonic() < deadline:
            time.sleep(0.05)

        assert _rows(hub) == 0
        assert len(deletes) == 1  # five flushes, one delete
    finally:
        event.remove(hub.database.engine, "before_cursor_execute", count_deletes)
        delete_queues(hub, [])
        hub.close()


def test_closing_the_hub_deletes_what_was_published(tmp_path, backend, backend_database_url, monkeypatch):
    monkeypatch.setattr(outbox, "FORGET_SECONDS", 60.0)  # the thread would not get to it in time
    settings = make_settings(tmp_path, backend, backend_database_url)
    hub = bootstrap(settings, migrate=True)
    try:
        hub.relay.flush(_committed(hub, 3))
        assert _rows(hub) == 3  # published, not deleted yet
    finally:
        delete_queues(hub, [])
        hub.close()

    store = Database(settings.resolved_database_url)
    try:
        with store.read() as session:
            assert session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one() == 0
    finally:
        store.dispose()


def test_rows_published_but_never_deleted_are_published_again_by_the_sweep(
        tmp_path, backend, backend_database_url, monkeypatch):
    monkeypatch.setattr(outbox, "FORGET_SECONDS", 60.0)
    hub = bootstrap(make_settings(tmp_path, backend, backend_database_url), migrate=True)
    try:
        hub.relay.flush(_committed(hub, 2))  # published; the process dies before deleting them
        hub.relay.grace = timedelta(0)

        assert hub.relay.sweep() == 2  # a worker's sweep publishes them again and deletes them
        assert _rows(hub) == 0
        assert hub.relay.forget_published() == 0  # nothing left to delete: no harm done
        assert _rows(hub) == 0
    finally:
        delete_queues(hub, [])
        hub.close()


def _on_inbound(hub) -> list[str]:  # type: ignore[no-untyped-def]
    """Take every notice waiting on the inbound queue; their message ids."""
    taken: list[str] = []
    with hub.broker.connect() as connection:
        queue = hub.broker.topology.inbound()(connection.default_channel)
        while (message := queue.get(accept=["json"])) is not None:
            taken.append(message.payload["message_id"])
            message.ack()
    return taken


def test_a_flush_publishes_its_rows_together_and_a_failure_leaves_them_for_the_relay(
    tmp_path, backend, backend_database_url, monkeypatch,
):
    hub = bootstrap(make_settings(tmp_path, backend, backend_database_url), migrate=True)
    try:
        hub.broker.declare(["inbound"])
        assert hub.relay.flush(_committed(hub, 4)) is True
        assert sorted(_on_inbound(hub)) == [f"m-{n}" for n in range(4)]

        publish = hub.publisher._publish
        sent: list[str] = []

        def third_fails(producer, routing_key, body):  # type: ignore[no-untyped-def]
            if len(sent) == 2:
                raise ConnectionError("the broker went away")
            publish(producer, routing_key, body)
            sent.append(body["message_id"])

        monkeypatch.setattr(hub.publisher, "_publish", third_fails)
        entries = _committed(hub, 4)
        assert hub.relay.flush(entries) is False
        monkeypatch.undo()

        # the embedded broker commits a flush's notices together: none of them went; RabbitMQ
        # confirmed the two before the failure. Either way what did not go stays for the relay.
        went = _on_inbound(hub)
        assert went == ([] if hub.broker.embedded else ["m-0", "m-1"])
        hub.relay.forget_published()
        with hub.database.read() as session:  # this flush's rows (the first's may be going now)
            kept = session.execute(select(func.count()).select_from(OutboxEntry).where(
                OutboxEntry.entry_id.in_([entry.entry_id for entry in entries]))).scalar_one()
        assert kept == 4 - len(went)
        deadline = time.monotonic() + 5
        while _rows(hub) > kept and time.monotonic() < deadline:
            time.sleep(0.05)
        hub.relay.grace = timedelta(0)
        assert hub.relay.sweep() == 4 - len(went)
        assert sorted(went + _on_inbound(hub)) == [f"m-{n}" for n in range(4)]
    finally:
        delete_queues(hub, [])
        hub.close()
