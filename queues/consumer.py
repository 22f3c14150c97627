"""A queue consumer that acknowledges a message only after its handler's transaction committed.

If the handler raises (the database is away, say, or the worker is stopping and let the work go),
the message is put back and retried after a pause rather than acknowledged: the broker keeps it
until the work is really done. A consumer killed before its ack leaves the message with the
broker (RabbitMQ redelivers it; for the embedded transport the store's takeover sweep announces
the work again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection, Message, Queue
from kombu.mixins import ConsumerMixin

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Any]


class QueueConsumer(ConsumerMixin):
    def __init__(
        self, connection: Connection, queue: Queue, handler: Handler, prefetch: int = 8,
        requeue_pause: float = 1.0,
    ):
        self.connection = connection
        self.queue = queue
        self.handler = handler
        self.prefetch = prefetch
        self.requeue_pause = requeue_pause

    def get_consumers(self, consumer_cls, channel):  # type: ignore[no-untyped-def]
        return [consumer_cls(
            queues=[self.queue], callbacks=[self.on_message], accept=["json"],
            prefetch_count=self.prefetch,
        )]

    def on_message(self, body: dict[str, Any], message: Message) -> None:
        try:
            self.handler(body)
        except Exception as error:
            log.warning(
                "handler on %s failed (%s); message returned to the queue",
                self.queue.name, type(error).__name__,
            )
            if not self.should_stop:
                time.sleep(self.requeue_pause)
            message.requeue()
            return
        message.ack()

    def stop(self) -> None:
        self.should_stop = True
