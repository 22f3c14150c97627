"""The sharing decision and data minimisation: default deny, and only allowed categories leave."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from consent.minimise import minimise
from consent.policy import DIRECTORY_BASIS, Destination, decide
from consent.profiles import allowed_categories
from hub.canonical import DataCategory, Envelope, LeadProfessionalChanged, Purpose, field_categories
from hub.canonical.casework import (
    AssessmentArea,
    AssessmentElement,
    CafEpisode,
    ConsentStatement,
    Involvement,
    PlanAction,
)
from hub.canonical.people import (
    Address,
    Carer,
    Child,
    ChildIdentifiers,
    ContactDetails,
    Gender,
    PersonName,
    Practitioner,
)

LEAD_CHANGED = "lead-professional-changed"
FORBIDDEN_FOR_DIRECTORY = {DataCategory.CASE, DataCategory.SENSITIVE}


def hannah(**overrides: Any) -> Child:
    values: dict[str, Any] = dict(
        identifiers=ChildIdentifiers(caf_child_id="CAF-C-0042", nhs_number="9434765919",
                                     directory_id="DIR-7781"),
        name=PersonName(given="Hannah", family="Example"),
        date_of_birth=date(2011, 3, 14),
        gender=Gender.FEMALE,
        address=Address(lines=["1 Example Road"], postcode="NF1 1AA"),
        carers=[Carer(name=PersonName(given="Jo", family="Example"), relationship="mother",
                      contact=ContactDetails(phone="01632 960999"))],
        ethnicity="WBRI",
    )
    values.update(overrides)
    return Child(**values)


def melanie() -> Practitioner:
    return Practitioner(
        practitioner_id="P-MEL-01", name=PersonName(given="Melanie", family="Mentor"),
        role="Learning mentor", agency="Northfield School",
        contact=ContactDetails(phone="01632 960001", email="melanie@northfield.example"),
    )


def envelope(child: Child | None = None, purpose: Purpose = Purpose.DIRECTORY_UPDATE) -> Envelope:
    moment = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    event = LeadProfessionalChanged(
        child=child or hannah(), episode_id="EP-2031", episode_version=3,
        lead_professional=melanie(), agreed_at=moment,
    )
    return Envelope(
        correlation_id="corr-1", source_system="caf-national", source_message_id="caf-msg-0001",
        message_type=LEAD_CHANGED, message_version="1", occurred_at=moment, purpose=purpose,
        payload=event,
    )


DIRECTORY = Destination("directory", "directory", frozenset({LEAD_CHANGED}))


def data_paths(data: Any, prefix: str = "") -> set[str]:
    """Every field path in minimised data, written the way ``field_categories`` writes them."""
    paths: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}{key}"
            paths.add(path)
            paths |= data_paths(value, f"{path}.")
    elif isinstance(data, list):
        for item in data:
            paths |= data_paths(item, prefix)
    return paths


# --- decide -------------------------------------------------------------------------------


def test_directory_update_is_permitted_on_the_s12_basis():
    decision = decide(envelope(), DIRECTORY)
    assert decision.permitted is True
    assert decision.legal_basis == DIRECTORY_BASIS
    assert "s12" in decision.legal_basis


def test_directory_receives_no_case_or_sensitive_field():
    decision = decide(envelope(), DIRECTORY)
    categories = field_categories(LeadProfessionalChanged)
    leaked = {
        path for path in data_paths(decision.data) | set(decision.shared)
        if categories[path] in FORBIDDEN_FOR_DIRECTORY
    }
    assert leaked == set()


def test_child_ethnicity_is_withheld_from_the_directory_and_listed():
    decision = decide(envelope(), DIRECTORY)
    assert "ethnicity" not in decision.data["child"]
    assert "WBRI" not in repr(decision.data)
    assert "child.ethnicity" in decision.withheld
    assert "child.ethnicity" not in decision.shared


def test_directory_receives_identity_and_the_lead_professional():
    decision = decide(envelope(), DIRECTORY)
    assert decision.data["child"]["name"] == {"given": "Hannah", "family": "Example"}
    assert decision.data["child"]["date_of_birth"] == "2011-03-14"
    assert decision.data["child"]["gender"] == "2"
    assert decision.data["lead_professional"]["practitioner_id"] == "P-MEL-01"
    assert decision.data["episode_version"] == 3
    assert "child.name.given" in decision.shared
    assert "lead_professional.contact.phone" in decision.shared


def test_shielded_child_is_denied_for_the_directory():
    decision = decide(envelope(hannah(shielded=True)), DIRECTORY)
    assert decision.permitted is False
    assert "shielded" in decision.reason
    assert decision.legal_basis is None
    assert decision.data == {}


def test_destination_not_registered_for_the_message_type_is_denied():
    elsewhere = Destination("directory", "directory", frozenset({"involvement-ended"}))
    decision = decide(envelope(), elsewhere)
    assert decision.permitted is False
    assert LEAD_CHANGED in decision.reason
    assert decision.data == {}


def test_destination_kind_without_a_rule_is_denied_by_default():
    partner = Destination("police", "partner", frozenset({LEAD_CHANGED}))
    decision = decide(envelope(), partner)
    assert decision.permitted is False
    assert "no legal basis" in decision.reason
    assert decision.legal_basis is None
    assert decision.data == {}


def test_purpose_without_a_rule_is_denied_even_for_the_directory():
    decision = decide(envelope(purpose=Purpose.TAC_SHARING), DIRECTORY)
    assert decision.permitted is False
    assert "no legal basis" in decision.reason


# --- minimise -----------------------------------------------------------------------------


def test_minimise_with_no_allowed_category_returns_no_data():
    result = minimise(envelope().payload, frozenset())
    assert result.data == {}
    assert result.shared == []
    assert "child" in result.withheld


def test_unknown_destination_kind_is_allowed_no_category():
    assert allowed_categories("no-such-kind") == frozenset()


def test_directory_profile_excludes_case_and_sensitive():
    assert allowed_categories("directory").isdisjoint(FORBIDDEN_FOR_DIRECTORY)


def test_minimise_withholds_caf_assessment_plan_and_consent_from_the_directory():
    episode = CafEpisode(
        episode_id="EP-2031", version=3, lead_professional=melanie(),
        assessment=[AssessmentElement(area=AssessmentArea.DEVELOPMENT, element="health",
                                      text="Missed three dental appointments")],
        delivery_plan=[PlanAction(need="attendance", action="Daily check-in")],
        consent=ConsentStatement(given_by="mother", purposes=["tac-sharing"]),
        closure_reason="needs met",
    )
    result = minimise(episode, allowed_categories("directory"))
    assert set(result.data) == {"episode_id", "version", "status", "lead_professional"}
    assert {"assessment", "delivery_plan", "consent", "closure_reason"} <= set(result.withheld)
    assert "dental" not in repr(result.data)


def test_minimise_withholds_a_sensitive_service_name():
    involvement = Involvement(service="Health", sensitive_service="Sexual health clinic")
    result = minimise(involvement, allowed_categories("directory"))
    assert result.data == {"service": "Health", "lead_professional": False, "sensitive": False}
    assert result.withheld == ["sensitive_service"]


def test_minimise_withholds_a_nested_field_of_a_disallowed_category():
    result = minimise(melanie(), frozenset({DataCategory.INVOLVEMENT, DataCategory.IDENTITY}))
    assert "contact" not in result.data
    assert result.data["practitioner_id"] == "P-MEL-01"
    assert result.data["name"] == {"given": "Melanie", "family": "Mentor"}
    assert result.withheld == ["contact"]


def test_minimise_keeps_nothing_below_a_withheld_parent():
    # the child is IDENTITY; allowing only CONTACT must not let child.address through
    result = minimise(envelope().payload, frozenset({DataCategory.CONTACT}))
    assert "child" not in result.data
    assert "child" in result.withheld


@pytest.mark.parametrize("kind", ["directory", "caf_system", "case_system", "partner"])
def test_minimised_data_only_holds_fields_of_allowed_categories(kind: str):
    allowed = allowed_categories(kind)
    result = minimise(envelope().payload, allowed)
    categories = field_categories(LeadProfessionalChanged)
    assert {categories[path] for path in data_paths(result.data)} <= allowed
    assert {categories[path] for path in result.shared} <= allowed
