"""Fixtures of the integration tests beyond the suite's own (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import caf_and_directory, delete_queues, make_settings
from tests.integration.quiet import QuietHub


@pytest.fixture
def quiet_hub(tmp_path: Path, backend: str, backend_database_url: str | None) -> Iterator[QuietHub]:
    """The hub with no worker running, a simulated directory and a registered CAF system."""
    hub, directory, server, _token = caf_and_directory(
        make_settings(tmp_path, backend, backend_database_url))
    try:
        yield QuietHub(hub, directory)
    finally:
        server.stop()
        delete_queues(hub, ["directory"])
        hub.close()
