"""The sharing decision on a register state: consent, gateways, purpose, expiry, withdrawal,
shielding and sensitive services. Pure: no store, ``now`` fixed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from consent.policy import Destination, Recipient, decide
from consent.register import ConsentGrant, GatewayGrant, RegisterState
from consent.vocabulary import DEFAULT_CATEGORIES, ConsentPurpose, Gateway, GivenBy, parse_scope
from hub.canonical import DataCategory, Envelope, Purpose
from hub.canonical.casework import Involvement
from hub.canonical.events import InvolvementChanged
from tests.consent.story import LEE, episode, hannah, referral

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
YOUTH = Destination("youth-service", "partner", frozenset({"caf-episode-recorded"}),
                    name="Northfield Youth Service", recipients=(Recipient("P-LEE-01", "Youth worker"),))
CASE_SYSTEM = Destination("lcs", "case_system", frozenset({"referral-to-social-care"}))
DIRECTORY = Destination("directory", "directory", frozenset({"involvement-changed"}))


def consent(
    scope: str, purpose: ConsentPurpose = ConsentPurpose.TAC_SHARING, **changes: object,
) -> ConsentGrant:
    values: dict[str, object] = dict(
        consent_id="c-1", purpose=purpose, given_by=GivenBy.CHILD, competent=True,
        scope=parse_scope([scope]), categories=DEFAULT_CATEGORIES[purpose],
        given_at=NOW - timedelta(days=30),
    )
    values.update(changes)
    return ConsentGrant(**values)  # type: ignore[arg-type]


def gateway(kind: Gateway, purpose: ConsentPurpose, scope: str, **changes: object) -> GatewayGrant:
    values: dict[str, object] = dict(
        gateway_id="g-1", gateway=kind, purposes=frozenset({purpose}), scope=parse_scope([scope]),
        categories=None, decided_by="P-TM-03", decided_by_role="Team manager",
        decided_at=NOW - timedelta(days=1),
    )
    values.update(changes)
    return GatewayGrant(**values)  # type: ignore[arg-type]


def involvement(sensitive: str | None, shielded: bool = False) -> Envelope:
    event = InvolvementChanged(
        child=hannah(shielded=shielded), version=4,
        involvement=Involvement(service="Clinic", practitioner=LEE, start=date(2024, 5, 1),
                                sensitive_service=sensitive),
    )
    return Envelope(correlation_id="c", source_system="caf-national", source_message_id="m",
                    message_type="involvement-changed", message_version="1", occurred_at=NOW,
                    purpose=Purpose.DIRECTORY_UPDATE, payload=event)


def test_without_consent_or_gateway_the_caf_is_refused_to_a_tac_agency():
    decision = decide(episode(1), YOUTH, RegisterState(), NOW)
    assert decision.permitted is False
    assert "no consent for tac-sharing on record" in decision.reason
    assert decision.data == {}


def test_consent_naming_the_agency_permits_the_caf_with_its_case_content():
    decision = decide(episode(1), YOUTH, RegisterState(consents=(consent("agency:youth-service"),)), NOW)
    assert decision.permitted is True
    assert (decision.basis_kind, decision.basis_refs) == ("consent", ("c-1",))
    assert decision.data["episode"]["assessment"][0]["element"] == "self-care skills"
    assert "case" in decision.categories
    assert "child.ethnicity" in decision.withheld


def test_consent_scope_matches_the_agency_name_a_practitioner_or_a_role():
    for scope in ("agency:Northfield Youth Service", "practitioner:P-LEE-01", "role:youth worker"):
        state = RegisterState(consents=(consent(scope),))
        assert decide(episode(1), YOUTH, state, NOW).permitted is True, scope


def test_consent_for_another_agency_does_not_cover_this_one():
    decision = decide(episode(1), YOUTH, RegisterState(consents=(consent("agency:young-carers"),)), NOW)
    assert decision.permitted is False
    assert "1 consent(s) for tac-sharing do not cover youth-service" in decision.reason


def test_consent_for_another_purpose_does_not_count():
    state = RegisterState(consents=(consent("agency:youth-service", ConsentPurpose.CAF_ASSESSMENT),))
    assert decide(episode(1), YOUTH, state, NOW).permitted is False


def test_withdrawn_consent_refuses_with_when_it_was_withdrawn():
    state = RegisterState(consents=(consent("agency:youth-service", withdrawn_at=NOW - timedelta(hours=1)),))
    decision = decide(episode(1), YOUTH, state, NOW)
    assert decision.permitted is False
    assert "consent c-1 was withdrawn at 2024-06-01T11:00:00+00:00" in decision.reason


def test_expired_consent_refuses_and_says_so():
    state = RegisterState(consents=(consent("agency:youth-service", expires_at=NOW - timedelta(days=1)),))
    decision = decide(episode(1), YOUTH, state, NOW)
    assert decision.permitted is False
    assert "expired" in decision.reason


def test_consent_categories_narrow_what_is_shared():
    narrow = consent("agency:youth-service", categories=frozenset({DataCategory.IDENTITY,
                                                                   DataCategory.INVOLVEMENT}))
    decision = decide(episode(1), YOUTH, RegisterState(consents=(narrow,)), NOW)
    assert decision.permitted is True
    assert "assessment" not in decision.data["episode"]
    assert "episode.assessment" in decision.withheld
    assert "case" not in decision.categories


def test_a_message_whose_subject_would_be_withheld_is_refused_not_sent_empty():
    identity_only = consent("agency:youth-service", categories=frozenset({DataCategory.IDENTITY}))
    decision = decide(episode(1), YOUTH, RegisterState(consents=(identity_only,)), NOW)
    assert decision.permitted is False
    assert "episode, what caf-episode-recorded is about, may not be shared" in decision.reason


def test_s47_gateway_permits_the_referral_without_consent_and_names_the_decision_maker():
    state = RegisterState(gateways=(gateway(Gateway.S47_SIGNIFICANT_HARM,
                                            ConsentPurpose.REFERRAL_TO_SOCIAL_CARE, "kind:case_system"),))
    decision = decide(referral(1), CASE_SYSTEM, state, NOW)
    assert decision.permitted is True
    assert decision.legal_basis.startswith("Children Act 1989 s47")
    assert decision.basis_refs == ("g-1",)
    assert "by P-TM-03 (Team manager)" in decision.checks[-2].detail


def test_consent_is_preferred_to_a_gateway_and_withdrawal_falls_back_to_the_gateway():
    gateway_grant = gateway(Gateway.S17_CHILD_IN_NEED, ConsentPurpose.REFERRAL_TO_SOCIAL_CARE,
                            "kind:case_system")
    given = consent("kind:case_system", ConsentPurpose.REFERRAL_TO_SOCIAL_CARE)
    preferred = decide(referral(1), CASE_SYSTEM, RegisterState((given,), (gateway_grant,)), NOW)
    assert preferred.basis_kind == "consent"
    withdrawn = consent("kind:case_system", ConsentPurpose.REFERRAL_TO_SOCIAL_CARE,
                        withdrawn_at=NOW - timedelta(minutes=5))
    decision = decide(referral(1), CASE_SYSTEM, RegisterState((withdrawn,), (gateway_grant,)), NOW)
    assert (decision.permitted, decision.basis_kind) == (True, "gateway")


def test_expired_gateway_does_not_count():
    state = RegisterState(gateways=(gateway(Gateway.S47_SIGNIFICANT_HARM,
                                            ConsentPurpose.REFERRAL_TO_SOCIAL_CARE, "kind:case_system",
                                            expires_at=NOW - timedelta(seconds=1)),))
    decision = decide(referral(1), CASE_SYSTEM, state, NOW)
    assert decision.permitted is False
    assert "gateway decision g-1 expired" in decision.reason


def test_purpose_mismatch_is_refused_even_with_consent():
    wrong_purpose = episode(1).model_copy(update={"purpose": Purpose.MIGRATION})
    decision = decide(wrong_purpose, YOUTH, RegisterState(consents=(consent("agency:youth-service"),)), NOW)
    assert decision.permitted is False
    assert decision.reason == "no legal basis for caf-episode-recorded to a partner for the purpose migration"


def test_an_ordinary_involvement_reaches_the_directory_on_the_statutory_basis():
    decision = decide(involvement(None), DIRECTORY, RegisterState(), NOW)
    assert decision.permitted is True
    assert decision.basis_kind == "statute"
    assert decision.data["involvement"]["service"] == "Clinic"


def test_a_sensitive_service_needs_the_childs_own_consent_for_the_directory():
    decision = decide(involvement("Sexual health"), DIRECTORY, RegisterState(), NOW)
    assert decision.permitted is False
    assert "only with the child's own consent or a s47 significant-harm gateway" in decision.reason

    parents = consent("kind:directory", ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY,
                      given_by=GivenBy.PARENT, competent=None)
    assert decide(involvement("Sexual health"), DIRECTORY, RegisterState((parents,)), NOW).permitted is False


def test_a_sensitive_service_with_the_childs_consent_shows_only_that_an_involvement_exists():
    childs = consent("kind:directory", ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY)
    decision = decide(involvement("Sexual health"), DIRECTORY, RegisterState((childs,)), NOW)
    assert decision.permitted is True
    assert decision.data["involvement"]["start"] == "2024-05-01"
    assert set(decision.data["involvement"]) <= {"start", "sensitive"}
    assert {"involvement.service", "involvement.practitioner", "involvement.sensitive_service"} <= set(
        decision.withheld)
    assert "Sexual health" not in str(decision.data) and "Clinic" not in str(decision.data)


def test_a_s47_gateway_puts_a_sensitive_service_on_the_directory_as_existence_only():
    s47 = gateway(Gateway.S47_SIGNIFICANT_HARM, ConsentPurpose.SENSITIVE_SERVICE_ON_DIRECTORY,
                  "kind:directory")
    state = RegisterState(gateways=(s47,))
    decision = decide(involvement("Substance misuse"), DIRECTORY, state, NOW)
    assert decision.permitted is True
    assert "Substance misuse" not in str(decision.data)


def test_a_shielded_childs_involvement_never_reaches_the_directory():
    decision = decide(involvement(None, shielded=True), DIRECTORY, RegisterState(), NOW)
    assert decision.permitted is False
    assert decision.reason.startswith("the child is shielded")
    assert decision.data == {}
