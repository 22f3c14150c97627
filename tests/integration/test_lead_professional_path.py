"""The lead-professional update travels the whole path, on the embedded default and on the servers."""

from __future__ import annotations

from sqlalchemy import select

from hub.audit import verify_chain
from hub.store.tables import AuditEntry
from simulators.directory import text
from simulators.hannah import melanie_agreed
from tests.integration.helpers import settled, submit


def test_lead_professional_reaches_the_directory_once_with_no_case_data(running_hub):
    reply = submit(running_hub.url, running_hub.caf_token, melanie_agreed())
    assert reply.status_code == 202
    tracking_id = reply.json()["tracking_id"]

    final = settled(running_hub.url, running_hub.caf_token, tracking_id)

    assert final["status"] == "processed"
    [decision] = final["decisions"]
    assert decision["outcome"] == "permit"
    assert decision["legal_basis"].startswith("Children Act 2004 s12")
    assert not any(f.startswith(("child.ethnicity", "assessment")) for f in decision["fields_shared"])
    [delivery] = final["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)

    [received] = running_hub.directory.state.received
    assert received.idempotency_key is not None
    assert received.message_id == tracking_id
    assert (received.path, received.content_type) == ("/feed", "application/xml")
    [update] = running_hub.directory.updates()
    assert update.get("version") == "3"
    assert text(update, "d:child/d:directoryId") == "DIR-7781"
    assert text(update, "d:leadProfessional/d:name/d:given") == "Melanie"
    assert running_hub.directory.lead_professionals()["DIR-7781"] == {
        "practitioner_id": "P-MEL-01", "given": "Melanie", "family": "Mentor",
        "phone": "01632 960001",
    }


def test_every_step_is_audited_and_the_chain_verifies(running_hub):
    tracking_id = submit(running_hub.url, running_hub.caf_token, melanie_agreed()).json()["tracking_id"]
    settled(running_hub.url, running_hub.caf_token, tracking_id)

    with running_hub.database.transaction() as session:
        actions = session.execute(
            select(AuditEntry.action).where(AuditEntry.message_id == tracking_id)
            .order_by(AuditEntry.seq)
        ).scalars().all()
        disclosure = session.execute(
            select(AuditEntry).where(AuditEntry.action == "disclosure")
        ).scalar_one()
        chain = verify_chain(session)
    # the child is identified before the directory is told: Hannah is new to this hub
    assert actions == ["message.received", "identity.new-child", "decision.permit", "disclosure"]
    assert disclosure.detail["legal_basis"].startswith("Children Act 2004 s12")
    assert "Hannah" not in str(disclosure.detail)
    assert chain.intact and chain.entries >= 5


def test_resubmission_returns_the_original_tracking_id_and_delivers_once(running_hub):
    first = submit(running_hub.url, running_hub.caf_token, melanie_agreed("caf-msg-77"))
    second = submit(running_hub.url, running_hub.caf_token, melanie_agreed("caf-msg-77"))

    assert first.status_code == second.status_code == 202
    assert second.json() == {**first.json(), "duplicate": True}
    settled(running_hub.url, running_hub.caf_token, first.json()["tracking_id"])
    assert len(running_hub.directory.state.received) == 1
