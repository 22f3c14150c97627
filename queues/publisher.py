"""The publisher: sends identifiers to the broker and waits for the broker to take them.

On RabbitMQ each publish waits for the publisher confirm; on the embedded transport the
insert has committed when ``publish`` returns (``publish_many`` commits a burst of them in one
transaction). One connection and producer are kept per
publisher and shared under a lock, so a burst of requests does not open a connection each.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from kombu import Connection, Producer

from queues.broker import Broker

log = logging.getLogger(__name__)
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
            self._publish(self._ensure_producer(), routing_key, body)

    def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> int:
        """Publish ``(routing key, body)`` pairs in order; how many the broker has taken. On
        RabbitMQ each waits for its confirm, and those before a failure are taken; the embedded
        broker commits them together, so it takes all of them or none."""
        if not messages:
            return 0
        taken, together = 0, None
        with self._lock:
            try:
                producer = self._ensure_producer()
                together = getattr(producer.channel, "together", None)
                with together() if together is not None else contextlib.nullcontext():
                    for routing_key, body in messages:
                        self._publish(producer, routing_key, body)
                        taken += 1
            except Exception as error:
                if together is not None:
                    taken = 0  # rolled back together
                log.warning("publish failed; %d of %d taken: %s", taken, len(messages),
                            type(error).__name__)
        return taken

    def _publish(self, producer: Producer, routing_key: str, body: dict[str, Any]) -> None:
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
