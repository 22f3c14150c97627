"""Canonical events: what happened, independent of any connected system's format.

Each event names its type in ``event_type``; ``EVENT_TYPES`` is the registry the envelope uses to
read a stored payload back. The event's ``version`` orders updates about one child.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from hub.canonical.casework import CafEpisode
from hub.canonical.categories import DataCategory as C
from hub.canonical.categories import categorised
from hub.canonical.people import Canonical, Child, Practitioner


class LeadProfessionalChanged(Canonical):
    """A Team Around the Child agreed (or changed) the child's lead professional."""

    event_type: Literal["lead-professional-changed"] = categorised(
        C.INVOLVEMENT, "lead-professional-changed"
    )
    child: Child = categorised(C.IDENTITY)
    episode_id: str = categorised(C.INVOLVEMENT)
    episode_version: int = categorised(C.INVOLVEMENT)
    lead_professional: Practitioner = categorised(C.INVOLVEMENT)
    agreed_at: datetime = categorised(C.INVOLVEMENT)


CanonicalEvent = LeadProfessionalChanged

EVENT_TYPES: dict[str, type[Canonical]] = {"lead-professional-changed": LeadProfessionalChanged}

__all__ = ["CafEpisode", "CanonicalEvent", "EVENT_TYPES", "LeadProfessionalChanged"]
