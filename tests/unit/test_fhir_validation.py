"""FHIR validation of health partners' messages: the whole Bundle, every resource, every NHS number."""

from __future__ import annotations

import copy
import json

import pytest

from adapters.partner.fhir import validate_fhir
from adapters.registry import Adapters
from adapters.rejection import InputRejected
from hub.canonical.events import ReferralAcknowledged
from mappings.engine import MappingError
from mappings.layers import GOLDEN_DIR
from mappings.registry import MappingRegistry

REGISTRY = MappingRegistry()
ADAPTERS = Adapters(REGISTRY)
PARTNER = ADAPTERS.for_kind("partner")
REFERRAL_SPEC = REGISTRY.find("partner", "health-fhir", "partner-referral")
HANNAH = GOLDEN_DIR / "partner/health-fhir/partner-referral/hannah-gp-referral"
DECIDED = GOLDEN_DIR / "partner/health-fhir/referral-acknowledged/hannah-referral-decided"


def referral() -> dict:
    return json.loads((HANNAH / "wire.json").read_text())


def entry(bundle: dict, resource_type: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def refusal(document: dict) -> InputRejected:
    with pytest.raises(InputRejected) as caught:
        validate_fhir(REFERRAL_SPEC, document)
    return caught.value


def test_a_valid_referral_bundle_passes():
    validate_fhir(REFERRAL_SPEC, referral())


def test_an_unknown_element_is_refused_where_it_is():
    bundle = referral()
    entry(bundle, "Patient")["favouriteColour"] = "green"

    error = refusal(bundle)

    assert (error.status, error.rule, error.field) == \
        (422, "fhir.unknown-element", "/entry/2/resource/favouriteColour")


def test_a_date_in_the_wrong_format_is_refused():
    bundle = referral()
    entry(bundle, "Patient")["birthDate"] = "14/03/2011"

    error = refusal(bundle)

    assert (error.rule, error.field) == ("fhir.invalid-value", "/entry/2/resource/birthDate")


def test_a_missing_required_element_is_refused():
    bundle = referral()
    del entry(bundle, "Consent")["scope"]

    error = refusal(bundle)

    assert (error.rule, error.field) == ("fhir.missing-element", "/entry/5/resource/scope")


def test_a_resource_type_fhir_does_not_have_is_refused():
    bundle = referral()
    entry(bundle, "Consent")["resourceType"] = "ConsentForm"

    error = refusal(bundle)

    assert (error.rule, error.field) == ("fhir.resource-type", "/entry/5/resource/resourceType")


def test_a_data_type_is_not_a_resource():
    bundle = referral()
    bundle["entry"].append({"resource": {"resourceType": "HumanName", "family": "Example"}})

    assert refusal(bundle).rule == "fhir.resource-type"


def test_every_nhs_number_identifier_is_checked():
    bundle = referral()
    entry(bundle, "Consent")["patient"]["identifier"]["value"] = "9434765918"

    error = refusal(bundle)

    assert (error.rule, error.field) == \
        ("identifier.nhs-number.invalid-checksum", "/entry/5/resource/patient/identifier/value")


def test_other_formats_are_left_alone():
    supplier_b = REGISTRY.find("case_system", "supplier-b", "case-closed")

    validate_fhir(supplier_b, {"messageType": "caseClosure", "subject": {"gender": "female"}})


def test_a_document_that_is_a_fhir_resource_is_checked_whatever_the_profile():
    supplier_b = REGISTRY.find("case_system", "supplier-b", "case-closed")

    with pytest.raises(InputRejected):
        validate_fhir(supplier_b, {"resourceType": "Patient", "birthDate": "yesterday"})


def test_only_partners_have_the_fhir_check():
    assert validate_fhir in PARTNER.extra_checks
    assert validate_fhir not in ADAPTERS.for_kind("case_system").extra_checks


def test_a_referral_with_a_full_consent_resource_is_read():
    """What a GP's system records about consent is valid FHIR and does not stop the referral,
    though the canonical event has nowhere to keep it yet (who consented, when, to what)."""
    bundle = referral()
    consent = entry(bundle, "Consent")
    consent.update({
        "dateTime": "2027-01-08T11:05:00+00:00",
        "performer": [{"display": "Hannah Example (judged Gillick competent by Dr Patel)"}],
        "provision": {
            "type": "permit",
            "code": [{"text": "referral to children's social care"}],
            "actor": [{"role": {"text": "recipient"},
                       "reference": {"display": "Northfield Children's Social Care"}}],
        },
    })
    body = json.dumps(bundle).encode()

    identified = PARTNER.identify(body, "application/fhir+json", "health-fhir")
    received = PARTNER.read(identified, "gp-northfield")

    assert received.message_type == "partner-referral"
    assert received.event.referral.source == "3A"
    assert received.event.child.identifiers.nhs_number == "9434765919"


def test_an_acknowledgement_the_fhir_models_refuse_never_leaves():
    event = json.loads((DECIDED / "canonical.json").read_text())
    event = ReferralAcknowledged.model_validate(event).model_dump(mode="json")
    bad = copy.deepcopy(event)
    bad["tracking_id"] = {"not": "a string"}  # what a broken flow might hand over
    header = {"message_id": "m-1", "sent_at": "2027-01-09T16:05:02+00:00"}

    rendered = PARTNER.render("health-fhir", "referral-acknowledged", event, header)
    assert json.loads(rendered.body)["entry"][1]["resource"]["resourceType"] == "Task"
    with pytest.raises(MappingError) as caught:
        PARTNER.render("health-fhir", "referral-acknowledged", bad, header)
    assert caught.value.rule_id == "schema"
