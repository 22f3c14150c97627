"""The queue consumer: it acknowledges messages only after its handler's transaction committed.

If the handler raises (the database is away, say, or the worker is stopping and let the work go),
the message is put back and retried after a pause rather than acknowledged: the broker keeps it
until the work is really done. A consumer killed before its ack leaves the message with the
broker (RabbitMQ redelivers it; for the embedded transport the store's takeover sweep announces
the work again).

It hands its handler every message already waiting, up to ``batch`` of them,
so that the handler can do their work in a few statements and transactions instead of a round
of each per message. It waits for more only ``gather`` seconds after the last one arrived: a
lone message is not held back for a batch that is not coming. The batch is acknowledged
together once the handler returns, or put back together if it raises (a handler must therefore
be safe to run again for messages it had already finished, as every handler in the hub is).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from kombu import Connection, Message, Queue
from kombu.mixins import ConsumerMixin

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[dict[str, Any]]], Any]
GATHER_SECONDS = 0.002


class BatchConsumer(ConsumerMixin):
    """Hands ``batch_handler`` the messages waiting on the queue, up to ``batch`` at a time."""

    def __init__(
        self, connection: Connection, queue: Queue, batch_handler: BatchHandler, batch: int = 32,
        requeue_pause: float = 1.0, gather: float = GATHER_SECONDS,
    ):
        self.connection = connection
        self.queue = queue
        self.batch_handler = batch_handler
        self.batch = batch
        self.requeue_pause = requeue_pause
        self.gather = gather
        self._waiting: list[tuple[dict[str, Any], Message]] = []

    def get_consumers(self, consumer_cls, channel):  # type: ignore[no-untyped-def]
        return [consumer_cls(
            queues=[self.queue], callbacks=[self.on_message], accept=["json"],
            prefetch_count=self.batch,
        )]

    def on_message(self, body: dict[str, Any], message: Message) -> None:
        self._waiting.append((body, message))

    def stop(self) -> None:
        self.should_stop = True

    def consume(self, limit=None, timeout=None, safety_interval=1, **kwargs) -> Iterator[None]:  # type: ignore[no-untyped-def]
        """kombu's loop, except that a message is not handled as it arrives: the waiting ones
        are handled together once the queue has nothing more at hand or the batch is full."""
        with self.consumer_context(**kwargs) as (conn, _channel, _consumers):
            self._waiting.clear()  # unacknowledged messages of a lost connection come back anyway
            while not self.should_stop:
                self.on_iteration()
                try:
                    conn.drain_events(timeout=self.gather if self._waiting else safety_interval)
                except TimeoutError:  # socket.timeout: nothing arrived in time
                    if self._waiting:
                        self._hand_on()
                    else:
                        conn.heartbeat_check()
                except OSError:
                    if not self.should_stop:
                        raise
                    return
                else:
                    if len(self._waiting) >= self.batch:
                        self._hand_on()
                yield None

    def _hand_on(self) -> None:
        waiting, self._waiting = self._waiting, []
        try:
            self.batch_handler([body for body, _ in waiting])
        except Exception as error:
            self._requeue([message for _, message in waiting], error)
            return
        for _, message in waiting:
            message.ack()

    def _requeue(self, messages: list[Message], error: Exception) -> None:
        log.warning(
            "handler on %s failed (%s); %d message(s) returned to the queue",
            self.queue.name, type(error).__name__, len(messages),
        )
        if not self.should_stop:
            time.sleep(self.requeue_pause)
        for message in messages:
            message.requeue()
