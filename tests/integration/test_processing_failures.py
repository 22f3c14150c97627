"""A message whose processing fails is marked failed and audited; the worker goes on with the next."""

from __future__ import annotations

from sqlalchemy import select

from hub.flows import FLOWS
from hub.store.tables import AuditEntry
from simulators.hannah import melanie_agreed
from tests.integration.helpers import eventually, settled, status, submit


def test_a_failing_flow_marks_the_message_failed_and_the_worker_continues(running_hub, monkeypatch):
    def broken_flow(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in a flow")

    monkeypatch.setitem(FLOWS, "lead-professional-changed", broken_flow)
    bad = submit(running_hub.url, running_hub.caf_token, melanie_agreed("will-fail")).json()
    eventually(
        lambda: status(running_hub.url, running_hub.caf_token, bad["tracking_id"])["status"] == "failed",
        what="the message to be marked failed",
    )
    monkeypatch.undo()

    good = submit(running_hub.url, running_hub.caf_token, melanie_agreed("after-failure")).json()

    final = settled(running_hub.url, running_hub.caf_token, good["tracking_id"])
    assert final["deliveries"][0]["status"] == "delivered"
    assert status(running_hub.url, running_hub.caf_token, bad["tracking_id"])["deliveries"] == []
    with running_hub.database.transaction() as session:
        failure = session.execute(
            select(AuditEntry).where(AuditEntry.action == "message.failed")
        ).scalar_one()
    assert (failure.message_id, failure.detail) == (bad["tracking_id"], {"error": "RuntimeError"})
