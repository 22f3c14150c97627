"""What the mapping engine returns: parsed canonical data with the provenance of every field,
rendered documents with the rule behind every wire field, and the error that names a rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hub.canonical import FieldSource as Provenance


class MappingError(ValueError):
    """A document or a value the mapping cannot translate; names the rule and the field."""

    def __init__(self, rule_id: str, where: str, problem: str):
        super().__init__(f"rule {rule_id} at {where}: {problem}")
        self.rule_id = rule_id
        self.where = where
        self.problem = problem


@dataclass(slots=True)
class RenderedField:
    """One field of a rendered document, and the rule and canonical field that produced it.

    Not frozen: a rendered message makes one per field, and a frozen dataclass costs four times
    as much to make."""

    wire_path: str
    canonical_path: str | None
    rule_id: str
    spec_id: str
    mapping_version: str
    origin: Provenance | None = None

    def to_dict(self) -> dict[str, Any]:
        """As stored and shown: names and paths only, never the value."""
        return {
            "wire_path": self.wire_path, "canonical_path": self.canonical_path,
            "rule_id": self.rule_id, "spec_id": self.spec_id,
            "mapping_version": self.mapping_version,
            "origin": asdict(self.origin) if self.origin else None,
        }


@dataclass(slots=True)
class Skipped:
    rule_id: str
    canonical_path: str
    reason: str


@dataclass
class Parsed:
    data: dict[str, Any]
    header: dict[str, str]
    provenance: dict[str, Provenance] = field(default_factory=dict)
    header_paths: dict[str, str] = field(default_factory=dict)


@dataclass
class Rendered:
    document: Any
    fields: list[RenderedField] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
