"""Hannah's story through the hub: consent to each TAC agency, withdrawal, and the s47 gateway.

Runs on the embedded default and on PostgreSQL + RabbitMQ, with the real worker and courier.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import select

from adapters import registry as adapter_registry
from adapters.partner.outbound import CanonicalJsonOutbound
from hub.store.tables import AuditEntry, DeadLetter, Decision, Delivery, LegalGatewayRecord
from tests.consent.conftest import OPERATOR_TOKEN, ConsentHub, eventually, feed, settle
from tests.consent.story import (
    ASSESSMENT_TEXT,
    CAF_CHILD_ID,
    NHS_NUMBER,
    episode,
    referral,
    statement,
)


def decisions_by_destination(consent_hub: ConsentHub, message_id: str) -> dict[str, Decision]:
    with consent_hub.hub.database.read() as session:
        rows = session.execute(
            select(Decision).where(Decision.message_id == message_id).order_by(Decision.decided_at)
        ).scalars().all()
    return {row.destination: row for row in rows}


def hannah_consents(consent_hub: ConsentHub, scope: list[str]) -> dict:
    reply = consent_hub.api("POST", "/v1/consents", consent_hub.caf_token, json={
        "child": {"caf_child_id": CAF_CHILD_ID, "nhs_number": NHS_NUMBER},
        "given_by": {"role": "child", "name": "Hannah Example",
                     "competence": {"competent": True, "assessed_by": "P-MEL-01",
                                    "note": "understands what sharing with the TAC means"}},
        "purpose": "tac-sharing", "scope": scope, "method": "written",
        "given_at": "2024-05-02T09:00:00+00:00",
    })
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_lee_and_libby_receive_the_caf_only_after_hannah_consents_to_each(consent_hub: ConsentHub):
    before = episode(1)
    first = settle(consent_hub.hub, feed(consent_hub.hub, before))
    refused = decisions_by_destination(consent_hub, before.message_id)
    assert first == {}
    assert {d: (r.outcome, "no consent for tac-sharing" in r.reason) for d, r in refused.items()} == {
        "youth-service": ("deny", True), "young-carers": ("deny", True)}

    hannah_consents(consent_hub, ["agency:youth-service"])
    second = episode(2)
    deliveries = settle(consent_hub.hub, feed(consent_hub.hub, second))
    assert set(deliveries) == {"youth-service"}
    assert deliveries["youth-service"].status == "delivered"
    assert decisions_by_destination(consent_hub, second.message_id)["young-carers"].outcome == "deny"

    hannah_consents(consent_hub, ["practitioner:P-LIB-01"])
    third = episode(3)
    deliveries = settle(consent_hub.hub, feed(consent_hub.hub, third))
    assert {d: row.status for d, row in deliveries.items()} == {
        "youth-service": "delivered", "young-carers": "delivered"}

    lee_saw = [item.body for item in consent_hub.youth_service.received]
    libby_saw = consent_hub.young_carers.received
    assert [body["data"]["episode"]["version"] for body in lee_saw] == [2, 3]
    assert [body["data"]["episode"]["version"] for body in libby_saw] == [3]
    assert lee_saw[0]["data"]["episode"]["assessment"][0]["text"] == ASSESSMENT_TEXT
    assert "WBRI" not in str(lee_saw) + str(libby_saw)  # ethnicity is sensitive: never to a partner
    basis = decisions_by_destination(consent_hub, third.message_id)["young-carers"].legal_basis
    assert basis == "consent of the child (judged to have sufficient understanding)"


def test_withdrawing_consent_for_one_agency_stops_queued_messages_and_refuses_later_ones(
    consent_hub: ConsentHub,
):
    # Hannah's consent statement in the CAF covers both agencies
    both = statement(["caf-assessment", "tac-sharing"],
                     agencies=["Northfield Youth Service", "Young Carers Group"])
    settle(consent_hub.hub, feed(consent_hub.hub, episode(1, both)))
    assert len(consent_hub.young_carers.received) == 1
    with consent_hub.hub.database.read() as session:
        consent_id = session.execute(
            select(AuditEntry.detail).where(AuditEntry.action == "consent.recorded")
        ).scalars().all()
    tac_consent = next(d["consent_id"] for d in consent_id if d["purpose"] == "tac-sharing")

    # version 2 reaches Libby's agency's queue, and waits there (the agency is not answering yet)
    consent_hub.young_carers.hold = True
    queued = episode(2, both)
    feed(consent_hub.hub, queued)
    eventually(consent_hub.young_carers.arrived.is_set, what="the queued delivery to reach young-carers")
    withdrawal = consent_hub.api(
        "POST", f"/v1/consents/{tac_consent}/withdrawal", consent_hub.caf_token,
        json={"withdrawn_by": "child", "reason": "Hannah no longer wants the group to see her CAF",
              "scope": ["agency:Young Carers Group"]},
    )
    assert withdrawal.status_code == 200, withdrawal.text
    consent_hub.young_carers.hold = False
    consent_hub.young_carers.release.set()

    deliveries = settle(consent_hub.hub, queued.message_id)
    assert deliveries["youth-service"].status == "delivered"
    assert deliveries["young-carers"].status == "withheld"
    assert "withdrawn" in deliveries["young-carers"].last_error
    assert [body["data"]["episode"]["version"] for body in consent_hub.young_carers.received] == [1]

    later = episode(3, both)
    deliveries = settle(consent_hub.hub, feed(consent_hub.hub, later))
    assert set(deliveries) == {"youth-service"}
    refusal = decisions_by_destination(consent_hub, later.message_id)["young-carers"]
    assert refusal.outcome == "deny"
    assert f"consent {tac_consent} was withdrawn at" in refusal.reason
    lee_saw = [item.body["data"]["episode"]["version"] for item in consent_hub.youth_service.received]
    assert lee_saw == [1, 2, 3]
    with consent_hub.hub.database.read() as session:
        withheld = session.execute(
            select(AuditEntry).where(AuditEntry.action == "delivery.withheld")
        ).scalar_one()
    assert withheld.detail["destination"] == "young-carers"
    assert "Hannah" not in str(withheld.detail)


def test_s47_gateway_lets_the_referral_reach_social_care_without_consent_and_the_audit_says_who_and_why(
    consent_hub: ConsentHub,
):
    without = referral(1)
    assert settle(consent_hub.hub, feed(consent_hub.hub, without)) == {}
    refused = decisions_by_destination(consent_hub, without.message_id)["lcs"]
    assert refused.outcome == "deny"
    assert "no consent or legal gateway covers referral-to-social-care" in refused.reason

    reason = "Lee reports Hannah's mother collapsed; the younger children were left alone overnight"
    recorded = consent_hub.api("POST", "/v1/gateways", consent_hub.case_token, json={
        "child": {"nhs_number": NHS_NUMBER}, "gateway": "s47-significant-harm",
        "purposes": ["referral-to-social-care"], "scope": ["kind:case_system"],
        "decided_by": "P-TM-03", "decided_by_role": "Team manager, children's social care",
        "reason": reason, "decided_at": "2024-06-03T08:30:00+00:00",
    })
    assert recorded.status_code == 201, recorded.text
    gateway_id = recorded.json()["gateway_id"]

    with_gateway = referral(2)
    deliveries = settle(consent_hub.hub, feed(consent_hub.hub, with_gateway))
    assert deliveries["lcs"].status == "delivered"
    [received] = consent_hub.case_system.received
    assert "REF-2" in str(received.body)
    permit = decisions_by_destination(consent_hub, with_gateway.message_id)["lcs"]
    assert permit.legal_basis.startswith("Children Act 1989 s47")

    with consent_hub.hub.database.read() as session:
        gateway_entry = session.execute(
            select(AuditEntry).where(AuditEntry.action == "gateway.recorded")
        ).scalar_one()
        disclosure = session.execute(
            select(AuditEntry).where(AuditEntry.action == "disclosure",
                                     AuditEntry.message_id == with_gateway.message_id)
        ).scalar_one()
        stored = session.get(LegalGatewayRecord, gateway_id)
    assert gateway_entry.actor == "lcs"
    assert (gateway_entry.detail["decided_by"], gateway_entry.detail["decided_by_role"],
            gateway_entry.detail["gateway"]) == ("P-TM-03", "Team manager, children's social care",
                                                 "s47-significant-harm")
    secret = consent_hub.hub.sharing.subjects.secret
    assert gateway_entry.detail["reason_digest"] == hmac.new(
        secret, reason.encode(), hashlib.sha256).hexdigest() == stored.reason_digest
    assert "collapsed" not in str(gateway_entry.detail)  # the reason itself is sealed, not in the chain
    assert disclosure.detail["basis_refs"] == [gateway_id]
    assert disclosure.detail["basis_kind"] == "gateway"

    explained = consent_hub.api("GET", f"/v1/decisions/{permit.decision_id}", OPERATOR_TOKEN).json()
    assert explained["basis_kind"] == "gateway"
    [gateway] = explained["gateways"]
    assert (gateway["decided_by"], gateway["reason"]) == ("P-TM-03", reason)
    oversight = consent_hub.api("GET", "/v1/gateways", OPERATOR_TOKEN).json()
    assert [g["gateway_id"] for g in oversight] == [gateway_id]


def dead_letter_of(consent_hub: ConsentHub, delivery_id: str) -> DeadLetter:
    with consent_hub.hub.database.read() as session:
        return session.execute(select(DeadLetter).where(DeadLetter.delivery_id == delivery_id)).scalar_one()


def finished_delivery(consent_hub: ConsentHub, delivery_id: str) -> Delivery:
    def finished() -> Delivery | None:
        with consent_hub.hub.database.read() as session:
            row = session.get(Delivery, delivery_id)
            return row if row.status in ("delivered", "withheld", "dead") else None

    return eventually(finished, what=f"delivery {delivery_id} to finish")


def test_replaying_a_dead_letter_decides_again_and_withholds_after_withdrawal(consent_hub: ConsentHub):
    consent = hannah_consents(consent_hub, ["agency:youth-service"])
    consent_hub.youth_service.failures_left, consent_hub.youth_service.failure_status = 1000, 503
    message = episode(1)
    deliveries = settle(consent_hub.hub, feed(consent_hub.hub, message))
    assert deliveries["youth-service"].status == "dead"
    dead = dead_letter_of(consent_hub, deliveries["youth-service"].delivery_id)

    consent_hub.api("POST", f"/v1/consents/{consent['consent_id']}/withdrawal", consent_hub.caf_token,
                    json={"withdrawn_by": "child", "reason": "changed her mind"}).raise_for_status()
    consent_hub.youth_service.failures_left = 0
    consent_hub.hub.courier.replay(dead.dead_letter_id, "operator:test")

    replayed = finished_delivery(consent_hub, dead.delivery_id)
    assert replayed.status == "withheld"
    assert "withdrawn" in replayed.last_error
    assert consent_hub.youth_service.received == []
    with consent_hub.hub.database.read() as session:
        actions = session.execute(
            select(AuditEntry.action).where(AuditEntry.message_id == message.message_id)
            .order_by(AuditEntry.seq)
        ).scalars().all()
    assert actions[-3:] == ["delivery.replayed", "decision.deny", "delivery.withheld"]


def test_replaying_a_dead_letter_still_permitted_delivers_it(consent_hub: ConsentHub):
    hannah_consents(consent_hub, ["agency:youth-service"])
    consent_hub.youth_service.failures_left, consent_hub.youth_service.failure_status = 1000, 503
    deliveries = settle(consent_hub.hub, feed(consent_hub.hub, episode(1)))
    dead = dead_letter_of(consent_hub, deliveries["youth-service"].delivery_id)
    consent_hub.youth_service.failures_left = 0

    consent_hub.hub.courier.replay(dead.dead_letter_id, "operator:test")

    assert finished_delivery(consent_hub, dead.delivery_id).status == "delivered"
    [received] = consent_hub.youth_service.received
    assert received.body["data"]["episode"]["version"] == 1


def test_a_dead_letter_with_nothing_rendered_is_not_replayed(consent_hub: ConsentHub, monkeypatch):
    hannah_consents(consent_hub, ["agency:youth-service"])
    monkeypatch.setitem(adapter_registry.OUTBOUND, "partner", CanonicalJsonOutbound("partner", frozenset()))
    deliveries = settle(consent_hub.hub, feed(consent_hub.hub, episode(1)))
    dead = dead_letter_of(consent_hub, deliveries["youth-service"].delivery_id)

    with pytest.raises(LookupError, match="nothing rendered to send"):
        consent_hub.hub.courier.replay(dead.dead_letter_id, "operator:test")

    assert dead_letter_of(consent_hub, dead.delivery_id).dead_letter_id == dead.dead_letter_id
    assert finished_delivery(consent_hub, dead.delivery_id).status == "dead"
