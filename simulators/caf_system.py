"""A simulated CAF system: receives what the hub sends it and sends its own XML messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from lxml import etree

from simulators.peer import PeerState, peer_app

NS = "urn:childrens-hub:caf:1"


@dataclass(frozen=True)
class PractitionerSpec:
    practitioner_id: str
    given: str
    family: str
    role: str
    agency: str
    phone: str
    email: str


@dataclass(frozen=True)
class ChildSpec:
    caf_child_id: str
    given: str
    family: str
    date_of_birth: str
    gender: str
    nhs_number: str | None = None
    directory_id: str | None = None


def _add(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _name(parent: etree._Element, given: str, family: str) -> None:
    name = _add(parent, "name")
    _add(name, "given", given)
    _add(name, "family", family)


def lead_professional_changed(
    child: ChildSpec, lead: PractitionerSpec, episode_id: str, episode_version: int,
    message_id: str | None = None, agreed_at: datetime | None = None,
) -> bytes:
    """A ``leadProfessionalChanged`` message as a CAF system would write it."""
    now = datetime.now(UTC).replace(microsecond=0)
    root = etree.Element(f"{{{NS}}}leadProfessionalChanged", {"version": "1"}, nsmap={None: NS})
    _add(root, "header", messageId=message_id or str(uuid.uuid4()), sentAt=now.isoformat())
    node = _add(root, "child")
    _add(node, "cafChildId", child.caf_child_id)
    if child.nhs_number:
        _add(node, "nhsNumber", child.nhs_number)
    if child.directory_id:
        _add(node, "directoryId", child.directory_id)
    _name(node, child.given, child.family)
    _add(node, "dateOfBirth", child.date_of_birth)
    _add(node, "gender", child.gender)
    _add(root, "episode", id=episode_id, version=str(episode_version))
    practitioner = _add(root, "leadProfessional")
    _add(practitioner, "practitionerId", lead.practitioner_id)
    _name(practitioner, lead.given, lead.family)
    for tag, value in (("role", lead.role), ("agency", lead.agency), ("phone", lead.phone),
                       ("email", lead.email)):
        _add(practitioner, tag, value)
    _add(root, "agreedAt", (agreed_at or now).isoformat())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class CafSystemSimulator:
    def __init__(self) -> None:
        self.state = PeerState()
        self.app = peer_app("Simulated CAF system", self.state)

    @staticmethod
    def send(hub_url: str, system_id: str, token: str, body: bytes) -> httpx.Response:
        return httpx.post(
            f"{hub_url}/v1/systems/{system_id}/messages", content=body, timeout=30,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        )
