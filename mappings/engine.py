"""The mapping engine: parse a wire document into canonical data, render canonical data to one.

Both directions run the same rules. Parsing records, for every canonical field, the wire path
and rule it came from; rendering records, for every wire field, the rule and canonical field it
came from and, where known, where that canonical field came from in turn. A rule whose canonical
field is absent (withheld by the sharing decision, or never sent) is reported as skipped.

Each effective spec is compiled once into a reading plan (``mappings.reading``) and a writing
plan (``mappings.writing``); a message then costs one small step per rule, not a reading of the
rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hub.canonical import FieldSource as Provenance
from mappings.codecs import JsonCodec, XmlCodec
from mappings.reading import ReadingPlan
from mappings.results import MappingError, Parsed, Rendered, RenderedField, Skipped
from mappings.spec import CodeList, MappingSpec
from mappings.writing import WritingPlan

__all__ = [
    "EffectiveSpec", "MappingError", "Parsed", "Provenance", "Rendered", "RenderedField",
    "Skipped", "parse", "render",
]


@dataclass(frozen=True)
class EffectiveSpec:
    """A spec with the authority's override merged in and its code lists resolved."""

    spec: MappingSpec
    code_lists: dict[str, CodeList]
    version: str
    layers: tuple[str, ...]

    @cached_property
    def codec(self) -> XmlCodec | JsonCodec:
        return XmlCodec(self.spec.namespaces) if self.spec.format == "xml" else JsonCodec()

    @cached_property
    def inverse_code_lists(self) -> dict[str, dict[str, str]]:
        return {key: {wire: code for code, wire in code_list.entries.items()}
                for key, code_list in self.code_lists.items()}

    @cached_property
    def reading(self) -> ReadingPlan:
        return ReadingPlan(self)

    @cached_property
    def writing(self) -> WritingPlan:
        return WritingPlan(self)


def parse(effective: EffectiveSpec, document: Any, system: str | None = None) -> Parsed:
    return effective.reading.parse(document, system)


def render(
    effective: EffectiveSpec, data: dict[str, Any], header: dict[str, str],
    origin: dict[str, Provenance] | None = None,
) -> Rendered:
    return effective.writing.render(data, header, origin)
