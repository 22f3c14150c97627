"""Fixtures of the integration tests beyond the suite's own (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bootstrap import bootstrap
from hub.registry import register
from simulators.directory import DirectorySimulator
from simulators.server import ServerThread
from tests.conftest import delete_queues, make_settings
from tests.integration.quiet import QuietHub


@pytest.fixture
def quiet_hub(tmp_path: Path, backend: str, backend_database_url: str | None) -> Iterator[QuietHub]:
    """The hub with no worker running, a simulated directory and a registered CAF system."""
    directory = DirectorySimulator()
    server = ServerThread(directory.app).start()
    hub = bootstrap(make_settings(tmp_path, backend, backend_database_url), migrate=True)
    with hub.database.transaction() as session:
        register(session, "caf-national", "National eCAF", "caf_system")
        register(session, "directory", "Directory", "directory", server.url)
    try:
        yield QuietHub(hub, directory)
    finally:
        server.stop()
        delete_queues(hub, ["directory"])
        hub.close()
