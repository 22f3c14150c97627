"""Deliveries retry with backoff, apply once, and end in the dead letter channel when they cannot."""

from __future__ import annotations

from kombu import Consumer
from sqlalchemy import select

from hub.store.tables import DeadLetter
from simulators.hannah import melanie_agreed
from tests.integration.helpers import settled, submit


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
