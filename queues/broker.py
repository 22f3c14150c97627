"""Broker connections for the configured URL: RabbitMQ with publisher confirms, or embedded SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kombu import Connection

from queues.topology import Topology

EMBEDDED_PREFIX = "sqla+sqlite:///"


class Broker:
    def __init__(self, url: str, prefix: str):
        self.url = url
        self.embedded = url.startswith("sqla+")
        self.topology = Topology(prefix=prefix, quorum=url.startswith(("amqp", "pyamqp")))
        if url.startswith(EMBEDDED_PREFIX):
            _prepare_embedded_file(Path(url.removeprefix(EMBEDDED_PREFIX)))

    def connect(self) -> Connection:
        if self.embedded:
            options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
        else:
            options = {"confirm_publish": True}
        return Connection(self.url, transport_options=options, heartbeat=0 if self.embedded else 30)

    def declare(self, routing_keys: list[str]) -> None:
        with self.connect() as connection:
            channel = connection.default_channel
            for key in routing_keys:
                self.topology.queue(key)(channel).declare()


def _prepare_embedded_file(path: Path) -> None:
    """Create the embedded broker's file in WAL mode so readers never block the publisher."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
