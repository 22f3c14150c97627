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
