"""The consent API and the disclosure report: who may call what, and what a family is told."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import select, update
from typer.testing import CliRunner

from hub.cli import app
from hub.registry import register
from hub.store.tables import AuditEntry, Decision
from tests.consent.conftest import OPERATOR_TOKEN, ConsentHub, feed, settle
from tests.consent.story import CAF_CHILD_ID, NHS_NUMBER, episode

CHILD = {"caf_child_id": CAF_CHILD_ID, "nhs_number": NHS_NUMBER}


def consent_body(**changes: object) -> dict:
    body: dict = {
        "child": CHILD, "purpose": "tac-sharing", "scope": ["agency:youth-service"], "method": "verbal",
        "given_by": {"role": "child", "name": "Hannah Example",
                     "competence": {"competent": True, "assessed_by": "P-MEL-01"}},
        "given_at": "2024-05-02T09:00:00+00:00",
    }
    body.update(changes)
    return body


def other_system(consent_hub: ConsentHub, kind: str, system_id: str) -> str:
    with consent_hub.hub.database.transaction() as session:
        return register(session, system_id, system_id, kind, "http://127.0.0.1:9", allowed_out=[]).token


def test_consent_endpoints_refuse_unknown_callers_and_the_directory(consent_hub: ConsentHub):
    directory = other_system(consent_hub, "directory", "directory")

    assert consent_hub.api("POST", "/v1/consents", json=consent_body()).status_code == 401
    refused = consent_hub.api("POST", "/v1/consents", directory, json=consent_body())
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["rule"] == "consent.recorder"


def test_a_childs_consent_without_sufficient_understanding_is_refused_naming_the_field(
    consent_hub: ConsentHub,
):
    body = consent_body(given_by={"role": "child", "competence": {"competent": False, "assessed_by": "P-1"}})

    reply = consent_hub.api("POST", "/v1/consents", consent_hub.caf_token, json=body)

    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "given_by.competence"


def test_an_invalid_nhs_number_or_scope_is_refused(consent_hub: ConsentHub):
    bad_number = consent_body(child={"nhs_number": "9434765918"})
    bad_scope = consent_body(scope=["team:anyone"])

    assert consent_hub.api("POST", "/v1/consents", consent_hub.caf_token, json=bad_number).status_code == 422
    reply = consent_hub.api("POST", "/v1/consents", consent_hub.caf_token, json=bad_scope)
    assert (reply.status_code, reply.json()["errors"][0]["field"]) == (422, "scope")


def test_a_consent_is_visible_to_its_recorder_and_operators_only(consent_hub: ConsentHub):
    recorded = consent_hub.api("POST", "/v1/consents", consent_hub.caf_token, json=consent_body()).json()
    path = f"/v1/consents/{recorded['consent_id']}"

    mine = consent_hub.api("GET", path, consent_hub.caf_token)
    operators = consent_hub.api("GET", path, OPERATOR_TOKEN)
    others = consent_hub.api("GET", path, consent_hub.case_token)

    assert mine.json()["details"]["given_by_name"] == "Hannah Example"
    assert operators.json()["scope"] == ["agency:youth-service"]
    assert others.status_code == 404


def test_withdrawing_a_withdrawn_consent_is_a_conflict(consent_hub: ConsentHub):
    recorded = consent_hub.api("POST", "/v1/consents", consent_hub.caf_token, json=consent_body()).json()
    path = f"/v1/consents/{recorded['consent_id']}/withdrawal"
    body = {"withdrawn_by": "child", "reason": "changed her mind"}

    first = consent_hub.api("POST", path, consent_hub.caf_token, json=body)
    again = consent_hub.api("POST", path, consent_hub.caf_token, json=body)

    assert first.status_code == 200 and first.json()["withdrawn_by"] == "child"
    assert again.status_code == 409


def test_only_the_case_system_decides_a_s47_gateway(consent_hub: ConsentHub):
    partner = other_system(consent_hub, "partner", "police")
    body = {"child": CHILD, "gateway": "s47-significant-harm", "purposes": ["referral-to-social-care"],
            "scope": ["kind:case_system"], "decided_by": "P-TM-03", "decided_by_role": "Team manager",
            "reason": "injuries seen at school", "decided_at": "2024-06-03T08:30:00+00:00"}

    refused = consent_hub.api("POST", "/v1/gateways", partner, json=body)
    by_police = consent_hub.api("POST", "/v1/gateways", partner, json={
        **body, "gateway": "s10-s11-duty-to-cooperate"})
    by_case_system = consent_hub.api("POST", "/v1/gateways", consent_hub.case_token, json=body)

    assert refused.status_code == 403
    assert by_police.status_code == 201
    assert by_case_system.status_code == 201
    assert consent_hub.api("GET", "/v1/gateways", partner).status_code == 403
    assert len(consent_hub.api("GET", "/v1/gateways", OPERATOR_TOKEN).json()) == 2


def test_a_childs_consents_decisions_and_disclosures_are_for_operators(consent_hub: ConsentHub):
    for path in ("/v1/consents", "/v1/children/decisions", "/v1/children/disclosures"):
        reply = consent_hub.api("GET", path, consent_hub.caf_token, params={"nhs_number": NHS_NUMBER})
        assert reply.status_code == 403, path


def test_the_sender_of_a_message_may_ask_why_a_destination_was_refused(consent_hub: ConsentHub):
    message = episode(1)
    settle(consent_hub.hub, feed(consent_hub.hub, message))
    with consent_hub.hub.database.read() as session:
        refusal = session.execute(select(Decision).where(Decision.destination == "young-carers")).scalar_one()

    mine = consent_hub.api("GET", f"/v1/decisions/{refusal.decision_id}", consent_hub.caf_token).json()
    theirs = consent_hub.api("GET", f"/v1/decisions/{refusal.decision_id}", consent_hub.case_token)

    assert mine["outcome"] == "deny"
    assert [check["check"] for check in mine["checks"]] == ["registered", "rule", "basis"]
    assert mine["checks"][-1]["passed"] is False
    assert "no consent for tac-sharing" in mine["reason"]
    assert theirs.status_code == 404


def test_the_disclosure_report_lists_who_received_what_when_and_on_what_basis(
    consent_hub: ConsentHub, monkeypatch,
):
    consent_hub.api("POST", "/v1/consents", consent_hub.caf_token, json=consent_body()).raise_for_status()
    settle(consent_hub.hub, feed(consent_hub.hub, episode(1)))

    by_nhs = consent_hub.api("GET", "/v1/children/disclosures", OPERATOR_TOKEN,
                             params={"nhs_number": NHS_NUMBER}).json()
    by_caf_id = consent_hub.api("GET", "/v1/children/disclosures", OPERATOR_TOKEN,
                                params={"caf_child_id": CAF_CHILD_ID}).json()
    someone_else = consent_hub.api("GET", "/v1/children/disclosures", OPERATOR_TOKEN,
                                   params={"nhs_number": "4010232137"}).json()

    [disclosure] = by_nhs
    assert by_caf_id == by_nhs and someone_else == []
    assert (disclosure["destination"], disclosure["destination_name"]) == (
        "youth-service", "Northfield Youth Service")
    assert {"identity", "involvement", "case"} <= set(disclosure["categories"])
    assert "sensitive" not in disclosure["categories"]
    assert disclosure["purpose"] == "tac-sharing" and disclosure["basis_kind"] == "consent"
    assert disclosure["legal_basis"] == "consent of the child (judged to have sufficient understanding)"
    assert disclosure["intact"] is True

    settings = consent_hub.hub.settings
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HUB_BROKER_URL", settings.resolved_broker_url)
    monkeypatch.setenv("HUB_ENCRYPTION_KEYS", settings.encryption_keys)
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr("hub.cli_consent.console", Console(width=250))
    printed = CliRunner().invoke(app, ["disclosures", f"nhs-number:{NHS_NUMBER}"])
    assert printed.exit_code == 0, printed.output
    assert "Northfield Youth Service (youth-service)" in printed.output
    assert "1 disclosure(s)" in printed.output

    with consent_hub.hub.database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == disclosure["seq"])
                        .values(detail={**session.get(AuditEntry, disclosure["seq"]).detail, "purpose": "x"}))
    [altered] = consent_hub.api("GET", "/v1/children/disclosures", OPERATOR_TOKEN,
                                params={"nhs_number": NHS_NUMBER}).json()
    assert altered["intact"] is False
