"""Provenance points at the real place: every wire path recorded while parsing a golden message
leads, in that very message, to the value the canonical field was read from."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from lxml import etree

from adapters import wire
from mappings import engine
from mappings.golden import cases
from mappings.layers import GOLDEN_DIR
from mappings.registry import MappingRegistry

REGISTRY = MappingRegistry()
VALID = [case for case in cases(GOLDEN_DIR) if (case / "canonical.json").exists()]


def resolve_json(document: Any, path: str) -> Any:
    node = document
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        node = node[int(index)] if index else node[key]
    return node


def resolve_xml(root: etree._Element, path: str) -> str:
    steps = path.strip("/").split("/")
    assert etree.QName(root).localname == re.sub(r"\[\d+\]$", "", steps[0])
    node = root
    for step in steps[1:]:
        if step.startswith("@"):
            return node.get(step[1:])
        name, _, position = step.partition("[")
        matches = [c for c in node if isinstance(c.tag, str) and etree.QName(c).localname == name]
        node = matches[int(position.rstrip("]")) - 1 if position else 0]
    return (node.text or "").strip()


@pytest.mark.parametrize("case", VALID, ids=[str(c.relative_to(GOLDEN_DIR)) for c in VALID])
def test_every_provenance_path_leads_to_its_value(case):
    kind, profile, message_type, _ = case.relative_to(GOLDEN_DIR).parts
    effective = REGISTRY.find(kind, profile, message_type)
    wire_file = next(case.glob("wire.*"))
    content_type = "application/json" if wire_file.suffix == ".json" else "application/xml"
    document = wire.parse(wire_file.read_bytes(), content_type)

    parsed = engine.parse(effective, document)

    checked = 0
    for source in parsed.provenance.values():
        if source.wire_path == "(default)":
            continue
        if effective.spec.format == "json":
            value = resolve_json(document, source.wire_path)
        else:
            value = resolve_xml(document, source.wire_path)
        assert value not in (None, "", {}, []), f"{source.wire_path} (rule {source.rule_id})"
        checked += 1
    assert checked, "the case must have provenance to check"


def test_json_provenance_inside_repeated_items_is_absolute():
    json_cases = [c for c in VALID if next(c.glob("wire.*")).suffix == ".json"]
    nested = []
    for case in json_cases:
        kind, profile, message_type, _ = case.relative_to(GOLDEN_DIR).parts
        document = json.loads(next(case.glob("wire.*")).read_text())
        parsed = engine.parse(REGISTRY.find(kind, profile, message_type), document)
        nested += [s.wire_path for p, s in parsed.provenance.items() if "[" in p]
    assert nested and all(re.match(r"^[A-Za-z]", path) and "." in path for path in nested)
