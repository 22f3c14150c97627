"""The CAF -> Assessment Framework mapping: Hannah's CAF as draft evidence for social care."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml

from hub.canonical.casework import CafEpisode
from hub.canonical.events import ReferralToSocialCare
from mappings.assessment_framework import (
    FRAMEWORK_FILE,
    FrameworkError,
    caf_elements,
    draft_evidence,
    framework,
    load,
)
from mappings.layers import GOLDEN_DIR

STEP_UP = GOLDEN_DIR / "caf_system/standard/referral-to-social-care/hannah-step-up/canonical.json"


def hannah() -> CafEpisode:
    """Hannah's episode as the CAF system referred it (version 6, fifteen elements in three areas)."""
    return ReferralToSocialCare.model_validate(json.loads(STEP_UP.read_text())).episode


def by_dimension(items) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    found: dict[str, list[str]] = {}
    for item in items:
        found.setdefault(item.dimension, []).append(item.caf_element)
    return found


def write_variant(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(FRAMEWORK_FILE.read_text())
    change(data)
    path = tmp_path / "assessment_framework.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_shipped_mapping_connects_every_caf_element_to_the_twenty_dimensions():
    mapping = framework()

    assert len(mapping.dimensions) == 20
    assert {e for d in mapping.dimensions for e in d.fed_by} == caf_elements()
    assert len(caf_elements()) == 19
    assert framework() is mapping  # loaded once


def test_hannahs_assessment_becomes_one_item_per_element_and_dimension_it_feeds():
    episode = hannah()

    items = draft_evidence(episode)

    expected = sum(len(framework().dimensions_fed_by(e.element)) for e in episode.assessment)
    assert len(items) == expected == 24
    assert by_dimension(items)["education"] == [
        "participation-learning-education-employment", "progress-achievement-learning", "aspirations",
    ]
    assert by_dimension(items)["health"] == ["general-health"]


def test_one_element_feeds_several_dimensions_and_one_dimension_takes_several_elements():
    items = draft_evidence(hannah())

    housing = [i for i in items if i.caf_element == "housing-employment-financial"]
    assert [i.dimension for i in housing] == ["housing", "employment", "income"]
    assert len({i.text for i in housing}) == 1
    assert [i.dimension for i in items if i.caf_element == "identity-self-esteem-social-presentation"] \
        == ["identity", "social-presentation"]
    assert by_dimension(items)["family-history-functioning"] == [
        "family-history-functioning-wellbeing", "wider-family",
    ]


def test_every_item_keeps_its_caf_element_text_episode_version_author_and_date():
    episode = hannah()
    elements = {e.element: e for e in episode.assessment}

    items = draft_evidence(episode)

    for item in items:
        source = elements[item.caf_element]
        assert (item.text, item.author, item.recorded_on) == (source.text, source.author, source.recorded_on)
        assert (item.episode_id, item.episode_version) == ("EP-2031", 6)
    income = next(i for i in items if i.dimension == "income")
    assert (income.author, income.recorded_on) == ("Steve Holt", date(2027, 1, 12))


def test_nothing_is_invented_for_elements_the_assessment_does_not_hold():
    episode = hannah()
    held = {e.element for e in episode.assessment}

    items = draft_evidence(episode)

    assert {i.caf_element for i in items} == held
    assert "physical-development" not in held and "behavioural-development" not in held
    assert by_dimension(items)["emotional-behavioural-development"] == ["emotional-social-development"]
    assert draft_evidence(episode.model_copy(update={"assessment": []})) == []
    blank = episode.assessment[0].model_copy(update={"text": "  "})
    assert draft_evidence(episode.model_copy(update={"assessment": [blank]})) == []


def test_an_unknown_caf_element_in_the_file_is_refused_on_load(tmp_path):
    path = write_variant(tmp_path, lambda d: d["dimensions"][0]["fed_by"].append("general-wellbeing"))

    with pytest.raises(FrameworkError) as refused:
        load(path)

    assert str(path) in str(refused.value)
    assert "dimension health" in str(refused.value) and "general-wellbeing" in str(refused.value)


def test_a_caf_element_feeding_no_dimension_is_refused_on_load(tmp_path):
    def drop_aspirations(data):  # type: ignore[no-untyped-def]
        for dimension in data["dimensions"]:
            dimension["fed_by"] = [e for e in dimension["fed_by"] if e != "aspirations"]

    with pytest.raises(FrameworkError, match="feeding no dimension: aspirations"):
        load(write_variant(tmp_path, drop_aspirations))


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["dimensions"].append(dict(d["dimensions"][0])), "listed twice: health"),
    (lambda d: d["dimensions"][0].update(domain="parenting"), "domain"),
    (lambda d: d["dimensions"][0].update(fed_by=[]), "fed_by"),
    (lambda d: d["dimensions"][0].update(weight=2), "weight"),
])
def test_a_malformed_file_is_refused_on_load(tmp_path, change, message):
    with pytest.raises(FrameworkError, match=message):
        load(write_variant(tmp_path, change))
