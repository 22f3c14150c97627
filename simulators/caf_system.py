"""A simulated CAF system: receives what the hub sends it and sends its own XML messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import httpx
from lxml import etree

from adapters.registry import Adapters
from hub.canonical.events import CanonicalEvent
from mappings.registry import MappingRegistry
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
    shielded: bool = False


def _add(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _name(parent: etree._Element, given: str, family: str) -> None:
    name = _add(parent, "name")
    _add(name, "given", given)
    _add(name, "family", family)


def _child(parent: etree._Element, child: ChildSpec) -> None:
    node = _add(parent, "child")
    _add(node, "cafChildId", child.caf_child_id)
    if child.nhs_number:
        _add(node, "nhsNumber", child.nhs_number)
    if child.directory_id:
        _add(node, "directoryId", child.directory_id)
    _name(node, child.given, child.family)
    _add(node, "dateOfBirth", child.date_of_birth)
    _add(node, "gender", child.gender)
    if child.shielded:
        _add(node, "shielded", "true")


def _practitioner(parent: etree._Element, tag: str, who: PractitionerSpec) -> None:
    node = _add(parent, tag)
    _add(node, "practitionerId", who.practitioner_id)
    _name(node, who.given, who.family)
    for name, value in (("role", who.role), ("agency", who.agency), ("phone", who.phone),
                        ("email", who.email)):
        _add(node, name, value)


def involvement_changed(
    child: ChildSpec, service: str, version: int, practitioner: PractitionerSpec | None = None,
    start: str | None = None, end: str | None = None, sensitive: bool = False,
    message_id: str | None = None,
) -> bytes:
    """An ``involvementChanged`` message: an involvement started or ended, for the directory."""
    now = datetime.now(UTC).replace(microsecond=0)
    root = etree.Element(f"{{{NS}}}involvementChanged", {"version": "1"}, nsmap={None: NS})
    _add(root, "header", messageId=message_id or str(uuid.uuid4()), sentAt=now.isoformat())
    _child(root, child)
    involvement = _add(root, "involvement", version=str(version))
    _add(involvement, "service", service)
    if practitioner is not None:
        _practitioner(involvement, "practitioner", practitioner)
    for tag, value in (("start", start), ("end", end)):
        if value:
            _add(involvement, tag, value)
    if sensitive:
        _add(involvement, "sensitive", "true")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def lead_professional_changed(
    child: ChildSpec, lead: PractitionerSpec, episode_id: str, episode_version: int,
    message_id: str | None = None, agreed_at: datetime | None = None,
) -> bytes:
    """A ``leadProfessionalChanged`` message as a CAF system would write it."""
    now = datetime.now(UTC).replace(microsecond=0)
    root = etree.Element(f"{{{NS}}}leadProfessionalChanged", {"version": "1"}, nsmap={None: NS})
    _add(root, "header", messageId=message_id or str(uuid.uuid4()), sentAt=now.isoformat())
    _child(root, child)
    _add(root, "episode", id=episode_id, version=str(episode_version))
    _practitioner(root, "leadProfessional", lead)
    _add(root, "agreedAt", (agreed_at or now).isoformat())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def episode_closed(child: ChildSpec, episode_id: str, reason: str, closed_on: str,
                   message_id: str | None = None) -> bytes:
    """An ``episodeClosed`` message: the CAF system closed an episode (consent withdrawn ...)."""
    now = datetime.now(UTC).replace(microsecond=0)
    root = etree.Element(f"{{{NS}}}episodeClosed", {"version": "1"}, nsmap={None: NS})
    _add(root, "header", messageId=message_id or str(uuid.uuid4()), sentAt=now.isoformat())
    _child(root, child)
    _add(root, "episode", id=episode_id)
    _add(root, "reason", reason)
    _add(root, "closedOn", closed_on)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


STEP_DOWN_STATUS = {"hand-back": "open, handed back to the TAC", "reopen": "re-open requested",
                    "reassess": "re-assessment requested"}


def _find(node: etree._Element, path: str) -> str | None:
    found = node.xpath(f"string({path})", namespaces={"c": NS})
    return str(found).strip() or None


class CafSystemSimulator:
    def __init__(self) -> None:
        self.state = PeerState()
        self.app = peer_app("Simulated CAF system", self.state)

        @self.app.get("/_control/imported")
        def imported() -> list[str]:
            """The episodes imported from migration batches (for a simulator run on its own)."""
            return imported_episodes(self)

    def documents(self, root: str | None = None) -> list[etree._Element]:
        with self.state.lock:
            bodies = [item.body for item in self.state.received if isinstance(item.body, str)]
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        documents = [etree.fromstring(body.encode(), parser=parser) for body in bodies]
        return [d for d in documents if root is None or etree.QName(d).localname == root]

    def episodes(self) -> dict[str, dict[str, object]]:
        """Each episode as this CAF system holds it after what the hub told it, in arrival order:
        whose responsibility, its status, the TAC members added, the proposed lead professional."""
        episodes: dict[str, dict[str, object]] = {}
        for document in self.documents():
            episode_id = _find(document, "c:episode/@id")
            if episode_id is None:
                continue
            episode = episodes.setdefault(episode_id, {"status": "open", "tac_added": []})
            kind = etree.QName(document).localname
            if kind == "responsibilityTransferred":
                episode["status"] = "social care responsible"
            elif kind == "episodeClosed":
                episode["status"], episode["closure_reason"] = "closed", _find(document, "c:reason")
            elif kind == "tacMemberAdded":
                episode["tac_added"].append(_find(document, "c:member/c:practitionerId"))  # type: ignore[union-attr]
            elif kind == "stepDownRequested":
                action = _find(document, "c:action") or ""
                episode["status"] = STEP_DOWN_STATUS.get(action, action)
                episode["proposed_lead_professional"] = _find(
                    document, "c:proposedLeadProfessional/c:practitionerId")
                episode["closure_summary"] = _find(document, "c:socialCareClosure/c:summary")
        return episodes

    @staticmethod
    def send(hub_url: str, system_id: str, token: str, body: bytes) -> httpx.Response:
        return httpx.post(
            f"{hub_url}/v1/systems/{system_id}/messages", content=body, timeout=30,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        )


def imported_episodes(simulator: CafSystemSimulator) -> list[str]:
    """Every episode this CAF system imported from a migration batch, once per time it imported
    it (a batch repeated under the same idempotency key is applied once, so it is counted once)."""
    episodes: list[str] = []
    for document in simulator.documents("episodeImport"):
        for transfer in document.iterfind(f"{{{NS}}}episodeTransfer"):
            episode_id = _find(transfer, "c:episode/@id")
            if episode_id is not None:
                episodes.append(episode_id)
    return episodes


def written(profile: str, event: CanonicalEvent, message_id: str | None = None) -> bytes:
    """A CAF system's message of the ``standard`` or ``local`` profile, written by its mapping spec
    (a sender's transfer request, a receiver's answer), as that system would send it."""
    rendered = _base_adapters().render(
        "caf_system", profile, event.event_type, event.model_dump(mode="json"),
        header={"message_id": message_id or str(uuid.uuid4()),
                "sent_at": datetime.now(UTC).replace(microsecond=0).isoformat()},
    )
    return rendered.body


@cache
def _base_adapters() -> Adapters:
    return Adapters(MappingRegistry())


def simulated_app():  # type: ignore[no-untyped-def]
    """A simulated CAF system to run on its own: ``uvicorn --factory simulators.caf_system:simulated_app``."""
    return CafSystemSimulator().app
