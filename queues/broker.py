"""Broker connections for the configured URL: RabbitMQ with publisher confirms, or embedded SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kombu import Connection
from kombu.transport import sqlalchemy
from kombu.utils.json import dumps

from queues.topology import Topology

EMBEDDED_PREFIX = "sqla+sqlite:///"
# How often an idle consumer of the embedded broker looks for new messages (kombu's default is
# once a second, which put up to a second on every hop of a message through the hub). A
# consumer with messages waiting takes them without pausing; polling is only the idle cost.
EMBEDDED_POLL_SECONDS = 0.05


class EmbeddedChannel(sqlalchemy.Channel):
    """kombu's SQLAlchemy channel, which can publish several messages in one transaction
    (``together``) instead of committing each: a burst of notices costs one commit."""

    _together = False

    def _put(self, queue, payload, **kwargs):  # type: ignore[no-untyped-def]
        if not self._together:
            return super()._put(queue, payload, **kwargs)
        self.session.add(self.message_cls(dumps(payload), self._get_or_create(queue)))
        return None

    @contextmanager
    def together(self) -> Iterator[None]:
        """Messages published inside commit when it ends, all of them, or none if it fails."""
        self._together = True
        try:
            yield
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        finally:
            self._together = False


class EmbeddedTransport(sqlalchemy.Transport):
    """kombu's SQLAlchemy transport, polling as often as the hub needs. (It hands every
    transport option to ``create_engine``, so the interval cannot be passed as one.)"""

    Channel = EmbeddedChannel
    polling_interval = EMBEDDED_POLL_SECONDS


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
        if self.embedded:
            return Connection(self.url.removeprefix("sqla+"), transport=EmbeddedTransport,
                              transport_options=options, heartbeat=0)
        return Connection(self.url, transport_options=options, heartbeat=30)

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
