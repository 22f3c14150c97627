"""Property: for every format, render -> parse preserves every mapped field, whatever its text.

Starting from each golden case, hypothesis replaces every free-text field a rule maps (not codes,
identifiers, dates or numbers, which have their own rules) with arbitrary text, including XML's
special characters and non-ASCII letters, then renders, serialises, parses the bytes back and
compares the canonical event with the one it started from.
"""

from __future__ import annotations

import json
import re
import types
import typing
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from adapters import wire
from hub.canonical.events import EVENT_TYPES
from mappings import engine
from mappings.golden import cases
from mappings.layers import GOLDEN_DIR
from mappings.registry import MappingRegistry
from mappings.spec import walk

REGISTRY = MappingRegistry()
VALID = [case for case in cases(GOLDEN_DIR) if (case / "canonical.json").exists()]

# Text a real message could hold: letters (any script), digits, spaces inside, punctuation that
# XML and JSON must escape. No control characters (XML 1.0 cannot carry them).
TEXT = st.text(
    alphabet=st.characters(
        categories=("L", "N", "Zs", "P", "S"), exclude_characters="\u2028\u2029\x85",
    ),
    min_size=1, max_size=40,
).map(lambda s: re.sub(r"\s+", " ", s).strip()).filter(bool)


def _annotation_at(model: type[BaseModel], path: list[str]) -> Any:
    """The type of the canonical field at ``path`` (list indices dropped)."""
    annotation: Any = model
    for part in path:
        inner = _model_in(annotation)
        if inner is None or part not in inner.model_fields:
            return None
        annotation = inner.model_fields[part].annotation
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_free_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set(typing.get_args(annotation)) == {str, type(None)}
    return False


def free_text_fields(case) -> list[str]:  # type: ignore[no-untyped-def]
    """Canonical paths (with list indices) of free-text fields mapped by a plain rule."""
    kind, profile, message_type, _ = case.relative_to(GOLDEN_DIR).parts
    effective = REGISTRY.find(kind, profile, message_type)
    plain = {
        path for rule in walk(effective.spec.rules)
        if not rule.code_list and not rule.transform and rule.default is None
        and rule.direction != "inbound" and rule.each is None
        for path in rule.canonical_paths()
    }
    event_type = EVENT_TYPES[message_type]
    canonical = json.loads((case / "canonical.json").read_text())
    found = []

    def visit(value: Any, path: str, bare: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{path}.{key}" if path else key, f"{bare}.{key}" if bare else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, f"{path}[{index}]", bare)
        elif isinstance(value, str) and "identifiers" not in bare:
            relative = bare.split(".")
            if any(".".join(relative[i:]) in plain for i in range(len(relative))) and \
                    _is_free_text(_annotation_at(event_type, relative)):
                found.append(path)

    visit(canonical, "", "")
    return found


def _set(data: Any, path: str, value: str) -> None:
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node = data
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    node[int(last[1:-1]) if last.startswith("[") else last] = value


def _roundtrip(case, replacements: dict[str, str]) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    kind, profile, message_type, _ = case.relative_to(GOLDEN_DIR).parts
    effective = REGISTRY.find(kind, profile, message_type)
    event_type = EVENT_TYPES[message_type]
    data = json.loads((case / "canonical.json").read_text())
    for path, value in replacements.items():
        _set(data, path, value)
    original = event_type.model_validate(data).model_dump(mode="json")
    header = {"message_id": "m-1", "sent_at": datetime(2026, 11, 20, 9, tzinfo=None).isoformat()
              + "+00:00", "correlation_id": "c-1"}
    rendered = engine.render(effective, original, header)
    body, content_type = wire.serialise(rendered.document, effective.spec.format)
    parsed = engine.parse(effective, wire.parse(body, content_type))
    back = event_type.model_validate(parsed.data).model_dump(mode="json")
    return original, back


@pytest.mark.parametrize("case", VALID, ids=[str(c.relative_to(GOLDEN_DIR)) for c in VALID])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_render_then_parse_preserves_every_mapped_field(case, data):
    fields = free_text_fields(case)
    replacements = {path: data.draw(TEXT, label=path) for path in fields}

    original, back = _roundtrip(case, replacements)

    assert back == original


def test_the_round_trip_property_has_free_text_to_vary():
    assert VALID, "no golden cases"
    assert any(free_text_fields(case) for case in VALID)


def test_dates_are_not_treated_as_free_text():
    assert not _is_free_text(date) and not _is_free_text(datetime)
