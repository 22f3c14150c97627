"""Fixtures: a hub wired on either backend, simulated systems, and Hannah's story as data.

``backend`` runs a test on the embedded default (SQLite + kombu's SQLAlchemy transport) and on
the real PostgreSQL and RabbitMQ servers (``HUB_TEST_DATABASE_URL``, ``HUB_TEST_BROKER_URL``;
defaults are the servers this machine starts). The run creates a database of its own on that
server and queues under a prefix of its own, so it shares nothing with anything else there.
A missing server fails those tests; it never skips them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub.api.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.crypto import new_key_spec
from hub.registry import register
from hub.settings import Settings
from hub.worker import Worker
from simulators.directory import DirectorySimulator
from simulators.server import ServerThread

SERVER_ADMIN_URL = os.environ.get(
    "HUB_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SERVER_BROKER_URL = os.environ.get("HUB_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")

BACKENDS = [
    pytest.param("embedded", id="embedded"),
    pytest.param("servers", id="postgres-rabbitmq", marks=pytest.mark.servers),
]


def _autocommit(url: str, *statements: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


@pytest.fixture(scope="session")
def server_database_url() -> Iterator[str]:
    """A database of this test run's own on the PostgreSQL server, dropped at the end."""
    name = f"hub_test_{uuid.uuid4().hex[:10]}"
    _autocommit(SERVER_ADMIN_URL, f'CREATE DATABASE "{name}"')
    try:
        yield str(make_url(SERVER_ADMIN_URL).set(database=name))
    finally:
        _autocommit(SERVER_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(tmp_path: Path, backend: str, database_url: str | None = None,
                  **overrides) -> Settings:  # type: ignore[no-untyped-def]
    values = dict(
        data_dir=tmp_path, queue_prefix=f"test-{uuid.uuid4().hex[:8]}",
        encryption_keys=new_key_spec("test-1"), delivery_max_attempts=3,
        delivery_backoff_initial=0.01, delivery_backoff_max=0.05, relay_interval=0.2,
        delivery_timeout=5.0, mappings_dir=tmp_path / "authority-mappings", breaker_reset=0.5,
    )
    if backend == "servers":
        assert database_url, "the servers backend needs the run's own database"
        _autocommit(database_url, "DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public")
        values.update(database_url=database_url, broker_url=SERVER_BROKER_URL)
    values.update(overrides)
    return Settings(**values)


def delete_queues(hub: Hub, destinations: list[str]) -> None:
    if hub.broker.embedded:
        return
    names = ["inbound", "deadletter"] + [f"deliver.{d}" for d in destinations]
    with hub.broker.connect() as connection:
        channel = connection.channel()
        for name in names:
            channel.queue_delete(f"{hub.settings.queue_prefix}.{name}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def backend_database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("server_database_url") if backend == "servers" else None


@dataclass
class RunningHub:
    hub: Hub
    url: str
    caf_token: str
    directory: DirectorySimulator
    worker: Worker

    @property
    def database(self):  # type: ignore[no-untyped-def]
        return self.hub.database


def caf_and_directory(settings: Settings) -> tuple[Hub, DirectorySimulator, ServerThread, str]:
    """The hub on ``settings``, a simulated directory serving, and the CAF system and the
    directory registered; the CAF system's token. The caller stops the server and closes the hub."""
    directory = DirectorySimulator()
    directory_server = ServerThread(directory.app).start()
    hub = bootstrap(settings, migrate=True)
    with hub.database.transaction() as session:
        caf_token = register(session, "caf-national", "National eCAF", "caf_system").token
        register(session, "directory", "Directory", "directory", directory_server.url)
    return hub, directory, directory_server, caf_token


@pytest.fixture
def running_hub(
    tmp_path: Path, backend: str, backend_database_url: str | None,
) -> Iterator[RunningHub]:
    """The hub's API and workers on ``backend``, a simulated directory, a registered CAF system."""
    hub, directory, directory_server, caf_token = caf_and_directory(
        make_settings(tmp_path, backend, backend_database_url))
    worker = Worker(hub)
    worker.start()
    api = ServerThread(create_app(hub)).start()
    try:
        yield RunningHub(hub, api.url, caf_token, directory, worker)
    finally:
        api.stop()
        worker.stop()
        directory_server.stop()
        delete_queues(hub, ["directory"])
        hub.close()
