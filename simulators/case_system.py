"""A simulated case system (ICS): stores the contacts and referrals the hub creates on it, and
sends what a case system sends back (an allocation, a decision, a closure) in its supplier's own
format, written from canonical events with the supplier profile's published mapping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from adapters import wire
from hub.canonical.events import CaseAllocated, CaseClosed, ReferralDecided
from mappings import engine
from mappings.registry import MappingRegistry
from simulators.peer import PeerState, peer_app


class CaseSystemSimulator:
    def __init__(self, profile: str = "supplier-a") -> None:
        self.profile = profile
        self.state = PeerState()
        self.app = peer_app(f"Simulated case system ({profile})", self.state)
        self._mappings = MappingRegistry()

    def message(self, event: CaseAllocated | ReferralDecided | CaseClosed) -> tuple[bytes, str]:
        """The event as this supplier's system writes it: body and content type."""
        effective = self._mappings.find("case_system", self.profile, event.event_type)
        header = {"message_id": f"ics-{uuid.uuid4()}",
                  "sent_at": datetime.now(UTC).replace(microsecond=0).isoformat()}
        rendered = engine.render(effective, event.model_dump(mode="json"), header)
        return wire.serialise(rendered.document, effective.spec.format)

    def send(self, hub_url: str, system_id: str, token: str,
             event: CaseAllocated | ReferralDecided | CaseClosed) -> httpx.Response:
        body, content_type = self.message(event)
        return httpx.post(f"{hub_url}/v1/systems/{system_id}/messages", content=body, timeout=30,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
