"""The hub's record of what the directories show: updates about a child apply in version order.

Property: whatever order lead professional updates arrive in, and however often each is repeated,
the record ends at the newest, and the updates it lets through to the directories form a strictly
increasing sequence (so an older one never follows a newer one out of the hub). Involvements are
one subject per service, the CAF indicator another; each is ordered on its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.canonical import Envelope, Purpose, utcnow
from hub.canonical.casework import Involvement
from hub.canonical.events import CafIndicatorChanged, InvolvementChanged, LeadProfessionalChanged
from hub.canonical.people import Child, ChildIdentifiers, Gender, PersonName, Practitioner
from hub.crypto import KeyRing, new_key_spec
from hub.directory_state import DirectoryEntry, DirectoryState
from hub.store.database import Database
from hub.store.migrate import upgrade
from hub.store.tables import ChildRecord, ConnectedSystem, InboxMessage
from tests.conftest import _autocommit

HANNAH = Child(identifiers=ChildIdentifiers(nhs_number="9434765919", directory_id="DIR-7781"),
               name=PersonName(given="Hannah", family="Example"), date_of_birth=date(2011, 3, 14),
               gender=Gender.FEMALE)
AGREED = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
KEYRING = KeyRing.parse(new_key_spec("unit-1"))
STATE = DirectoryState(KEYRING, b"unit-test-secret")


def lead(version: int, who: str = "P-MEL-01") -> Envelope:
    event = LeadProfessionalChanged(
        child=HANNAH, episode_id="EP-2031", episode_version=version, agreed_at=AGREED,
        lead_professional=Practitioner(practitioner_id=who, name=PersonName(given=who, family="X")),
    )
    return envelope(event)


def envelope(event) -> Envelope:  # type: ignore[no-untyped-def]
    return Envelope(correlation_id="c", source_system="caf-national", source_message_id="m",
                    message_type=event.event_type, message_version="1", occurred_at=AGREED,
                    purpose=Purpose.DIRECTORY_UPDATE, payload=event)


def fresh(path: Path) -> Database:
    return fresh_at(f"sqlite:///{path}")


def fresh_at(url: str) -> Database:
    database = Database(url)
    upgrade(database)
    with database.transaction() as session:
        session.add(ConnectedSystem(system_id="caf-national", name="CAF", kind="caf_system",
                                    token_sha256="0" * 64, allowed_in=[], allowed_out=[],
                                    registered_at=utcnow()))
        session.add(ChildRecord(child_id="child-1", created_at=utcnow()))
        session.add(InboxMessage(message_id="msg-1", source_system="caf-national", source_message_id="m",
                                 correlation_id="c", message_type="directory-update",
                                 status="accepted", received_at=utcnow(), key_id="k",
                                 envelope_sealed=b"", raw_sealed=b""))
    return database


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=25).flatmap(
    lambda versions: st.permutations(versions + versions[: len(versions) // 2])))
def test_reordered_and_repeated_updates_end_at_the_newest_and_pass_in_increasing_order(
    tmp_path_factory, arrivals,
):
    database = fresh(tmp_path_factory.mktemp("order") / "t.db")
    passed = []
    with database.transaction() as session:
        for version in arrivals:
            applied = STATE.apply(session, "child-1", lead(version), "msg-1")
            if applied.applied:
                passed.append(version)
        entry = session.get(DirectoryEntry, ("child-1", "lead-professional"))
        held = STATE.envelope(entry).payload
    database.dispose()

    assert held.episode_version == max(arrivals)
    assert passed == sorted(set(passed)), "an older update followed a newer one"
    assert passed[0] == arrivals[0] and passed[-1] == max(arrivals)


def test_a_duplicate_is_recognised_and_an_older_update_named_as_such(tmp_path):
    db = fresh(tmp_path / "t.db")
    with db.transaction() as session:
        first = STATE.apply(session, "child-1", lead(5), "msg-1")
        again = STATE.apply(session, "child-1", lead(5), "msg-1")
        older = STATE.apply(session, "child-1", lead(4, "P-LEE-02"), "msg-1")
        rival = STATE.apply(session, "child-1", lead(5, "P-LEE-02"), "msg-1")

    assert (first.applied, first.child_version) == (True, 1)
    assert (again.applied, again.reason) == (False, "a duplicate of version 5, already recorded")
    assert (older.applied, older.reason) == (False, "version 4 is not newer than version 5 already recorded")
    assert not rival.applied and again.child_version == older.child_version == 1


def test_each_involvement_and_the_caf_indicator_are_ordered_on_their_own(tmp_path):
    db = fresh(tmp_path / "t.db")

    def involvement(service: str, version: int, ended: bool = False) -> Envelope:
        start = date(2026, 10, 1)
        return envelope(InvolvementChanged(child=HANNAH, version=version, involvement=Involvement(
            service=service, start=start, end=start + timedelta(days=30) if ended else None)))

    indicator = envelope(CafIndicatorChanged(
        child=HANNAH, episode_id="EP-2031", version=6,
        contact=Practitioner(practitioner_id="P-MEL-01", name=PersonName(given="Melanie", family="Mentor"))))
    with db.transaction() as session:
        results = [STATE.apply(session, "child-1", e, "msg-1") for e in (
            involvement("Youth service", 10), involvement("Children's social care", 3),
            involvement("Youth service", 12, ended=True), involvement("Youth service", 11),
            indicator, involvement("children's social care ", 2))]
        subjects = {entry.subject for entry in STATE.entries(session, ["child-1"])}

    assert [r.applied for r in results] == [True, True, True, False, True, False]
    assert [r.child_version for r in results] == [1, 2, 3, 3, 4, 4]
    assert len(subjects) == 3 and "caf-indicator" in subjects
    assert all("social" not in subject and "Youth" not in subject for subject in subjects), \
        "the store never names a service"


def test_an_entry_loaded_before_an_update_is_applied_reads_as_updated(tmp_path):
    db = fresh(tmp_path / "t.db")
    with db.transaction() as session:
        STATE.apply(session, "child-1", lead(3), "msg-1")
        loaded = session.get(DirectoryEntry, ("child-1", "lead-professional"))
        assert STATE.envelope(loaded).payload.episode_version == 3
        STATE.apply(session, "child-1", lead(4, "P-LEE-02"), "msg-1")
        again = session.get(DirectoryEntry, ("child-1", "lead-professional"))
        assert (again.version, again.child_version) == (4, 2)
        assert STATE.envelope(again).payload.lead_professional.practitioner_id == "P-LEE-02"
        assert STATE.current(session, "child-1", lead(1).payload).payload.episode_version == 4


@pytest.mark.servers
@pytest.mark.parametrize("before", [None, 3])
def test_what_a_transaction_read_before_another_changed_the_child_is_read_again_under_the_lock(
    server_database_url, before,
):
    _autocommit(server_database_url, "DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public")
    db = fresh_at(server_database_url)
    try:
        if before is not None:
            with db.transaction() as session:
                STATE.apply(session, "child-1", lead(before), "msg-1")
        with db.transaction() as first:
            seen = STATE.current(first, "child-1", lead(1).payload)
            assert (seen.payload.episode_version if seen else None) == before
            with db.transaction() as second:
                STATE.apply(second, "child-1", lead(5), "msg-1")
            older = STATE.apply(first, "child-1", lead(4, "P-LEE-02"), "msg-1")
            newer = STATE.apply(first, "child-1", lead(6, "P-LEE-02"), "msg-1")
        with db.read() as session:
            held = STATE.entries(session, ["child-1"])
    finally:
        db.dispose()
    changes = 1 if before is None else 2
    assert (older.applied, older.reason) == (False, "version 4 is not newer than version 5 already recorded")
    assert older.child_version == changes
    assert (newer.applied, newer.child_version) == (True, changes + 1)
    assert [(entry.version, entry.child_version) for entry in held] == [(6, changes + 1)]
