"""Bearer tokens answered from memory for a few seconds: a revoked or rotated token, or a system
taken out of the registry or changed, is refused or seen changed within that bound, and no later."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import delete, update
from starlette.requests import Request

from hub.api.auth import OPERATOR, RECENT_TOKEN_SECONDS, RecentTokens, caller, recent_tokens
from hub.registry import register, token_digest
from hub.store.database import Database
from hub.store.tables import ConnectedSystem


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(token: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})


@pytest.fixture
def hub(db: Database):  # type: ignore[no-untyped-def]
    """What ``caller`` reads of a hub: its settings and its store; and a clock for its tokens."""
    wired = SimpleNamespace(settings=SimpleNamespace(operator_token="operator-secret"), database=db)
    clock = Clock()
    recent_tokens(wired).clock = clock  # type: ignore[arg-type]
    wired.clock = clock
    return wired


def registered(db: Database, system_id: str = "caf-national") -> str:
    with db.transaction() as session:
        return register(session, system_id, "National eCAF", "caf_system").token


def test_the_bound_is_a_few_seconds():
    assert 0 < RECENT_TOKEN_SECONDS <= 5


def test_a_revoked_token_is_refused_once_its_recent_answer_has_run_out(hub):
    token = registered(hub.database)
    assert caller(hub, request(token)).system_id == "caf-national"
    with hub.database.transaction() as session:  # revoked: its digest no longer in the registry
        session.execute(update(ConnectedSystem).values(token_sha256="0" * 64))

    hub.clock.now += RECENT_TOKEN_SECONDS - 0.01
    assert caller(hub, request(token)) is not None, "answered from memory within the bound"
    hub.clock.now += 0.01
    assert caller(hub, request(token)) is None
    assert caller(hub, request(token)) is None


def test_a_rotated_token_is_refused_within_the_bound_and_the_new_one_works_at_once(hub):
    old = registered(hub.database)
    new = "a-new-token-for-caf-national-" + "x" * 20
    assert caller(hub, request(old)) is not None
    with hub.database.transaction() as session:
        session.execute(update(ConnectedSystem).values(token_sha256=token_digest(new)))

    assert caller(hub, request(new)).system_id == "caf-national"
    hub.clock.now += RECENT_TOKEN_SECONDS
    assert caller(hub, request(old)) is None
    assert caller(hub, request(new)).system_id == "caf-national"


def test_a_system_removed_from_the_registry_is_refused_within_the_bound(hub):
    token = registered(hub.database, "partner")
    assert caller(hub, request(token)) is not None
    with hub.database.transaction() as session:
        session.execute(delete(ConnectedSystem).where(ConnectedSystem.system_id == "partner"))

    hub.clock.now += RECENT_TOKEN_SECONDS
    assert caller(hub, request(token)) is None


def test_a_change_to_what_a_system_may_send_is_seen_within_the_bound(hub):
    token = registered(hub.database)
    assert caller(hub, request(token)).allowed_in != []
    with hub.database.transaction() as session:
        session.execute(update(ConnectedSystem).values(allowed_in=[]))

    hub.clock.now += RECENT_TOKEN_SECONDS
    assert caller(hub, request(token)).allowed_in == []


def test_the_bound_counts_from_before_the_store_was_read(hub):
    token = registered(hub.database)
    slow_read = hub.clock.now

    def read_takes_two_seconds():  # type: ignore[no-untyped-def]
        hub.clock.now = slow_read + 2.0
        return original()

    original = hub.database.read
    hub.database.read = read_takes_two_seconds
    try:
        assert caller(hub, request(token)) is not None
    finally:
        hub.database.read = original
    digest = token_digest(token)
    hub.clock.now = slow_read + RECENT_TOKEN_SECONDS
    assert recent_tokens(hub).get(digest) is None


def test_unknown_tokens_are_not_kept_and_the_token_itself_never_is(hub):
    token = registered(hub.database)
    assert caller(hub, request("not-a-token")) is None
    assert len(recent_tokens(hub)) == 0
    caller(hub, request(token))
    assert recent_tokens(hub).digests() == [token_digest(token)]
    assert caller(hub, request("operator-secret")) == OPERATOR
    assert len(recent_tokens(hub)) == 1


def test_a_burst_from_one_system_reads_the_store_once(hub):
    token = registered(hub.database)
    reads = []
    original = hub.database.read

    def counted():  # type: ignore[no-untyped-def]
        reads.append(1)
        return original()

    hub.database.read = counted
    try:
        for _ in range(20):
            assert caller(hub, request(token)).system_id == "caf-national"
        hub.clock.now += RECENT_TOKEN_SECONDS
        caller(hub, request(token))
    finally:
        hub.database.read = original
    assert len(reads) == 2


def test_the_kept_answers_are_bounded_in_number_and_expired_ones_go_first():
    clock = Clock()
    recent = RecentTokens(lifetime=5.0, limit=3, clock=clock)
    system = ConnectedSystem(system_id="s")
    for n in range(3):
        recent.keep(f"d{n}", system, clock())
        clock.now += 2.0
    # d0 kept at 1000 has run out at 1006; d1 (1002) and d2 (1004) have not
    recent.keep("d3", system, clock())
    assert recent.digests() == ["d1", "d2", "d3"]
    recent.keep("d4", system, clock())
    assert recent.digests() == ["d2", "d3", "d4"]
    assert len(recent) == 3
