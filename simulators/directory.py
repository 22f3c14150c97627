"""A simulated directory: receives the hub's XML data feed and keeps what it says about each child.

It applies the feed as the schema says a directory must: per child and subject (the lead
professional, the CAF indicator, each involvement by service), a message whose version is lower
than one already applied changes nothing; a message about a shielded child it cannot match to a
record it holds goes to manual matching and never creates a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

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


CONTACT_KEPT = timedelta(days=365)  # contact details stay visible a year after an involvement ends


@dataclass
class Record:
    """One child's record as the directory shows it."""

    key: str
    shielded: bool = False
    lead_professional: dict[str, str | None] | None = None
    caf_indicator: dict[str, str | None] | None = None
    involvements: dict[str, dict[str, object]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def contact_visible(self, service: str, today: date) -> bool:
        end = self.involvements[service].get("end")
        return end is None or today <= date.fromisoformat(str(end)) + CONTACT_KEPT


def _practitioner(node: etree._Element, path: str) -> dict[str, str | None]:
    return {
        "practitioner_id": text(node, f"{path}/d:practitionerId"),
        "given": text(node, f"{path}/d:name/d:given"),
        "family": text(node, f"{path}/d:name/d:family"),
        "phone": text(node, f"{path}/d:contact/d:phone"),
        "email": text(node, f"{path}/d:contact/d:email"),
    }


class DirectorySimulator:
    def __init__(self) -> None:
        self.state = PeerState()
        self.app = peer_app("Simulated directory", self.state)
        self.held: set[str] = set()

    def enrol(self, directory_id: str) -> None:
        """A record the directory already holds (a shielded child's, say) before any feed."""
        self.held.add(directory_id)

    def lose_everything(self) -> None:
        """The directory lost what it held (restored from nothing after an outage)."""
        with self.state.lock:
            self.state.received.clear()
            self.state.seen_keys.clear()

    def records(self) -> tuple[dict[str, Record], list[etree._Element]]:
        """Each child's record, by directory id (else NHS number, else CAF id), with the feed
        applied in arrival order and version order per subject; and the messages about shielded
        children it could not match, waiting for manual matching."""
        records: dict[str, Record] = {key: Record(key) for key in self.held}
        known: dict[str, str] = {f"d:directoryId={key}": key for key in self.held}
        manual: list[etree._Element] = []
        for update in self.updates():
            names = [f"{path}={value}" for path in ("d:directoryId", "d:nhsNumber", "d:upn", "d:cafChildId")
                     if (value := text(update, f"d:child/{path}"))]
            key = next((known[name] for name in names if name in known), None)
            shielded = text(update, "d:child/d:shielded") == "true"
            if key is None and (shielded or not names):
                manual.append(update)
                continue
            key = key or names[0].split("=", 1)[1]
            known.update({name: key for name in names})
            record = records.setdefault(key, Record(key))
            record.shielded = record.shielded or shielded
            self._apply(record, update)
        return records, manual

    @staticmethod
    def _apply(record: Record, update: etree._Element) -> None:
        kind = etree.QName(update).localname
        version = int(update.get("version", "0"))
        if kind == "involvementUpdate":
            service = text(update, "d:involvement/d:service")
            subject = f"involvement:{service or 'sensitive:' + str(text(update, 'd:involvement/d:start'))}"
        else:
            subject = kind
        if version < record.versions.get(subject, 0):
            return
        record.versions[subject] = version
        if kind == "leadProfessionalUpdate":
            record.lead_professional = _practitioner(update, "d:leadProfessional")
        elif kind == "cafIndicatorUpdate":
            record.caf_indicator = {"episode_id": text(update, "d:cafEpisodeId"),
                                    **_practitioner(update, "d:contact")}
        elif kind == "involvementUpdate":
            record.involvements[subject.removeprefix("involvement:")] = {
                "practitioner": _practitioner(update, "d:involvement/d:practitioner"),
                "start": text(update, "d:involvement/d:start"),
                "end": text(update, "d:involvement/d:end"),
                "sensitive": text(update, "d:involvement/d:sensitive") == "true",
                "version": version,
            }

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
