"""The envelope every message travels in, whatever its source format.

The hub's own ``message_id`` is the tracking id a sender receives; ``correlation_id`` ties the
messages of one piece of work together and ``causation_id`` names the message that caused this one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from hub.canonical.events import CanonicalEvent


class Purpose(StrEnum):
    """Why data moves: a disclosure is only lawful for a purpose it is decided for."""

    DIRECTORY_UPDATE = "directory-update"
    TAC_SHARING = "tac-sharing"
    REFERRAL_TO_SOCIAL_CARE = "referral-to-social-care"
    STEP_DOWN = "step-down"
    EPISODE_TRANSFER = "episode-transfer"
    MIGRATION = "migration"


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FieldSource:
    """Where one canonical field came from: the system, its path there, the mapping rule.

    A plain dataclass, not a model: a parsed message records one per field, so it must be cheap;
    pydantic still validates and serialises it inside the envelope. Immutable, so the mapping
    engine shares one record between the messages that carry a field in the same place."""

    system: str | None
    wire_path: str
    rule_id: str
    spec_id: str
    mapping_version: str


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: str = Field(default_factory=new_id)
    correlation_id: str
    causation_id: str | None = None
    source_system: str
    source_message_id: str
    message_type: str
    message_version: str
    occurred_at: datetime
    received_at: datetime = Field(default_factory=utcnow)
    purpose: Purpose
    payload: CanonicalEvent
    provenance: dict[str, FieldSource] = Field(default_factory=dict)
