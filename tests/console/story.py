"""Hannah's story driven through the hub for the console's tests: a step-up, a dead letter, a
re-referral after consent is withdrawn."""

from __future__ import annotations

from sqlalchemy import select

from hub.store.tables import DeadLetter
from simulators.hannah import melanie_agreed
from tests.integration.helpers import eventually, settled, status
from tests.integration.test_step_up import REFERRAL, another, refer, sent_today

HANNAH = "nhs-number:9434765919"


def step_up(hub) -> str:  # type: ignore[no-untyped-def]
    """Hannah's referral into social care, settled: its tracking id."""
    tracking_id = refer(hub, sent_today(REFERRAL.read_bytes()))
    final = settled(hub.url, hub.caf_token, tracking_id)
    assert {d["status"] for d in final["deliveries"]} == {"delivered"}, final
    return tracking_id


def re_referral(hub) -> str:  # type: ignore[no-untyped-def]
    return refer(hub, another(sent_today(REFERRAL.read_bytes()), 7, "REF-CAF-0777"))


def held(hub, tracking_id: str) -> dict:  # type: ignore[no-untyped-def]
    return eventually(lambda: (s := status(hub.url, hub.caf_token, tracking_id))["status"] == "held" and s,
                      what="the message to be held")


def dead_letter(hub) -> str:  # type: ignore[no-untyped-def]
    """The directory refuses every attempt at Melanie's lead-professional update: a dead letter."""
    hub.directory.state.failures_left, hub.directory.state.failure_status = 1000, 503
    reply = hub.caf.send(hub.url, "caf-national", hub.caf_token, melanie_agreed("caf-msg-dead"))
    assert reply.status_code == 202, reply.text
    settled(hub.url, hub.caf_token, reply.json()["tracking_id"])
    hub.directory.state.failures_left = 0
    with hub.hub.database.read() as session:
        [dead] = session.execute(select(DeadLetter)).scalars().all()
    return dead.dead_letter_id
