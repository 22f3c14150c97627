"""FHIR validation of health partners' messages, with the maintained ``fhir.resources`` models.

Health partners (GP practices, health visiting, school nursing, A&E) send referrals and receive
acknowledgements as FHIR R4 JSON. Every such document, inbound before it is mapped and outbound
before it leaves, is validated as a whole (a Bundle with every resource in it) by the
``fhir.resources`` models: element names, cardinality, primitive formats (dates, ids, codes) and
required elements. NHS numbers carried in any Identifier are checked with python-stdnum as
everywhere else in the hub.

FHIR release: ``fhir.resources`` 8.x (pydantic 2, like the hub) ships R5 as its default and R4B
(4.3.0) and STU3 as subpackages; R4 itself (4.0.1) was only ever the default of releases built on
pydantic 1. So R4 messages are validated with the R4B models: R4B is a technical correction of R4
that leaves the elements used here unchanged (Bundle, MessageHeader, ServiceRequest, Patient,
Practitioner, PractitionerRole, Consent, Task). An R4B-only element would be accepted.

A refusal names the failing element as a JSON pointer into the document (``/entry/2/resource/
birthDate``) and the rule ``fhir.<problem>``: ``fhir.resource-type`` (not a FHIR resource),
``fhir.missing-element``, ``fhir.unknown-element``, ``fhir.invalid-value``, or the model's own
error type for anything else.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from adapters.identifiers import check_nhs_number
from adapters.rejection import InputRejected
from mappings.engine import EffectiveSpec

FHIR_PROFILE_PREFIX = "health-fhir"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"

_PROBLEMS = {
    "missing": "missing-element",
    "model_field_validation.missing": "missing-element",
    "extra_forbidden": "unknown-element",
    "value_error": "invalid-value",
    "string_pattern_mismatch": "invalid-value",
    "fhir-validation-wrong-resource-type": "resource-type",
}


def is_fhir(effective: EffectiveSpec, document: Any) -> bool:
    """A FHIR-format spec: a ``health-fhir`` profile, or a document that is a FHIR resource."""
    return effective.spec.profile.startswith(FHIR_PROFILE_PREFIX) or (
        isinstance(document, dict) and "resourceType" in document
    )


def validate_fhir(effective: EffectiveSpec, document: Any) -> None:
    """Refuse a document that is not a valid FHIR resource; does nothing for other formats."""
    if not is_fhir(effective, document):
        return
    if not isinstance(document, dict) or "resourceType" not in document:
        raise InputRejected(422, "fhir.resource-type", "a FHIR message is a resource with a "
                            "resourceType", "/resourceType")
    _check_resource_types(document, "")
    model = get_fhir_model_class(document["resourceType"])
    try:
        model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = _pointer(first["loc"])
        problem = _PROBLEMS.get(first["type"], first["type"].replace("_", "-"))
        raise InputRejected(422, f"fhir.{problem}", f"{where}: {first['msg']}", where) from None
    _check_nhs_numbers(document, "")


def _pointer(location: tuple[Any, ...]) -> str:
    return "/" + "/".join(str(part) for part in location)


def _check_resource_types(node: Any, where: str) -> None:
    """Every object naming a resourceType names a FHIR resource (the models would not say where)."""
    if isinstance(node, dict):
        if "resourceType" in node:
            name = node["resourceType"]
            if not _is_resource(name):
                raise InputRejected(422, "fhir.resource-type",
                                    f"{name!r} is not a FHIR resource type",
                                    f"{where}/resourceType")
        for key, value in node.items():
            _check_resource_types(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _check_resource_types(item, f"{where}/{index}")


def _is_resource(name: Any) -> bool:
    if not isinstance(name, str):
        return False
    try:
        return issubclass(get_fhir_model_class(name), Resource)
    except (ValueError, KeyError):
        return False


def _check_nhs_numbers(node: Any, where: str) -> None:
    """Every Identifier in the NHS number system holds a valid NHS number."""
    if isinstance(node, dict):
        if node.get("system") == NHS_NUMBER_SYSTEM and "value" in node:
            check_nhs_number(str(node["value"]), f"{where}/value")
        for key, value in node.items():
            _check_nhs_numbers(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _check_nhs_numbers(item, f"{where}/{index}")
