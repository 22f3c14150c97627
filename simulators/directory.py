"""A simulated directory: receives the hub's XML data feed and keeps what it says about each child."""

from __future__ import annotations

from lxml import etree

from simulators.peer import PeerState, peer_app

NS = {"d": "urn:childrens-hub:directory:1"}


def read_update(body: str) -> etree._Element:
    """One feed message, parsed the way a directory would (no entities, no network)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(body.encode(), parser=parser)


def text(node: etree._Element, path: str) -> str | None:
    found = node.xpath(path, namespaces=NS)
    if not found:
        return None
    value = found[0]
    return value.strip() if isinstance(value, str) else (value.text or "").strip()


class DirectorySimulator:
    def __init__(self) -> None:
        self.state = PeerState()
        self.app = peer_app("Simulated directory", self.state)

    def updates(self) -> list[etree._Element]:
        with self.state.lock:
            return [read_update(item.body) for item in self.state.received]

    def lead_professionals(self) -> dict[str, dict[str, str | None]]:
        """Each child's lead professional now, by directory id (else CAF id); newest version wins."""
        current: dict[str, tuple[int, dict[str, str | None]]] = {}
        for update in self.updates():
            if etree.QName(update).localname != "leadProfessionalUpdate":
                continue
            child = text(update, "d:child/d:directoryId") or text(update, "d:child/d:cafChildId")
            version = int(update.get("version", "0"))
            lead = {
                "practitioner_id": text(update, "d:leadProfessional/d:practitionerId"),
                "given": text(update, "d:leadProfessional/d:name/d:given"),
                "family": text(update, "d:leadProfessional/d:name/d:family"),
                "phone": text(update, "d:leadProfessional/d:contact/d:phone"),
            }
            if child is not None and (child not in current or current[child][0] <= version):
                current[child] = (version, lead)
        return {child: lead for child, (_, lead) in current.items()}
