"""The CAF -> Assessment Framework mapping: a CAF assessment as draft evidence for social care.

On a step-up the case system receives the CAF assessment laid out on the dimensions of the social
care Assessment Framework, so that the family does not tell its story again. The mapping is data
(``base/assessment_framework.yaml``), many-to-many, checked once on load: every dimension names
the CAF elements that feed it, every element code must be one of the CAF standard form's (the
canonical codes of the code list ``caf-assessment-elements``), and every element must feed at
least one dimension, so no part of a CAF is dropped by an oversight in the file.

``draft_evidence`` only carries what the CAF says: one item per (element, dimension) pair, with
the element's own text, code, author and date and the episode's id and version. It never writes
a conclusion, and an element the assessment does not hold gives no item.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, model_validator

from hub.canonical.casework import CafEpisode, EvidenceItem
from mappings.layers import BASE_DIR, SpecError
from mappings.spec import CodeList, Strict

FRAMEWORK_FILE = BASE_DIR / "assessment_framework.yaml"
ELEMENTS_FILE = BASE_DIR / "code_lists" / "caf-assessment-elements.yaml"

Domain = Literal["child-developmental-needs", "parenting-capacity", "family-environmental-factors"]


class FrameworkError(SpecError):
    """The Assessment Framework mapping file cannot be used; the message names the file and why."""


class Dimension(Strict):
    """One dimension of the Assessment Framework, and the CAF elements that feed it."""

    code: str = Field(pattern=r"^[a-z][a-z-]*$")
    name: str
    domain: Domain
    fed_by: list[str] = Field(min_length=1)


class AssessmentFramework(Strict):
    version: str
    description: str = ""
    dimensions: list[Dimension] = Field(min_length=1)

    @model_validator(mode="after")
    def _coherent(self, info: ValidationInfo) -> AssessmentFramework:
        codes = [d.code for d in self.dimensions]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"dimensions listed twice: {', '.join(twice)}")
        for dimension in self.dimensions:
            if len(set(dimension.fed_by)) != len(dimension.fed_by):
                raise ValueError(f"dimension {dimension.code} names a CAF element twice")
        known: frozenset[str] | None = (info.context or {}).get("caf_elements")
        if known is not None:
            for dimension in self.dimensions:
                unknown = [e for e in dimension.fed_by if e not in known]
                if unknown:
                    raise ValueError(f"dimension {dimension.code}: unknown CAF element(s) "
                                     f"{', '.join(unknown)}")
            fed = {e for d in self.dimensions for e in d.fed_by}
            unfed = sorted(known - fed)
            if unfed:
                raise ValueError(f"CAF element(s) feeding no dimension: {', '.join(unfed)}")
        return self

    def dimensions_fed_by(self, element: str) -> list[Dimension]:
        return [d for d in self.dimensions if element in d.fed_by]


def caf_elements(path: Path = ELEMENTS_FILE) -> frozenset[str]:
    """The canonical codes of the CAF standard form's elements."""
    try:
        return frozenset(CodeList.model_validate(_read(path)).entries)
    except ValidationError as error:
        raise FrameworkError(f"{path}: not a code list: {error.errors()[0]['msg']}") from None


def load(path: Path = FRAMEWORK_FILE, elements: frozenset[str] | None = None) -> AssessmentFramework:
    """Read and check a mapping file; ``elements`` defaults to the CAF standard form's."""
    known = caf_elements() if elements is None else elements
    try:
        return AssessmentFramework.model_validate(_read(path), context={"caf_elements": known})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FrameworkError(f"{path}: {where + ': ' if where else ''}{first['msg']}") from None


@cache
def framework() -> AssessmentFramework:
    """The shipped mapping, loaded and checked once."""
    return load()


def draft_evidence(episode: CafEpisode, mapping: AssessmentFramework | None = None) -> list[EvidenceItem]:
    """The episode's assessment as draft evidence, dimension by dimension (in the framework's
    order), each dimension's items in the order of the assessment.

    An element with no text, or one the mapping does not know, gives nothing: nothing is invented,
    and a CAF element never becomes evidence for a dimension the mapping does not connect it to.
    """
    mapping = mapping or framework()
    items = []
    for dimension in mapping.dimensions:
        for element in episode.assessment:
            if element.element not in dimension.fed_by or not element.text.strip():
                continue
            items.append(EvidenceItem(
                dimension=dimension.code, caf_element=element.element, text=element.text,
                episode_id=episode.episode_id, episode_version=episode.version,
                author=element.author, recorded_on=element.recorded_on,
            ))
    return items


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise FrameworkError(f"{path}: cannot be read: {error}") from None
    if not isinstance(data, dict):
        raise FrameworkError(f"{path}: holds a YAML mapping")
    return data
