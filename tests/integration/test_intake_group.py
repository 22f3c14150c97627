"""Messages accepted together are written together: a burst of concurrent requests takes fewer
transactions than messages, each request answered only once its row is in; a resubmission in a
group gets the original's tracking id and does not stop the others; a group the store refuses
fails every request in it and keeps nothing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from hub import intake_group
from hub.bootstrap import Hub, bootstrap
from hub.registry import register
from hub.store.tables import AuditEntry, ConnectedSystem, InboxMessage, OutboxEntry
from simulators.caf_system import ChildSpec, involvement_changed
from simulators.hannah import LEE
from tests.conftest import delete_queues, make_settings

CLIENTS = 8


@pytest.fixture
def hub(tmp_path: Path, backend: str, backend_database_url: str | None) -> Iterator[Hub]:
    hub = bootstrap(make_settings(tmp_path, backend, backend_database_url), migrate=True)
    with hub.database.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system")
    try:
        yield hub
    finally:
        delete_queues(hub, [])
        hub.close()


def caf_system(hub: Hub) -> ConnectedSystem:
    with hub.database.read() as session:
        system = session.get(ConnectedSystem, "caf-national")
        session.expunge(system)
    return system


def update(index: int, message_id: str | None = None) -> bytes:
    run = uuid.uuid4().hex[:6]
    child = ChildSpec(caf_child_id=f"CAF-G-{run}-{index}", given="Ali", family=f"Group{index}",
                      date_of_birth="2015-06-01", gender="2", directory_id=f"DIR-G-{run}-{index}")
    return involvement_changed(child, "Northfield Youth Service", 1, practitioner=LEE,
                               start=date.today().isoformat(), message_id=message_id)


def commits_of(hub: Hub, work) -> int:  # type: ignore[no-untyped-def]
    seen: list[int] = []

    def count(_connection) -> None:  # type: ignore[no-untyped-def]
        seen.append(1)

    event.listen(hub.database.engine, "commit", count)
    try:
        work()
    finally:
        event.remove(hub.database.engine, "commit", count)
    return len(seen)


def accept_all(hub: Hub, bodies: list[bytes]) -> list:  # type: ignore[type-arg]
    system = caf_system(hub)
    start = threading.Barrier(len(bodies))

    def one(body: bytes):  # type: ignore[no-untyped-def]
        start.wait()
        return hub.intake.accept(system, body, "application/xml")

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_a_burst_of_requests_shares_transactions_and_every_message_is_kept(hub):
    bodies = [update(n) for n in range(4 * CLIENTS)]
    results: list = []
    commits = commits_of(hub, lambda: results.extend(
        accepted for part in range(4)
        for accepted in accept_all(hub, bodies[part * CLIENTS:(part + 1) * CLIENTS])))

    ids = [accepted.message_id for accepted in results]
    assert len(set(ids)) == 4 * CLIENTS and not any(accepted.duplicate for accepted in results)
    assert commits < 4 * CLIENTS  # one transaction a message would be 32 commits
    with hub.database.read() as session:
        assert session.execute(select(func.count()).select_from(InboxMessage)
                               .where(InboxMessage.message_id.in_(ids))).scalar_one() == len(ids)
        received = session.execute(select(AuditEntry.message_id)
                                   .where(AuditEntry.action == "message.received")).scalars().all()
        assert sorted(received) == sorted(ids)


def test_a_resubmission_in_a_group_gets_the_original_and_the_others_go_ahead(hub):
    system = caf_system(hub)
    first = hub.intake.accept(system, update(0, message_id="CAF-MSG-G-1"), "application/xml")
    again = update(0, message_id="CAF-MSG-G-1")
    twice = update(1, message_id="CAF-MSG-G-2")

    results = accept_all(hub, [again, twice, twice, *(update(n) for n in range(2, CLIENTS + 1))])

    assert (results[0].message_id, results[0].duplicate) == (first.message_id, True)
    pair = sorted(results[1:3], key=lambda accepted: accepted.duplicate)
    assert [accepted.duplicate for accepted in pair] == [False, True]
    assert pair[0].message_id == pair[1].message_id
    assert not any(accepted.duplicate for accepted in results[3:])
    with hub.database.read() as session:
        kept = session.execute(select(InboxMessage.source_message_id)).scalars().all()
    assert kept.count("CAF-MSG-G-1") == 1 and kept.count("CAF-MSG-G-2") == 1
    assert len(kept) == 2 + CLIENTS - 1


def test_a_group_the_store_refuses_fails_every_request_and_keeps_nothing(hub, monkeypatch):
    refusing = threading.Event()
    real_record = intake_group.record

    def record(session, action, *args, **detail):  # type: ignore[no-untyped-def]
        if refusing.is_set():  # inside the group's transaction: it is rolled back
            raise OperationalError("INSERT INTO audit_log", {}, Exception("the store went away"))
        return real_record(session, action, *args, **detail)

    monkeypatch.setattr(intake_group, "record", record)
    system = caf_system(hub)
    with hub.database.read() as session:
        before = session.execute(select(func.count()).select_from(InboxMessage)).scalar_one()
    refusing.set()
    start = threading.Barrier(CLIENTS)

    def one(body: bytes):  # type: ignore[no-untyped-def]
        start.wait()
        return hub.intake.accept(system, body, "application/xml")

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(one, update(n)) for n in range(CLIENTS)]
    assert all(isinstance(future.exception(), OperationalError) for future in futures)
    with hub.database.read() as session:
        assert session.execute(select(func.count()).select_from(InboxMessage)).scalar_one() == before
        assert session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one() == 0

    refusing.clear()
    accepted = hub.intake.accept(system, update(99), "application/xml")
    with hub.database.read() as session:
        assert session.execute(select(func.count()).select_from(InboxMessage)).scalar_one() == before + 1
        assert session.get(InboxMessage, accepted.message_id) is not None
