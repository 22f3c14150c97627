"""The connected-system registry: registration rules and token authentication."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from adapters.registry import default_message_types
from hub.registry import RegistryError, all_systems, authenticate, receivers, register, token_digest
from hub.store.database import Database
from hub.store.tables import AuditEntry, ConnectedSystem

LEAD_CHANGED = "lead-professional-changed"


def test_registered_token_authenticates_its_system(db: Database):
    with db.transaction() as session:
        token = register(session, "caf-national", "National eCAF", "caf_system").token
    with db.transaction() as session:
        system = authenticate(session, token)
    assert system is not None
    assert system.system_id == "caf-national"


def test_wrong_token_authenticates_nobody(db: Database):
    with db.transaction() as session:
        token = register(session, "caf-national", "National eCAF", "caf_system").token
    with db.transaction() as session:
        assert authenticate(session, token + "x") is None
        assert authenticate(session, "") is None


def test_each_token_authenticates_only_its_own_system(db: Database):
    with db.transaction() as session:
        caf = register(session, "caf-national", "National eCAF", "caf_system").token
        directory = register(
            session, "directory", "Directory", "directory", "http://dir.test"
        ).token
    assert caf != directory
    with db.transaction() as session:
        assert authenticate(session, caf).system_id == "caf-national"
        assert authenticate(session, directory).system_id == "directory"


def test_only_the_token_digest_is_stored(db: Database):
    with db.transaction() as session:
        token = register(session, "caf-national", "National eCAF", "caf_system").token
    with db.transaction() as session:
        stored = session.get(ConnectedSystem, "caf-national").token_sha256
    assert stored != token
    assert token not in stored
    assert stored == token_digest(token)
    assert len(stored) == 64


def test_token_is_long_and_random(db: Database):
    with db.transaction() as session:
        first = register(session, "a", "A", "caf_system").token
        second = register(session, "b", "B", "caf_system").token
    assert first != second
    assert len(first) >= 43  # 32 random bytes, URL-safe base64


def test_registration_defaults_to_what_the_kind_can_send_and_receive(db: Database):
    with db.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system")
        register(session, "directory", "Directory", "directory", "http://dir.test/")
    with db.transaction() as session:
        caf = session.get(ConnectedSystem, "caf-national")
        directory = session.get(ConnectedSystem, "directory")
    caf_sends, _ = default_message_types("caf_system")
    _, directory_receives = default_message_types("directory")
    assert LEAD_CHANGED in caf_sends and LEAD_CHANGED in directory_receives
    assert (caf.allowed_in, caf.allowed_out) == (caf_sends, [])
    assert (directory.allowed_in, directory.allowed_out) == ([], directory_receives)
    assert directory.endpoint_url == "http://dir.test"


def test_a_system_registered_without_an_endpoint_only_sends(db: Database):
    with db.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system")
        with pytest.raises(RegistryError, match="needs an endpoint URL"):
            register(session, "caf-local", "Local eCAF", "caf_system",
                     allowed_out=["tac-member-added"])


def test_registration_is_audited(db: Database):
    with db.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system", actor="admin")
    with db.transaction() as session:
        entry = session.execute(select(AuditEntry)).scalar_one()
    assert (entry.action, entry.actor) == ("system.registered", "admin")
    assert entry.detail == {"system": "caf-national", "kind": "caf_system", "profile": "standard"}


def test_receivers_are_the_systems_allowed_the_message_type(db: Database):
    with db.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system")
        register(session, "directory", "Directory", "directory", "http://dir.test")
        register(session, "dir-quiet", "Quiet", "directory", "http://q.test", allowed_out=[])
    with db.transaction() as session:
        assert [s.system_id for s in receivers(session, LEAD_CHANGED)] == ["directory"]
        assert [s.system_id for s in all_systems(session)] == [
            "caf-national", "dir-quiet", "directory",
        ]


def test_unknown_kind_is_refused(db: Database):
    with pytest.raises(RegistryError, match="unknown kind"), db.transaction() as session:
        register(session, "x", "X", "fax_machine")


def test_duplicate_system_id_is_refused(db: Database):
    with db.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system")
    with pytest.raises(RegistryError, match="already registered"), db.transaction() as session:
        register(session, "caf-national", "Another eCAF", "caf_system")


def test_directory_without_endpoint_is_refused(db: Database):
    with pytest.raises(RegistryError, match="endpoint"), db.transaction() as session:
        register(session, "directory", "Directory", "directory")


def test_allowed_in_type_the_kind_cannot_send_is_refused(db: Database):
    with pytest.raises(RegistryError, match="cannot send"), db.transaction() as session:
        register(session, "directory", "Directory", "directory", "http://dir.test",
                 allowed_in=[LEAD_CHANGED])


def test_allowed_in_unknown_message_type_is_refused(db: Database):
    with pytest.raises(RegistryError, match="cannot send"), db.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system",
                 allowed_in=["case-closed"])


def test_allowed_out_type_the_kind_cannot_receive_is_refused(db: Database):
    with pytest.raises(RegistryError, match="cannot receive"), db.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system",
                 allowed_out=[LEAD_CHANGED])


def test_refused_registration_stores_nothing(db: Database):
    with pytest.raises(RegistryError), db.transaction() as session:
        register(session, "directory", "Directory", "directory")
    with db.transaction() as session:
        assert all_systems(session) == []
        assert session.execute(select(AuditEntry)).first() is None
