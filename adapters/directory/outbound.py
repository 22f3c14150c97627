"""Renders directory updates as the directory's JSON from minimised canonical data."""

from __future__ import annotations

import json
from typing import Any

from adapters.base import OutboundAdapter, Rendered

UPDATES_PATH = "/v1/updates"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _camelise(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(key): _camelise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camelise(item) for item in value]
    return value


class DirectoryOutbound(OutboundAdapter):
    kind = "directory"
    sends = frozenset({"lead-professional-changed"})

    def render(self, message_type: str, shared: dict[str, Any]) -> Rendered:
        child = shared.get("child", {})
        update = {
            "type": message_type,
            "child": {
                "identifiers": child.get("identifiers", {}),
                "name": child.get("name"),
                "dateOfBirth": child.get("date_of_birth"),
                "gender": child.get("gender"),
            },
            "involvement": {
                "practitioner": shared.get("lead_professional"),
                "leadProfessional": True,
                "start": shared.get("agreed_at"),
                "cafEpisodeId": shared.get("episode_id"),
            },
            "version": shared.get("episode_version"),
        }
        body = json.dumps(_camelise(update), separators=(",", ":")).encode()
        return Rendered(path=UPDATES_PATH, body=body, content_type="application/json")
