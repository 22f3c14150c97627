"""What adapters hand the hub: a recognised inbound document, a translated message, a rendered one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from hub.canonical import FieldSource, Purpose
from hub.canonical.events import CanonicalEvent
from mappings.engine import EffectiveSpec, RenderedField, Skipped


@dataclass(frozen=True)
class Identified:
    """An inbound body parsed safely and recognised, not yet validated against its schema."""

    message_type: str
    document: Any
    spec: EffectiveSpec | None = None


@dataclass(frozen=True)
class Received:
    """An inbound message translated into the canonical model, with where each field came from."""

    message_type: str
    message_version: str
    source_message_id: str
    correlation_id: str | None
    occurred_at: datetime
    purpose: Purpose
    event: CanonicalEvent
    provenance: dict[str, FieldSource] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    """An outbound message in the destination's own format, ready to send."""

    path: str
    body: bytes
    content_type: str
    fields: list[RenderedField] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


class OutboundAdapter(ABC):
    """A renderer written in code, for a kind whose format has no mapping spec (yet)."""

    kind: ClassVar[str]
    sends: ClassVar[frozenset[str]]

    @abstractmethod
    def render(self, message_type: str, shared: dict[str, Any]) -> Rendered:
        """Render from the minimised canonical data the sharing decision allowed."""
