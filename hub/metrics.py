"""Prometheus metrics of the message path. Labels carry system ids and outcomes, never personal data.

Counters and histograms are updated where the work happens (intake, processing, sharing, the
courier). Queue depths, deliveries waiting and dead letters are read from the broker and the
store when ``/metrics`` is scraped (``exposition``), so every API process reports the same
numbers however many workers there are.

When the hub runs as several processes (``hub serve --processes N``), prometheus_client's
multiprocess mode is on: ``PROMETHEUS_MULTIPROC_DIR`` names a directory, set before any of the
processes starts, where each keeps its counters and histograms in files of its own; a scrape,
answered by any one API process, sums them all, then adds the store's and broker's gauges once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from hub.store.tables import ConnectedSystem, DeadLetter, Delivery, InboxMessage, OutboxEntry

if TYPE_CHECKING:
    from hub.bootstrap import Hub

log = logging.getLogger(__name__)

INBOUND = Counter(
    "hub_inbound_messages_total", "Inbound messages by source system and outcome",
    ["system", "outcome"],
)
PROCESSED = Counter(
    "hub_messages_processed_total", "Inbound messages processed, by flow (message type), source "
    "system and resulting status", ["flow", "system", "status"],
)
PROCESSING_SECONDS = Histogram(
    "hub_processing_seconds", "Time to process one inbound message: identity, decisions, rendering, "
    "planning deliveries", ["flow", "system"],
)
DECISIONS = Counter(
    "hub_sharing_decisions_total", "Sharing decisions by destination and outcome",
    ["destination", "outcome"],
)
CONSENT_DENIALS = Counter(
    "hub_consent_denials_total", "Sharing decisions that refused a disclosure, by destination, "
    "purpose and stage (planning or the re-check at delivery)", ["destination", "purpose", "stage"],
)
DELIVERIES = Counter(
    "hub_deliveries_total", "Deliveries finished by destination and outcome",
    ["destination", "outcome"],
)
ATTEMPTS = Counter(
    "hub_delivery_attempts_total", "Delivery attempts by destination and result",
    ["destination", "result"],
)
DELIVERY_SECONDS = Histogram(
    "hub_delivery_attempt_seconds", "Time of one delivery attempt", ["destination"],
)
DELIVERY_LATENCY = Histogram(
    "hub_delivery_latency_seconds", "From a delivery being planned to it being delivered, by "
    "destination and message type", ["destination", "message_type"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    messages: int | None  # None: the broker did not answer for this queue


def queue_depths(hub: Hub, destinations: list[str]) -> list[QueueDepth]:
    """Messages waiting on the inbound queue, each destination's delivery queue and the dead
    letter channel, as the broker counts them (a passive declare: nothing is created)."""
    keys = ["inbound", *(f"deliver.{d}" for d in destinations), "deadletter"]
    depths = []
    try:
        with hub.broker.connect() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
            channel = connection.channel()
            for key in keys:
                queue = hub.broker.topology.queue(key)
                try:
                    _name, count, _consumers = queue(channel).queue_declare(passive=True)
                except Exception:
                    if not hub.broker.embedded:
                        # a passive declare of a missing queue closes an AMQP channel
                        channel = connection.channel()
                    count = None
                depths.append(QueueDepth(queue.name, count))
    except Exception as error:
        log.warning("queue depths unavailable: %s", type(error).__name__)
        return [QueueDepth(hub.broker.topology.queue(key).name, None) for key in keys]
    return depths


def destinations(hub: Hub) -> list[str]:
    with hub.database.read() as session:
        return list(session.execute(
            select(ConnectedSystem.system_id).where(ConnectedSystem.endpoint_url.is_not(None))
            .order_by(ConnectedSystem.system_id)).scalars())


class StoreCollector(Collector):
    """Gauges read at scrape time: queue depths, deliveries waiting, dead letters, held messages."""

    def __init__(self, hub: Hub):
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("hub_queue_depth", "Messages waiting on a broker queue", labels=["queue"])
        for item in queue_depths(self.hub, destinations(self.hub)):
            if item.messages is not None:
                depth.add_metric([item.queue], item.messages)
        yield depth
        with self.hub.database.read() as session:
            pending = session.execute(
                select(Delivery.destination, func.count()).where(Delivery.status == "pending")
                .group_by(Delivery.destination)).all()
            dead = session.execute(
                select(DeadLetter.destination, func.count()).group_by(DeadLetter.destination)).all()
            held = session.execute(
                select(func.count()).select_from(InboxMessage).where(InboxMessage.status == "held")
            ).scalar_one()
            owed = session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one()
        waiting = GaugeMetricFamily("hub_deliveries_pending", "Deliveries planned and not yet "
                                    "finished, by destination", labels=["destination"])
        for destination, count in pending:
            waiting.add_metric([destination], count)
        yield waiting
        letters = GaugeMetricFamily("hub_dead_letters", "Dead letters waiting for a person (replay "
                                    "or discard), by destination", labels=["destination"])
        for destination, count in dead:
            letters.add_metric([destination], count)
        yield letters
        yield GaugeMetricFamily("hub_messages_held", "Inbound messages held (identity review, no "
                                "consent)", value=held)
        yield GaugeMetricFamily("hub_outbox_owed", "Publishes owed to the broker (outbox rows)", value=owed)


MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory the hub's processes share their counters through, if they do."""
    return os.environ.get(MULTIPROCESS_DIR) or None


def process_ended(pid: int | None = None) -> None:
    """Bookkeeping for a process of a multi-process hub that has stopped (its counters stay)."""
    if multiprocess_dir():
        mark_process_dead(pid or os.getpid())


def exposition(hub: Hub) -> bytes:
    """The counters and histograms (this process's, or every process's summed in multiprocess
    mode), then the store's and broker's gauges, once."""
    path = multiprocess_dir()
    if path:
        counted = CollectorRegistry()
        MultiProcessCollector(counted, path=path)
    else:
        counted = REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(StoreCollector(hub))
    return generate_latest(counted) + generate_latest(scraped)
