"""JSON paths: list items picked by a nested field (FHIR Bundle entries) or by position (FHIR's lists)."""

from __future__ import annotations

import pytest

from mappings.codecs import JsonCodec, PathError

BUNDLE = {
    "resourceType": "Bundle",
    "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "ServiceRequest", "status": "active"}},
        {"fullUrl": "urn:uuid:2", "resource": {
            "resourceType": "Patient",
            "name": [{"use": "nickname", "given": ["Han"]},
                     {"use": "official", "given": ["Hannah", "Jane"], "family": "Example"}],
        }},
    ],
}
CODEC = JsonCodec()


def test_a_list_item_is_picked_by_a_nested_field():
    found = CODEC.read(BUNDLE, "entry[resource.resourceType=Patient].resource.name[use=official].family")

    assert found is not None
    assert (found.value, found.where) == ("Example", "entry[1].resource.name[1].family")


def test_a_list_item_is_picked_by_its_position():
    first = CODEC.read(BUNDLE, "entry[resource.resourceType=Patient].resource.name[use=official].given[0]")
    second = CODEC.read(BUNDLE, "entry[1].resource.name[1].given[1]")

    assert (first.value, first.where) == ("Hannah", "entry[1].resource.name[1].given[0]")
    assert second.value == "Jane"
    assert CODEC.read(BUNDLE, "entry[1].resource.name[1].given[2]") is None
    assert CODEC.read(BUNDLE, "entry[resource.resourceType=Consent].resource.status") is None


def test_items_by_nested_field_and_by_position():
    assert [i.value["fullUrl"] for i in CODEC.items(BUNDLE, "entry[resource.resourceType=ServiceRequest]")] \
        == ["urn:uuid:1"]
    names = CODEC.items(BUNDLE, "entry[1].resource.name")
    assert [i.value for i in names] == BUNDLE["entry"][1]["resource"]["name"]
    assert [i.where for i in names][0] == "entry[1].resource.name[0]"


def test_writing_builds_the_items_the_paths_name():
    document: dict = {}
    CODEC.write(document, "entry[resource.resourceType=Patient].resource.name[use=official].given[0]",
                "Hannah")
    CODEC.write(document, "entry[resource.resourceType=Patient].resource.name[use=official].given[1]",
                "Jane")
    where = CODEC.write(document, "entry[resource.resourceType=Consent].resource.scope.coding[0].code",
                        "patient-privacy")

    assert document == {"entry": [
        {"resource": {"resourceType": "Patient", "name": [{"use": "official", "given": ["Hannah", "Jane"]}]}},
        {"resource": {"resourceType": "Consent", "scope": {"coding": [{"code": "patient-privacy"}]}}},
    ]}
    assert where == "entry[1].resource.scope.coding[0].code"


def test_written_paths_read_back():
    document: dict = {}
    path = "entry[resource.resourceType=ServiceRequest].resource.reasonCode[0].text"
    CODEC.write(document, path, "Young carer")

    assert CODEC.read(document, path).value == "Young carer"


def test_writing_never_leaves_a_gap_in_a_list():
    with pytest.raises(PathError, match="gap"):
        CODEC.write({}, "name[0].given[1]", "Jane")
    with pytest.raises(PathError, match="gap"):
        CODEC.write({}, "name[1].family", "Example")


def test_the_last_step_cannot_pick_an_item_by_a_field():
    with pytest.raises(PathError):
        CODEC.write({}, "name[use=official]", "Hannah")
