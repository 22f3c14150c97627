"""Deliveries to one destination are taken a batch at a time: each is sent once, audited as a
disclosure, and the batch costs the same few statements however many it holds; one that fails
carries on alone through its retries while the others finish; the batch consumer hands on what
is waiting and puts a whole batch back when its handler fails."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from kombu import Exchange, Producer, Queue
from sqlalchemy import select

from hub.audit import verify_chain
from hub.courier import Released
from hub.store.tables import AuditEntry, DeadLetter, Delivery, DeliveryAttempt
from queues.consumer import BatchConsumer
from tests.integration.quiet import QuietHub, accepted_updates, statements_of


def planned(quiet: QuietHub, count: int, first: int = 0) -> list[str]:
    """``count`` involvement updates, each about a child of its own, accepted and processed:
    one pending delivery to the directory each (``first`` picks the children's NHS numbers)."""
    hub = quiet.hub
    for message_id in accepted_updates(quiet, count, first):
        assert hub.processor.process(message_id) == "processed"
    with hub.database.read() as session:
        ids = session.execute(select(Delivery.delivery_id).where(Delivery.status == "pending")
                              .order_by(Delivery.created_at, Delivery.delivery_id)).scalars().all()
    assert len(ids) == count
    return list(ids)


def test_a_batch_is_sent_once_each_and_audited_as_disclosures(quiet_hub):
    hub = quiet_hub.hub
    ids = planned(quiet_hub, 6)

    with httpx.Client(timeout=5) as client:
        statuses = hub.courier.deliver_batch([*ids, ids[0]], client)  # a notice twice: one send

    assert statuses == {delivery_id: "delivered" for delivery_id in ids}
    assert quiet_hub.directory.state.requests == 6
    assert sorted(r.idempotency_key for r in quiet_hub.directory.state.received) == sorted(ids)
    with hub.database.read() as session:
        rows = session.execute(select(Delivery).where(Delivery.delivery_id.in_(ids))).scalars().all()
        assert {(r.status, r.attempts, r.leased_by) for r in rows} == {("delivered", 1, None)}
        attempts = session.execute(select(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id.in_(ids))).scalars().all()
        assert sorted((a.delivery_id, a.number, a.status_code) for a in attempts) == \
            sorted((delivery_id, 1, 201) for delivery_id in ids)
        disclosures = session.execute(select(AuditEntry).where(AuditEntry.action == "disclosure")
                                      ).scalars().all()
        assert sorted(entry.detail["delivery_id"] for entry in disclosures) == sorted(ids)
        assert all(entry.detail["legal_basis"] and entry.detail["subjects"] for entry in disclosures)
        assert verify_chain(session).intact

    # done already: said so without a request
    with httpx.Client(timeout=5) as client:
        assert hub.courier.deliver_batch(ids[:2], client) == {ids[0]: "delivered", ids[1]: "delivered"}
    assert quiet_hub.directory.state.requests == 6


def test_the_statements_a_batch_costs_do_not_grow_with_its_size(quiet_hub):
    hub = quiet_hub.hub
    ids = planned(quiet_hub, 12)
    with httpx.Client(timeout=5) as client:
        one = statements_of(hub, lambda: hub.courier.deliver(ids[0], client))
        small = statements_of(hub, lambda: hub.courier.deliver_batch(ids[1:4], client))
        large = statements_of(hub, lambda: hub.courier.deliver_batch(ids[4:12], client))

    # a statement per table (the children's consents and gateways included), whatever its size
    assert large == small
    assert small < 3 * one


def test_a_failed_first_attempt_carries_on_alone_and_a_refusal_is_dead_lettered(quiet_hub):
    hub = quiet_hub.hub
    ids = planned(quiet_hub, 4)
    state = quiet_hub.directory.state
    state.failures_left, state.failure_status = 1, 503  # the first request of the batch fails

    with httpx.Client(timeout=5) as client:
        statuses = hub.courier.deliver_batch(ids, client)

    assert statuses == {delivery_id: "delivered" for delivery_id in ids}
    with hub.database.read() as session:
        attempts = session.execute(select(DeliveryAttempt.delivery_id, DeliveryAttempt.status_code)
                                   .where(DeliveryAttempt.delivery_id.in_(ids))
                                   .order_by(DeliveryAttempt.attempt_id)).all()
    assert [code for delivery_id, code in attempts if delivery_id == ids[0]] == [503, 201]
    assert all([code for delivery_id, code in attempts if delivery_id == other] == [201]
               for other in ids[1:])
    assert len(state.received) == 4

    refused = planned(quiet_hub, 3, first=4)
    state.failures_left, state.failure_status = 1, 400
    with httpx.Client(timeout=5) as client:
        statuses = hub.courier.deliver_batch(refused, client)
    assert statuses == {refused[0]: "dead", refused[1]: "delivered", refused[2]: "delivered"}
    with hub.database.read() as session:
        [dead] = session.execute(select(DeadLetter).where(DeadLetter.delivery_id.in_(refused))).scalars()
        assert dead.delivery_id == refused[0] and "HTTP 400" in dead.reason


class StopOnceSent(threading.Event):
    """The worker is asked to stop once the batch's requests have gone out, so while its first
    failed delivery waits to be tried again."""

    def __init__(self, state, requests: int):  # type: ignore[no-untyped-def]
        super().__init__()
        self.state, self.requests = state, requests

    def wait(self, timeout: float | None = None) -> bool:
        if self.state.requests >= self.requests:
            self.set()
        return super().wait(timeout)


def test_a_stopping_worker_lets_go_of_the_rest_of_a_batch(quiet_hub):
    hub = quiet_hub.hub
    ids = planned(quiet_hub, 3)
    state = quiet_hub.directory.state
    state.failures_left, state.failure_status = 2, 503  # the first two fail and wait to retry
    stopping = StopOnceSent(state, 3)

    with httpx.Client(timeout=5) as client, pytest.raises(Released):
        hub.courier.deliver_batch(ids, client, stopping)

    with hub.database.read() as session:
        rows = {r.delivery_id: r for r in session.execute(
            select(Delivery).where(Delivery.delivery_id.in_(ids))).scalars()}
    assert rows[ids[2]].status == "delivered"
    for delivery_id in ids[:2]:  # left pending, lease ended: any worker may take them now
        assert (rows[delivery_id].status, rows[delivery_id].leased_by) == ("pending", None)
        assert rows[delivery_id].attempts == 1


def test_the_batch_consumer_hands_on_what_is_waiting_and_puts_a_failed_batch_back(quiet_hub):
    hub = quiet_hub.hub
    exchange = Exchange(f"{hub.settings.queue_prefix}.batch-test", type="direct")
    queue = Queue(f"{hub.settings.queue_prefix}.batch-test", exchange, routing_key="batch-test")
    with hub.broker.connect() as connection:
        producer = Producer(connection.channel(), exchange=exchange, routing_key="batch-test")
        producer.declare()
        queue(connection.channel()).declare()
        for number in range(10):
            producer.publish({"n": number}, serializer="json", declare=[queue])

    batches: list[list[int]] = []
    failed_once = threading.Event()

    def handle(bodies: list[dict]) -> None:
        if not failed_once.is_set():
            failed_once.set()
            raise RuntimeError("the store is away")
        batches.append([body["n"] for body in bodies])

    consumer = BatchConsumer(hub.broker.connect(), queue, handle, batch=4, requeue_pause=0.01)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while sum(map(len, batches)) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        consumer.stop()
        thread.join(10)
        if not hub.broker.embedded:
            with hub.broker.connect() as connection:
                connection.channel().queue_delete(queue.name)
                connection.channel().exchange_delete(exchange.name)

    assert sorted(n for batch in batches for n in batch) == list(range(10))  # each once, none lost
    assert all(len(batch) <= 4 for batch in batches)
    assert len(batches) < 10  # handed on together, not one by one
