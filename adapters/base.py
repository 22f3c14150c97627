"""What every adapter offers the hub: read inbound bodies, render outbound ones."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from hub.canonical import Purpose
from hub.canonical.events import CanonicalEvent


@dataclass(frozen=True)
class Identified:
    """An inbound body parsed safely and recognised, not yet validated against its schema."""

    message_type: str
    document: Any


@dataclass(frozen=True)
class Received:
    """An inbound message translated into the canonical model."""

    message_type: str
    message_version: str
    source_message_id: str
    correlation_id: str | None
    occurred_at: datetime
    purpose: Purpose
    event: CanonicalEvent


@dataclass(frozen=True)
class Rendered:
    """An outbound message in the destination's own format, ready to send."""

    path: str
    body: bytes
    content_type: str


class InboundAdapter(ABC):
    kind: ClassVar[str]
    accepts: ClassVar[frozenset[str]]

    @abstractmethod
    def identify(self, body: bytes, content_type: str) -> Identified:
        """Parse safely and name the message type; raise ``InputRejected`` if unreadable."""

    @abstractmethod
    def read(self, identified: Identified) -> Received:
        """Validate and translate; raise ``InputRejected`` naming the field and rule."""


class OutboundAdapter(ABC):
    kind: ClassVar[str]
    sends: ClassVar[frozenset[str]]

    @abstractmethod
    def render(self, message_type: str, shared: dict[str, Any]) -> Rendered:
        """Render from the minimised canonical data the sharing decision allowed."""
