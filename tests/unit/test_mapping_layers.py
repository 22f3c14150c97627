"""The authority's override layer: merged by rule id, checked on load, picked up without a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from lxml import etree

from mappings import engine
from mappings.layers import GOLDEN_DIR, SpecError
from mappings.registry import MappingRegistry

LP = "directory/standard/lead-professional-changed"
GOLDEN = GOLDEN_DIR / "directory/standard/lead-professional-changed/hannah-melanie-lead"
HEADER = {"message_id": "m-1", "sent_at": "2026-11-20T09:00:00+00:00"}
BASE_VERSION = MappingRegistry().find(*LP.split("/")).version


def write(root: Path, relative: str, content: dict) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content))
    return path


def hannah() -> dict:
    from hub.canonical.events import LeadProfessionalChanged

    canonical = json.loads((GOLDEN / "canonical.json").read_text())
    return LeadProfessionalChanged.model_validate(canonical).model_dump(mode="json")


def rendered_text(registry: MappingRegistry, xpath: str) -> list[str]:
    document = engine.render(registry.find(*LP.split("/")), hannah(), HEADER).document
    return document.xpath(xpath, namespaces={"d": "urn:childrens-hub:directory:1"})


def test_a_mapping_that_sends_case_data_to_the_directory_is_refused_at_load_naming_the_rule(tmp_path):
    write(tmp_path, "specs/directory/standard/referral-to-social-care.yaml", {
        "id": "directory/referral", "version": "1", "description": "a mistake",
        "kind": "directory", "message_type": "referral-to-social-care", "format": "xml",
        "root": "referral", "purpose": "directory-update",
        "header": {"message_id": "@id", "sent_at": "@at"},
        "rules": [
            {"id": "child-name", "wire": "name", "canonical": "child.name.given"},
            {"id": "referral-reason", "wire": "reason", "canonical": "referral.reason"},
        ],
    })

    with pytest.raises(SpecError) as refused:
        MappingRegistry(tmp_path)

    message = str(refused.value)
    assert "rule referral-reason" in message
    assert "referral.reason (case data)" in message
    assert "directory" in message


def test_an_override_cannot_add_sensitive_data_to_the_directory(tmp_path):
    write(tmp_path, f"specs/{LP}.yaml", {"version": "la-1", "rules": [
        {"id": "child-ethnicity", "wire": "d:child/d:ethnicity", "canonical": "child.ethnicity"},
    ]})

    with pytest.raises(SpecError, match=r"rule child-ethnicity would send child.ethnicity \(sensitive"):
        MappingRegistry(tmp_path)


def test_an_override_replaces_rules_by_id_adds_and_removes_them(tmp_path):
    write(tmp_path, f"specs/{LP}.yaml", {"version": "la-1", "remove": ["child-nhs-number"], "rules": [
        {"id": "lead-role", "wire": "d:leadProfessional/d:team", "canonical": "lead_professional.role"},
    ]})

    registry = MappingRegistry(tmp_path)

    effective = registry.find(*LP.split("/"))
    assert effective.version == f"{BASE_VERSION}+la-1"
    assert len(effective.layers) == 2
    assert rendered_text(registry, "//d:leadProfessional/d:team/text()") == ["Learning mentor"]
    assert rendered_text(registry, "//d:leadProfessional/d:role") == []
    assert rendered_text(registry, "//d:child/d:nhsNumber") == []


def test_an_override_code_list_changes_the_codes_sent(tmp_path):
    write(tmp_path, "code_lists/gender-cin.yaml", {"id": "gender-cin", "version": "la-1",
                                                   "entries": {"2": "9", "9": "2"}})

    registry = MappingRegistry(tmp_path)

    assert rendered_text(registry, "//d:child/d:gender/text()") == ["9"]
    assert registry.find(*LP.split("/")).code_lists["gender-cin"].version == "1+la-1"


def test_a_changed_override_is_used_by_the_next_render_without_a_restart(tmp_path):
    registry = MappingRegistry(tmp_path, check_interval=0)
    assert rendered_text(registry, "//d:leadProfessional/d:role/text()") == ["Learning mentor"]

    write(tmp_path, f"specs/{LP}.yaml", {"version": "la-2", "rules": [
        {"id": "lead-role", "wire": "d:leadProfessional/d:team", "canonical": "lead_professional.role"},
    ]})
    time.sleep(0.01)

    assert rendered_text(registry, "//d:leadProfessional/d:team/text()") == ["Learning mentor"]
    assert registry.find(*LP.split("/")).version == f"{BASE_VERSION}+la-2"


def test_a_broken_override_keeps_the_last_good_mappings_and_reports_why(tmp_path):
    registry = MappingRegistry(tmp_path, check_interval=0)
    (tmp_path / "specs/directory/standard").mkdir(parents=True)
    (tmp_path / f"specs/{LP}.yaml").write_text("version: [unclosed")

    assert registry.find(*LP.split("/")).version == BASE_VERSION
    assert "not valid YAML" in registry.last_error


def test_removing_a_rule_the_base_does_not_have_is_refused(tmp_path):
    write(tmp_path, f"specs/{LP}.yaml", {"version": "la-1", "remove": ["no-such-rule"]})

    with pytest.raises(SpecError, match="removes rules the base does not have: no-such-rule"):
        MappingRegistry(tmp_path)


def test_a_code_list_that_maps_two_codes_to_one_is_refused(tmp_path):
    write(tmp_path, "code_lists/gender-cin.yaml", {"id": "gender-cin", "version": "la-1",
                                                   "entries": {"1": "1", "2": "1"}})

    with pytest.raises(SpecError, match="wire codes used twice: 1"):
        MappingRegistry(tmp_path)


def test_rendered_xml_escapes_what_it_must():
    registry = MappingRegistry()
    data = hannah()
    data["lead_professional"]["agency"] = "Smith & Sons <Ltd>"

    document = engine.render(registry.find(*LP.split("/")), data, HEADER).document

    assert b"Smith &amp; Sons &lt;Ltd&gt;" in etree.tostring(document)
