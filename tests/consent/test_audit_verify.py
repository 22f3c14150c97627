"""``hub audit verify`` passes on a clean log and names the position of an entry edited, deleted or
swapped directly in the database, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import delete, update
from typer.testing import CliRunner

from hub.audit import record
from hub.bootstrap import Hub, bootstrap
from hub.cli import app
from hub.store.tables import AuditEntry
from tests.conftest import make_settings

runner = CliRunner()


@pytest.fixture
def audited(tmp_path: Path, backend: str, backend_database_url: str | None,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """A store with five audit entries, and the CLI pointed at it."""
    settings = make_settings(tmp_path, backend, backend_database_url)
    hub = bootstrap(settings, migrate=True)
    with hub.database.transaction() as session:
        for number in range(1, 6):
            record(session, "message.received", "caf-national", f"msg-{number}", number=number)
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setattr("hub.cli_consent.console", Console(width=200))
    try:
        yield hub
    finally:
        hub.close()


def verify() -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify"])
    return result.exit_code, " ".join(result.output.split())


def test_audit_verify_passes_on_a_clean_log(audited: Hub):
    assert verify() == (0, "audit chain intact: 5 entries verified")


def test_audit_verify_names_an_entry_edited_in_the_database(audited: Hub):
    with audited.database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(detail={"number": 30}))

    assert verify() == (1, "audit chain BROKEN at entry 3: the entry was altered (2 verified before it)")


def test_audit_verify_names_an_entry_deleted_from_the_database(audited: Hub):
    with audited.database.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 4))

    assert verify() == (1, "audit chain BROKEN at entry 4: an entry is missing (3 verified before it)")


def test_audit_verify_names_the_place_of_two_entries_swapped_in_the_database(audited: Hub):
    with audited.database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=-2))
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
        session.execute(update(AuditEntry).where(AuditEntry.seq == -2).values(seq=3))

    assert verify() == (
        1, "audit chain BROKEN at entry 2: the link to the previous entry is broken (1 verified before it)"
    )


def test_audit_verify_notices_the_newest_entry_removed(audited: Hub):
    with audited.database.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))

    assert verify() == (
        1, "audit chain BROKEN at entry 5: the newest entries are missing or altered (4 verified before it)"
    )
