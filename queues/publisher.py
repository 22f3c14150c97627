"""The publisher: sends identifiers to the broker and waits for the broker to take them.

On RabbitMQ each publish waits for the publisher confirm; on the embedded transport the
insert has committed when ``publish`` returns. One connection and producer are kept per
publisher and shared under a lock, so a burst of requests does not open a connection each.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from kombu import Connection, Producer

from queues.broker import Broker

RETRY_POLICY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}


class Publisher:
    def __init__(self, broker: Broker):
        self.broker = broker
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._declared: set[str] = set()

    def publish(self, routing_key: str, body: dict[str, Any]) -> None:
        with self._lock:
            producer = self._ensure_producer()
            queue = self.broker.topology.queue(routing_key)
            declare = [] if routing_key in self._declared else [queue]
            try:
                producer.publish(
                    body, exchange=self.broker.topology.exchange, routing_key=routing_key,
                    serializer="json", delivery_mode=2, declare=declare,
                    retry=True, retry_policy=RETRY_POLICY,
                )
            except Exception:
                self._reset()
                raise
            self._declared.add(routing_key)

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._connection = self.broker.connect()
            self._producer = Producer(self._connection.default_channel)
        return self._producer

    def _reset(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # the connection is already broken
                self._connection.release()
        self._connection, self._producer = None, None
        self._declared.clear()

    def close(self) -> None:
        with self._lock:
            self._reset()
