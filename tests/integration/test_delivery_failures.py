"""Deliveries retry with backoff, apply once, and end in the dead letter channel when they cannot;
dead letters are listed, shown and replayed; poison messages are set aside; leases are honoured
and taken over; a stopping worker lets go of a delivery between attempts."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from kombu import Consumer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from hub.canonical import utcnow
from hub.courier import INTERRUPTED, Released
from hub.flows import FLOWS
from hub.store.tables import AuditEntry, DeadLetter, Delivery, DeliveryAttempt
from hub.takeover import Takeover
from simulators.hannah import melanie_agreed
from tests.integration.helpers import eventually, settled, status, submit


def dead_letters_on_the_broker(hub) -> list[dict]:  # type: ignore[no-untyped-def]
    received: list[dict] = []
    with hub.broker.connect() as connection:
        queue = hub.broker.topology.dead_letter()

        def keep(body, message):  # type: ignore[no-untyped-def]
            received.append(body)
            message.ack()

        with Consumer(connection, queues=[queue], callbacks=[keep], accept=["json"]):
            try:
                while True:
                    connection.drain_events(timeout=1)
            except TimeoutError:
                pass
    return received


def test_a_delivery_that_fails_twice_then_succeeds_is_delivered_once(running_hub):
    running_hub.directory.state.failures_left = 2

    reply = submit(running_hub.url, running_hub.caf_token, melanie_agreed())
    final = settled(running_hub.url, running_hub.caf_token, reply.json()["tracking_id"])

    [delivery] = final["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 201]
    assert running_hub.directory.state.requests == 3
    assert len(running_hub.directory.state.received) == 1


def test_a_delivery_that_always_fails_ends_in_the_dead_letter_queue_with_its_reason(running_hub):
    running_hub.directory.state.failures_left = 1000
    running_hub.directory.state.failure_status = 503

    reply = submit(running_hub.url, running_hub.caf_token, melanie_agreed())
    tracking_id = reply.json()["tracking_id"]
    final = settled(running_hub.url, running_hub.caf_token, tracking_id)

    [delivery] = final["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("dead", 3)
    assert running_hub.directory.state.received == []
    with running_hub.database.transaction() as session:
        [dead] = session.execute(select(DeadLetter)).scalars().all()
    assert dead.message_id == tracking_id
    assert dead.reason == "gave up after 3 attempts; last: HTTP 503"
    [notice] = dead_letters_on_the_broker(running_hub.hub)
    assert notice["message_id"] == tracking_id
    assert notice["reason"] == dead.reason and notice["attempts"] == 3


def test_a_destination_refusing_the_message_is_not_retried(running_hub):
    running_hub.directory.state.failures_left = 1
    running_hub.directory.state.failure_status = 422

    reply = submit(running_hub.url, running_hub.caf_token, melanie_agreed())
    final = settled(running_hub.url, running_hub.caf_token, reply.json()["tracking_id"])

    [delivery] = final["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("dead", 1)
    assert [a["status_code"] for a in delivery["attempt_log"]] == [422]
    assert running_hub.directory.state.requests == 1


OPERATOR = "operator-token-for-tests"


def operator(running_hub, method: str, path: str, token: str = OPERATOR) -> httpx.Response:  # type: ignore[no-untyped-def]
    running_hub.hub.settings.operator_token = OPERATOR
    return httpx.request(method, f"{running_hub.url}{path}", timeout=30,
                         headers={"Authorization": f"Bearer {token}"})


def test_dead_letters_are_listed_shown_and_replayed_through_the_api(running_hub):
    running_hub.directory.state.failures_left, running_hub.directory.state.failure_status = 1000, 503
    tracking_id = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()["tracking_id"]
    settled(running_hub.url, running_hub.caf_token, tracking_id)

    assert operator(running_hub, "GET", "/v1/dead-letters", running_hub.caf_token).status_code == 403
    [letter] = operator(running_hub, "GET", "/v1/dead-letters").json()
    assert (letter["kind"], letter["destination"], letter["message_id"], letter["attempts"]) == (
        "delivery", "directory", tracking_id, 3)
    shown = operator(running_hub, "GET", f"/v1/dead-letters/{letter['dead_letter_id']}").json()
    assert [a["status_code"] for a in shown["attempt_log"]] == [503, 503, 503]
    assert shown["reason"] == "gave up after 3 attempts; last: HTTP 503"
    assert operator(running_hub, "GET", "/v1/dead-letters/no-such-letter").status_code == 404

    running_hub.directory.state.failures_left = 0
    replayed = operator(running_hub, "POST", f"/v1/dead-letters/{letter['dead_letter_id']}/replay")

    assert replayed.status_code == 202
    assert replayed.json()["status_url"] == f"/v1/messages/{tracking_id}"
    final = settled(running_hub.url, running_hub.caf_token, tracking_id)
    [delivery] = final["deliveries"]
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [503, 503, 503, 201]
    assert len(running_hub.directory.state.applied()) == 1
    assert operator(running_hub, "GET", "/v1/dead-letters").json() == []


def test_a_poison_message_is_set_aside_after_its_attempts_and_the_worker_goes_on(running_hub, monkeypatch):
    running_hub.hub.settings.processing_max_attempts = 3

    def store_error_every_time(ctx):  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT 1", {}, RuntimeError("the store refused this message"))

    monkeypatch.setitem(FLOWS, "lead-professional-changed", store_error_every_time)
    poison = submit(running_hub.url, running_hub.caf_token, melanie_agreed("poison", version=5)).json()[
        "tracking_id"]
    eventually(lambda: status(running_hub.url, running_hub.caf_token, poison)["status"] == "poisoned",
               timeout=60, what="the message to be set aside")
    monkeypatch.undo()
    good = submit(running_hub.url, running_hub.caf_token, melanie_agreed("good", version=4)).json()
    assert settled(running_hub.url, running_hub.caf_token, good["tracking_id"])["deliveries"][0][
        "status"] == "delivered"

    [letter] = operator(running_hub, "GET", "/v1/dead-letters").json()
    assert (letter["kind"], letter["dead_letter_id"], letter["attempts"]) == ("inbound", poison, 3)
    assert letter["reason"] == "set aside after 3 processing attempts that did not finish"
    with running_hub.database.read() as session:
        audited = session.execute(select(AuditEntry.action).where(AuditEntry.message_id == poison)).scalars()
        assert "message.poisoned" in list(audited)

    assert operator(running_hub, "POST", f"/v1/dead-letters/{poison}/replay").status_code == 202
    final = settled(running_hub.url, running_hub.caf_token, poison)
    assert final["status"] == "processed" and final["deliveries"][0]["status"] == "delivered"
    assert len(running_hub.directory.state.applied()) == 2


def test_a_leased_delivery_is_left_to_its_worker_and_taken_over_when_the_lease_runs_out(running_hub):
    running_hub.worker.stop()
    hub = running_hub.hub
    tracking_id = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()["tracking_id"]
    assert hub.processor.process(tracking_id) == "processed"
    with hub.database.transaction() as session:
        delivery = session.execute(select(Delivery).where(Delivery.message_id == tracking_id)).scalar_one()
        # a worker on another machine started an attempt and died during it
        delivery.leased_by, delivery.lease_until, delivery.attempts = "elsewhere:1:dead", utcnow() + \
            timedelta(minutes=5), 1
        session.add(DeliveryAttempt(delivery_id=delivery.delivery_id, number=1, started_at=utcnow(),
                                    duration_ms=0))
    delivery_id = delivery.delivery_id

    with httpx.Client(timeout=5) as client:
        assert hub.courier.deliver(delivery_id, client) == "leased"
        assert Takeover(hub.database, hub.relay, lease_seconds=60).sweep().deliveries == 0
        with hub.database.transaction() as session:
            session.get(Delivery, delivery_id).lease_until = utcnow() - timedelta(seconds=1)
        assert Takeover(hub.database, hub.relay, lease_seconds=60).sweep().deliveries == 1
        assert hub.courier.deliver(delivery_id, client) == "delivered"

    with hub.database.read() as session:
        attempts = session.execute(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                                   .order_by(DeliveryAttempt.number)).scalars().all()
        assert session.get(Delivery, delivery_id).leased_by is None
    assert [(a.number, a.status_code, a.error) for a in attempts] == [
        (1, None, INTERRUPTED), (2, 201, None)]
    assert len(running_hub.directory.state.applied()) == 1


def test_a_delivery_waiting_between_attempts_is_let_go_when_the_worker_stops(running_hub):
    running_hub.worker.stop()
    hub = running_hub.hub
    hub.settings.delivery_backoff_initial = hub.settings.delivery_backoff_max = 30
    running_hub.directory.state.failures_left = 1
    tracking_id = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()["tracking_id"]
    hub.processor.process(tracking_id)
    with hub.database.read() as session:
        delivery_id = session.execute(select(Delivery.delivery_id).where(
            Delivery.message_id == tracking_id)).scalar_one()
    stopping = threading.Event()
    threading.Timer(1.0, stopping.set).start()

    with httpx.Client(timeout=5) as client, pytest.raises(Released):
        hub.courier.deliver(delivery_id, client, stopping)

    with hub.database.read() as session:
        delivery = session.get(Delivery, delivery_id)
        assert (delivery.status, delivery.attempts, delivery.leased_by) == ("pending", 1, None)
    hub.settings.delivery_backoff_initial = hub.settings.delivery_backoff_max = 0.01
    with httpx.Client(timeout=5) as client:
        assert hub.courier.deliver(delivery_id, client) == "delivered"
    assert len(running_hub.directory.state.applied()) == 1
