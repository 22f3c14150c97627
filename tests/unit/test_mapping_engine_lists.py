"""Lists in mappings: repeated plain values (``repeated``) and one list spread over several wire
elements (``each`` with ``select``), both ways, in XML and JSON, with provenance per item."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mappings import engine
from mappings.engine import EffectiveSpec
from mappings.layers import SpecError, validate
from mappings.spec import MappingSpec, Rule

NS = "urn:test:lists"

EPISODE = {
    "child": {"identifiers": {}, "name": {"given": "Hannah", "family": "Example"},
              "address": {"lines": ["12 Example Road", "Northfield"]}},
    "episode": {
        "episode_id": "EP-1",
        "consent": {"given_by": "child", "purposes": ["caf-assessment", "tac-sharing"]},
        "assessment": [
            {"area": "development-of-the-child", "element": "general-health", "text": "Tired."},
            {"area": "development-of-the-child", "element": "aspirations", "text": "Nursing."},
            {"area": "family-and-environmental", "element": "wider-family", "text": "Gran."},
        ],
    },
    "recorded_by": {"practitioner_id": "P-1", "name": {"given": "Melanie", "family": "Mentor"}},
    "recorded_at": "2026-11-20T16:05:00+00:00",
}

ASSESSMENT = [
    {"id": "development", "wire": "e:episode/e:development/e:element", "canonical": "episode.assessment",
     "select": {"canonical": "area", "equals": "development-of-the-child"},
     "each": [{"id": "development-code", "wire": "@code", "canonical": "element"},
              {"id": "development-text", "wire": ".", "canonical": "text"}]},
    {"id": "family", "wire": "e:episode/e:family/e:element", "canonical": "episode.assessment",
     "select": {"canonical": "area", "equals": "family-and-environmental"},
     "each": [{"id": "family-code", "wire": "@code", "canonical": "element"},
              {"id": "family-text", "wire": ".", "canonical": "text"}]},
]


def effective(rules: list[dict], format: str = "xml") -> EffectiveSpec:
    spec = MappingSpec.model_validate({
        "id": "test/lists", "version": "1", "description": "lists", "kind": "caf_system",
        "message_type": "caf-episode-recorded", "format": format, "purpose": "tac-sharing",
        **({"namespaces": {"e": NS}, "root": "e:message",
            "header": {"message_id": "@id", "sent_at": "@at"}} if format == "xml" else
           {"match": {"type": "episode"}, "header": {"message_id": "id", "sent_at": "at"}}),
        "rules": [
            {"id": "type", "wire": "type", "default": "episode", "direction": "outbound"},
        ] * (format == "json") + [
            {"id": "child-given", "wire": "e:name/e:given" if format == "xml" else "name.given",
             "canonical": "child.name.given"},
            {"id": "child-family", "wire": "e:name/e:family" if format == "xml" else "name.family",
             "canonical": "child.name.family"},
            {"id": "episode-id", "wire": "e:episode/@id" if format == "xml" else "episode.id",
             "canonical": "episode.episode_id"},
            {"id": "by", "wire": "e:by/e:id" if format == "xml" else "by.id",
             "canonical": "recorded_by.practitioner_id"},
            {"id": "by-given", "wire": "e:by/e:given" if format == "xml" else "by.given",
             "canonical": "recorded_by.name.given"},
            {"id": "by-family", "wire": "e:by/e:family" if format == "xml" else "by.family",
             "canonical": "recorded_by.name.family"},
            {"id": "at", "wire": "e:at" if format == "xml" else "at", "canonical": "recorded_at"},
            *rules,
        ],
    })
    validate(spec, {}, Path("test.yaml"))
    return EffectiveSpec(spec=spec, code_lists={}, version="1", layers=())


def test_repeated_plain_values_render_one_element_each_and_parse_back_with_provenance():
    spec = effective([
        {"id": "lines", "wire": "e:address/e:line", "canonical": "child.address.lines", "repeated": True},
        {"id": "purposes", "wire": "e:episode/e:consent/e:purpose",
         "canonical": "episode.consent.purposes", "repeated": True},
        {"id": "given-by", "wire": "e:episode/e:consent/e:givenBy", "canonical": "episode.consent.given_by"},
    ])

    rendered = engine.render(spec, EPISODE, {"message_id": "m-1", "sent_at": "2026-11-20T16:05:00Z"})
    parsed = engine.parse(spec, rendered.document, "caf")

    assert rendered.document.xpath("e:address/e:line/text()", namespaces={"e": NS}) == \
        ["12 Example Road", "Northfield"]
    assert parsed.data["child"]["address"]["lines"] == ["12 Example Road", "Northfield"]
    assert parsed.data["episode"]["consent"]["purposes"] == ["caf-assessment", "tac-sharing"]
    assert parsed.provenance["episode.consent.purposes[1]"].wire_path == "/message/episode/consent/purpose[2]"
    assert parsed.provenance["episode.consent.purposes[1]"].rule_id == "purposes"
    assert {f.canonical_path for f in rendered.fields} >= {"child.address.lines[0]", "child.address.lines[1]"}


def test_repeated_plain_values_in_json():
    spec = effective([{"id": "purposes", "wire": "consent.purposes",
                       "canonical": "episode.consent.purposes", "repeated": True},
                      {"id": "given-by", "wire": "consent.givenBy", "canonical": "episode.consent.given_by"}],
                     format="json")

    rendered = engine.render(spec, EPISODE, {"message_id": "m-1", "sent_at": "2026-11-20T16:05:00Z"})
    parsed = engine.parse(spec, rendered.document)

    assert rendered.document["consent"]["purposes"] == ["caf-assessment", "tac-sharing"]
    assert parsed.data["episode"]["consent"]["purposes"] == ["caf-assessment", "tac-sharing"]
    assert parsed.provenance["episode.consent.purposes[0]"].wire_path == "consent.purposes[0]"


def test_an_absent_repeated_list_is_skipped_and_not_invented():
    spec = effective([{"id": "lines", "wire": "e:address/e:line", "canonical": "child.address.lines",
                       "repeated": True}])
    data = {**EPISODE, "child": {**EPISODE["child"], "address": None}}

    rendered = engine.render(spec, data, {"message_id": "m-1", "sent_at": "2026-11-20T16:05:00Z"})

    assert [s.rule_id for s in rendered.skipped] == ["lines"]
    assert "address" not in engine.parse(spec, rendered.document).data["child"]


def test_select_places_each_item_under_its_own_element_and_parsing_gathers_them():
    spec = effective(ASSESSMENT)

    rendered = engine.render(spec, EPISODE, {"message_id": "m-1", "sent_at": "2026-11-20T16:05:00Z"})
    parsed = engine.parse(spec, rendered.document, "caf")

    codes = rendered.document.xpath("e:episode/e:development/e:element/@code", namespaces={"e": NS})
    assert codes == ["general-health", "aspirations"]
    assert rendered.document.xpath("e:episode/e:family/e:element/@code", namespaces={"e": NS}) == \
        ["wider-family"]
    assert parsed.data["episode"]["assessment"] == EPISODE["episode"]["assessment"]
    area = parsed.provenance["episode.assessment[2].area"]
    assert (area.wire_path, area.rule_id) == ("/message/episode/family/element", "family")
    assert parsed.provenance["episode.assessment[2].text"].rule_id == "family-text"


def test_select_on_a_field_the_items_do_not_have_is_refused_at_load():
    with pytest.raises(SpecError, match="have no field realm"):
        effective([{**ASSESSMENT[0], "select": {"canonical": "realm", "equals": "x"}}])


@pytest.mark.parametrize("rule", [
    {"id": "x", "wire": "a", "canonical": "child.address.lines", "select": {"canonical": "area"}},
    {"id": "x", "wire": "a", "canonical": "child.address.lines", "repeated": True, "default": "b"},
    {"id": "x", "wire": "a", "canonical": "episode.assessment", "repeated": True,
     "each": [{"id": "y", "wire": ".", "canonical": "text"}]},
])
def test_incoherent_list_rules_are_refused(rule):
    with pytest.raises(ValidationError):
        Rule.model_validate(rule)
