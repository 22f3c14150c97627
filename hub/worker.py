"""The worker: consumes inbound messages and per-destination deliveries, runs the outbox relay
and takes over work whose notice was lost or whose worker died.

Each queue gets its own thread and broker connection, so a slow or failing destination only
holds up its own queue. Inbound messages and a destination's deliveries are taken a batch at a
time, as many as are waiting up to ``INBOUND_BATCH`` and ``DELIVERY_BATCH``. New receiving
systems are picked up while running. ``stop`` (on SIGTERM) lets every thread finish the batch in
hand (acknowledged only once committed); a delivery waiting between attempts is let go instead,
its lease ended and its notice put back on the queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import httpx
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import DBAPIError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from hub.bootstrap import Hub
from hub.registry import all_systems
from hub.takeover import Takeover
from queues.consumer import BatchConsumer

log = logging.getLogger(__name__)

DESTINATION_REFRESH_SECONDS = 5.0
DELIVERY_BATCH = 32  # deliveries to one destination taken at a time (``Courier.deliver_batch``)
INBOUND_BATCH = 16  # inbound messages taken at a time (``Processor.process_batch``)
STARTUP_PATIENCE_SECONDS = 300.0
T = TypeVar("T")


def when_ready(what: str, action: Callable[[], T]) -> T:
    """Run ``action``, trying again while the store or the broker is not answering (a worker
    started during an outage waits for it instead of exiting)."""
    for attempt in Retrying(
        stop=stop_after_delay(STARTUP_PATIENCE_SECONDS),
        wait=wait_random_exponential(multiplier=0.5, max=5),
        retry=retry_if_exception_type((DBAPIError, BrokerError, OSError)),
        before_sleep=lambda state: log.warning(
            "%s: not answering (%s); trying again", what, type(state.outcome.exception()).__name__),
        reraise=True,
    ):
        with attempt:
            return action()
    raise AssertionError("unreachable")  # Retrying either returns or raises


class Worker:
    def __init__(self, hub: Hub):
        self.hub = hub
        self._stop = threading.Event()
        self._consumers: dict[str, BatchConsumer] = {}
        self._threads: list[threading.Thread] = []
        self.takeover = Takeover(hub.database, hub.relay, hub.settings.processing_lease)

    def start(self) -> None:
        when_ready("the broker", lambda: self.hub.broker.declare(["inbound", "deadletter"]))
        self._start_consumer("inbound", self.hub.broker.topology.inbound(), self._on_inbound, INBOUND_BATCH)
        self._spawn("outbox-relay", self._relay_loop)
        self._spawn("destinations", self._destination_loop)

    def run_forever(self) -> None:
        self.start()
        self._stop.wait()

    def request_stop(self) -> None:
        """Ask every thread to stop (safe in a signal handler); ``stop`` waits for them."""
        self._stop.set()
        for consumer in list(self._consumers.values()):
            consumer.stop()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        for thread in self._threads:
            thread.join(timeout)

    def _on_inbound(self, bodies: list[dict]) -> None:
        self.hub.processor.process_batch([body["message_id"] for body in bodies])

    def _start_consumer(  # type: ignore[no-untyped-def]
        self, name: str, queue, handler: Callable[[list[dict]], None], batch: int,
    ) -> None:
        consumer = BatchConsumer(self.hub.broker.connect(), queue, handler, batch)
        self._consumers[name] = consumer
        if self._stop.is_set():  # a stop asked for while this consumer was being made
            consumer.stop()
        self._spawn(f"consumer-{name}", consumer.run)

    def _start_destination(self, system_id: str) -> None:
        client = httpx.Client(timeout=self.hub.settings.delivery_timeout)

        def deliver(bodies: list[dict]) -> None:
            self.hub.courier.deliver_batch([body["delivery_id"] for body in bodies], client, self._stop)

        self._start_consumer(f"deliver.{system_id}", self.hub.broker.topology.delivery(system_id),
                             deliver, DELIVERY_BATCH)

    def _destination_loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self.hub.database.read() as session:
                    wanted = [s.system_id for s in all_systems(session) if s.allowed_out]
                for system_id in wanted:
                    if f"deliver.{system_id}" not in self._consumers and not self._stop.is_set():
                        self._start_destination(system_id)
            except Exception:
                log.exception("could not refresh the destinations")
            self._stop.wait(DESTINATION_REFRESH_SECONDS)

    def _relay_loop(self) -> None:
        while not self._stop.is_set():
            for sweep in (self.hub.relay.sweep, self.takeover.sweep):
                try:
                    sweep()
                except Exception as error:
                    log.warning("%s failed: %s", sweep.__qualname__, type(error).__name__)
            self._stop.wait(self.hub.settings.relay_interval)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"hub-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
