"""Golden tests of mappings: a system's message, the canonical event it means, and back again.

Layout, under the base layer's ``golden/`` (and an authority's own ``golden/``, for its
overrides):

  golden/<kind>/<profile>/<message-type>/<case>/wire.xml | wire.json   the system's message
  golden/<kind>/<profile>/<message-type>/<case>/canonical.json         the event it maps to
  golden/<kind>/<profile>/<message-type>/<case>/provenance.json        optional: canonical path
                                                                       -> [wire path, rule id]
  golden/<kind>/<profile>/<message-type>/<case>/expected-error.json    instead of canonical.json
                                                                       for an invalid message:
                                                                       {status, rule, field}

A valid case passes when the message parses (schema and the kind's own checks such as FHIR
validation, mapping, identifiers, canonical validation) to exactly ``canonical.json`` with the
expected provenance, and rendering ``canonical.json`` gives back the same message (XML compared
after canonicalisation).
An invalid case passes when it is refused with the expected status, rule and field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.registry import mapped_adapter
from adapters.rejection import InputRejected
from mappings import engine
from mappings.registry import MappingRegistry

CONTENT_TYPES = {"xml": "application/xml", "json": "application/json"}


@dataclass(frozen=True)
class GoldenResult:
    case: str
    passed: bool
    problems: list[str]


def cases(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.glob("*/*/*/*/wire.*"))


def run_case(case: Path, mappings: MappingRegistry, root: Path) -> GoldenResult:
    kind, profile, message_type, _name = case.relative_to(root).parts
    wire_file = next(case.glob("wire.*"))
    wire_format = wire_file.suffix.lstrip(".")
    body = wire_file.read_bytes()
    adapter = mapped_adapter(kind, mappings)
    problems: list[str] = []
    label = str(case.relative_to(root))
    expected_error = case / "expected-error.json"
    try:
        identified = adapter.identify(body, CONTENT_TYPES[wire_format], profile)
        received = adapter.read(identified, "golden")
    except InputRejected as error:
        if not expected_error.exists():
            return GoldenResult(label, False, [f"refused: {error.status} {error.rule} at "
                                               f"{error.field}: {error.detail}"])
        expected = json.loads(expected_error.read_text())
        got = {"status": error.status, "rule": error.rule, "field": error.field}
        if {k: got[k] for k in expected} != expected:
            problems.append(f"refused as {got}, expected {expected}")
        return GoldenResult(label, not problems, problems)
    if expected_error.exists():
        return GoldenResult(label, False, ["accepted, but expected-error.json says it must be refused"])
    if received.message_type != message_type:
        problems.append(f"recognised as {received.message_type}, not {message_type}")
    canonical = received.event.model_dump(mode="json", exclude_defaults=True)
    expected = json.loads((case / "canonical.json").read_text())
    if canonical != expected:
        problems.append("parsed canonical differs:\n" + _diff(expected, canonical))
    provenance_file = case / "provenance.json"
    if provenance_file.exists():
        for path, (wire_path, rule_id) in json.loads(provenance_file.read_text()).items():
            source = received.provenance.get(path)
            if source is None or (source.wire_path, source.rule_id) != (wire_path, rule_id):
                problems.append(f"provenance of {path}: {source} != {wire_path} by {rule_id}")
    effective = mappings.find(kind, profile, message_type)
    header = engine.parse(effective, identified.document).header
    header.pop("version", None)
    event = type(received.event).model_validate(expected)
    rendered = engine.render(effective, event.model_dump(mode="json"), header)
    adapter.check_schema(effective, rendered.document)
    if not _same_document(rendered.document, identified.document, wire_format):
        problems.append("rendering canonical.json does not give back wire." + wire_format)
    return GoldenResult(label, not problems, problems)


def _same_document(rendered: Any, original: Any, wire_format: str) -> bool:
    if wire_format == "json":
        return rendered == original
    return _canonical_xml(rendered) == _canonical_xml(original)


def _canonical_xml(element: etree._Element) -> bytes:
    copy = etree.fromstring(etree.tostring(element))
    for node in copy.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(copy, method="c14n")


def _diff(expected: Any, got: Any, path: str = "") -> str:
    if isinstance(expected, dict) and isinstance(got, dict):
        lines = []
        for key in sorted(set(expected) | set(got)):
            lines.append(_diff(expected.get(key, "<missing>"), got.get(key, "<missing>"),
                               f"{path}.{key}" if path else key))
        return "\n".join(line for line in lines if line)
    if expected != got:
        return f"  {path}: expected {expected!r}, got {got!r}"
    return ""


def run_all(mappings: MappingRegistry, roots: list[Path]) -> list[GoldenResult]:
    return [run_case(case, mappings, root) for root in roots if root.is_dir() for case in cases(root)]
