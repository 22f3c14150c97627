"""Exchanges and queues: inbound, one delivery queue per destination, and the dead letter channel."""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue

INBOUND = "inbound"
DEAD_LETTER = "deadletter"


def delivery_key(destination: str) -> str:
    return f"deliver.{destination}"


@dataclass(frozen=True)
class Topology:
    prefix: str
    quorum: bool

    @property
    def exchange(self) -> Exchange:
        return Exchange(self.prefix, type="direct", durable=True)

    def queue(self, routing_key: str) -> Queue:
        arguments = {"x-queue-type": "quorum"} if self.quorum else None
        return Queue(
            f"{self.prefix}.{routing_key}", exchange=self.exchange, routing_key=routing_key,
            durable=True, auto_delete=False, queue_arguments=arguments,
        )

    def inbound(self) -> Queue:
        return self.queue(INBOUND)

    def delivery(self, destination: str) -> Queue:
        return self.queue(delivery_key(destination))

    def dead_letter(self) -> Queue:
        return self.queue(DEAD_LETTER)
