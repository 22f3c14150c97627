"""Fixtures for the unit tests: a migrated SQLite store in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.store.database import Database
from hub.store.migrate import upgrade


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    upgrade(database)
    try:
        yield database
    finally:
        database.dispose()
