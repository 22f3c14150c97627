"""Renders outbound messages as JSON of the minimised canonical data, for systems without a format.

The body is exactly what the sharing decision permitted (``decision.data``), under the message
type, so nothing a decision withheld can appear in it. A mapping spec for the destination's own
format, where there is one, takes precedence (``adapters.registry.Adapters.render``).
"""

from __future__ import annotations

import json
from typing import Any

from adapters.base import OutboundAdapter, Rendered

MESSAGES_PATH = "/v1/messages"
CONTENT_TYPE = "application/json"


class CanonicalJsonOutbound(OutboundAdapter):
    def __init__(self, kind: str, sends: frozenset[str], path: str = MESSAGES_PATH):
        self.kind = kind  # type: ignore[misc]
        self.sends = sends  # type: ignore[misc]
        self.path = path

    def render(self, message_type: str, shared: dict[str, Any]) -> Rendered:
        if message_type not in self.sends:
            raise LookupError(f"a {self.kind} is not sent {message_type}")
        body = json.dumps({"type": message_type, "data": shared}, separators=(",", ":"), sort_keys=True)
        return Rendered(path=self.path, body=body.encode(), content_type=CONTENT_TYPE)


PARTNER = CanonicalJsonOutbound("partner", frozenset({"caf-episode-recorded", "case-closure-notice"}))
