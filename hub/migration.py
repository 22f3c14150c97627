"""Batch migration of a local eCAF module's episodes into the national CAF system.

An export (one XML file, or a folder of them) is streamed with lxml ``iterparse`` and each
``episodeRecord`` cleared once read, so an export of any size is never held whole. Each episode
is read with the ``local`` CAF profile (schema, mapping and canonical checks), its child
resolved, and the family's consent to the CAF checked for the national CAF system. Episodes
that pass are mapped to the national system's profile (with provenance) and imported in
batches; the others are **held back** with the reason (invalid, identity unresolved, no
consent), never dropped, and can be released one by one once the reason is dealt with.

Resumable: every episode's outcome is recorded under (export id, episode id). A batch is
recorded as ``sending`` before it goes, under an idempotency key the national system honours,
so a run killed at any point re-sends exactly the batch it was sending and imports nothing twice.
For each imported episode the directory is updated (the CAF indicator and the lead
professional) through the directory sync, as the national system's own recorded episode: the
updates are queued in the outbox with the batch's outcome, and a running worker sends them on.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from lxml import etree
from sqlalchemy import DateTime, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from adapters.base import Identified
from adapters.rejection import InputRejected
from hub.audit import record
from hub.bootstrap import Hub
from hub.canonical import Envelope, Purpose, new_id, utcnow
from hub.canonical.events import CafEpisodeRecorded, EpisodeTransferred, LeadProfessionalChanged
from hub.sealing import open_json, seal_json
from hub.store.tables import Base, ConnectedSystem, InboxMessage
from mappings.engine import MappingError
from queues.outbox import enqueue
from queues.topology import INBOUND

LOCAL_NS = "urn:local-ecaf:episode:1"
CAF_NS = "urn:childrens-hub:caf:1"
RECORD = f"{{{LOCAL_NS}}}episodeRecord"
MESSAGE_TYPE = "episode-transferred"
IMPORT_PATH = "/imports"
COLUMNS = ("episode_id", "outcome", "reason", "detail")

SENDING, IMPORTED, HELD, REJECTED = "sending", "imported", "held", "rejected"
INVALID, UNIDENTIFIED, NO_CONSENT = "invalid", "identity-unresolved", "no-consent"


class MigrationEpisode(Base):
    """One episode of one export, and what became of it: the run's memory for resuming."""

    __tablename__ = "migration_episodes"
    export_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    message_id: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str | None] = mapped_column(String(64))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # the envelope, and the rendered import


class MigrationError(RuntimeError):
    """The run cannot go on (the national system is away, a system is not registered)."""


@dataclass
class Report:
    """What a run did, per outcome; ``episodes`` lists (episode id, outcome, reason, detail)."""

    export_id: str
    dry_run: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    episodes: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, episode_id: str, outcome: str, reason: str = "", detail: str = "") -> None:
        key = f"{outcome}:{reason}" if reason else outcome
        self.counts[key] += 1
        self.episodes.append((episode_id, outcome, reason, detail))

    def summary(self) -> dict[str, Any]:
        return {"export_id": self.export_id, "dry_run": self.dry_run,
                "counts": dict(sorted(self.counts.items()))}

    def write(self, stem: Path) -> tuple[Path, Path]:
        """The report as JSON (summary and episodes) and CSV (one line per episode)."""
        json_path, csv_path = stem.with_suffix(".json"), stem.with_suffix(".csv")
        json_path.write_text(json.dumps({**self.summary(), "episodes": [
            dict(zip(COLUMNS, row, strict=True)) for row in self.episodes
        ]}, indent=2))
        with csv_path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            writer.writerows(self.episodes)
        return json_path, csv_path


def export_files(export: Path) -> list[Path]:
    if export.is_dir():
        return sorted(p for p in export.iterdir() if p.suffix.lower() == ".xml")
    return [export]


def export_size(export: Path) -> int:
    return sum(p.stat().st_size for p in export_files(export))


def stream(export: Path, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """Each episode record of the export, serialised on its own; elements are cleared as read."""
    for path in export_files(export):
        done = 0
        with path.open("rb") as raw:
            for _event, element in etree.iterparse(
                raw, events=("end",), tag=RECORD, resolve_entities=False, no_network=True,
                load_dtd=False, huge_tree=False,
            ):
                yield etree.tostring(element)
                element.clear(keep_tail=False)
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
                if progress is not None:
                    position = raw.tell()
                    progress(position - done)
                    done = position


@dataclass
class Planned:
    episode_id: str
    envelope: Envelope
    message_id: str
    body: str


class Migration:
    """One export's migration from ``source`` (a registered local CAF system) to ``target``."""

    def __init__(self, hub: Hub, export_id: str, source: str, target: str, batch_size: int = 200,
                 dry_run: bool = False, timeout: float = 60.0):
        self.hub, self.export_id, self.batch_size, self.dry_run = hub, export_id, batch_size, dry_run
        self.timeout = timeout
        with hub.database.transaction() as session:
            self.source = self._system(session, source)
            self.target = self._system(session, target)
        if not self.target.endpoint_url:
            raise MigrationError(f"{target} has no endpoint to import into")
        self.adapter = hub.adapters.for_kind("caf_system")
        assert self.adapter is not None
        effective = hub.adapters.mappings.find("caf_system", self.source.profile, MESSAGE_TYPE)
        if effective is None:
            raise MigrationError(f"no {MESSAGE_TYPE} mapping for the {self.source.profile} CAF profile")
        self.effective = effective
        self.report = Report(export_id, dry_run)
        self.seen: set[str] = set()
        self.position = 0
        self.directory_updates = 0

    @staticmethod
    def _system(session: Session, system_id: str) -> ConnectedSystem:
        system = session.get(ConnectedSystem, system_id)
        if system is None or system.kind != "caf_system":
            raise MigrationError(f"{system_id!r} is not a registered CAF system")
        session.expunge(system)
        return system

    # --- the run -----------------------------------------------------------------------------

    def run(self, records: Iterator[bytes]) -> Report:
        if not self.dry_run:
            self.resend_unfinished()
        chunk: list[bytes] = []
        for raw in records:
            chunk.append(raw)
            if len(chunk) >= self.batch_size:
                self.batch(chunk)
                chunk = []
        if chunk:
            self.batch(chunk)
        return self.report

    def batch(self, chunk: list[bytes]) -> None:
        """Check a batch of episodes in one transaction, recording the held ones and the ones about
        to be sent together; then import the batch. A dry run rolls the transaction back."""
        read = [self.read(raw) for raw in chunk]
        batch_id = new_id()
        with self.hub.database.transaction() as session:
            planned = [p for p in (self.episode(session, item) for item in read) if p is not None]
            if self.dry_run:
                session.rollback()
                for item in planned:
                    self.report.add(item.episode_id, "would-import")
                return
            self.sending(session, batch_id, planned)
        if planned:
            self.deliver(batch_id, planned)

    def read(self, raw: bytes) -> tuple[str, Envelope | str, bytes]:
        """(episode id, the episode as a canonical envelope) or (episode id, why it is invalid)."""
        self.position += 1
        try:
            document = etree.fromstring(raw)
            received = self.adapter.read(Identified(MESSAGE_TYPE, document, self.effective),
                                         self.source.system_id)
        except InputRejected as rejection:
            return (_reference(raw) or f"record-{self.position}",
                    f"{rejection.rule} at {rejection.field}: {rejection.detail}", raw)
        except ValueError as error:
            return (_reference(raw) or f"record-{self.position}",
                    f"canonical.value: {type(error).__name__}", raw)
        event = received.event
        assert isinstance(event, EpisodeTransferred)
        episode_id = event.episode.episode_id
        return episode_id, Envelope(
            correlation_id=new_id(), source_system=self.source.system_id,
            source_message_id=f"migration:{self.export_id}:{episode_id}", message_type=MESSAGE_TYPE,
            message_version=received.message_version, occurred_at=received.occurred_at,
            purpose=Purpose.EPISODE_TRANSFER, payload=event, provenance=received.provenance,
        ), raw

    def episode(self, session: Session, item: tuple[str, Envelope | str, bytes]) -> Planned | None:
        """One episode: a duplicate, or done by an earlier run, is skipped; an invalid one held."""
        episode_id, read, raw = item
        if episode_id in self.seen:
            self.report.add(episode_id, "duplicate", "", "the episode appears again in the export")
            return None
        self.seen.add(episode_id)
        done = session.get(MigrationEpisode, (self.export_id, episode_id))
        if done is not None and not (done.outcome == HELD and done.reason == INVALID):
            self.report.add(episode_id, f"already-{done.outcome}", done.reason or "",
                            "recorded by an earlier run")
            return None
        if isinstance(read, str):
            if done is None:
                session.add(MigrationEpisode(
                    export_id=self.export_id, episode_id=episode_id, outcome=HELD, reason=INVALID,
                    detail=read[:2000], updated_at=utcnow(),
                ))
                record(session, "migration.held", "hub", None, export_id=self.export_id,
                       episode_id=episode_id, reason=INVALID)
            self.report.add(episode_id, HELD, INVALID, read)
            return None
        if done is not None:  # held as invalid before, and readable now: corrected and exported again
            session.delete(done)
            session.flush()
        return self.check(session, read, raw)

    def check(self, session: Session, envelope: Envelope, raw: bytes) -> Planned | None:
        """Identity and consent; a permitted episode is rendered for the national system."""
        event = envelope.payload
        assert isinstance(event, EpisodeTransferred)
        episode_id = event.episode.episode_id
        envelope = self._inbox(session, envelope, raw)
        message_id = envelope.message_id
        identity = self.hub.processor.identity.resolve(session, event.child, self.source.system_id,
                                                       message_id)
        if identity.outcome == "review":
            return self._held(session, envelope, UNIDENTIFIED,
                              f"{identity.reason}; identity review {identity.review_id}")
        self.hub.sharing.observe(session, envelope)
        session.flush()  # the consent just registered is what the decision reads
        stored = self.hub.sharing.decide(session, message_id, self.target, envelope)
        if not stored.decision.permitted:
            return self._held(session, envelope, NO_CONSENT, stored.decision.reason)
        try:
            rendered = self.hub.adapters.render(
                "caf_system", self.target.profile, MESSAGE_TYPE, stored.decision.data,
                header={"message_id": f"{self.export_id}/{episode_id}", "sent_at": utcnow().isoformat(),
                        "correlation_id": envelope.correlation_id},
                origin=envelope.provenance,
            )
        except MappingError as error:  # the rule and where, never the value
            return self._held(session, envelope, INVALID,
                              f"not valid for {self.target.system_id}: rule {error.rule_id} at {error.where}")
        return Planned(episode_id, envelope, message_id, rendered.body.decode())

    def _inbox(self, session: Session, envelope: Envelope, raw: bytes) -> Envelope:
        """The episode as received from the export: what decisions and reviews hang on, never queued.
        Kept once: a run stopped before the episode's outcome was recorded finds it again."""
        known = session.execute(select(InboxMessage.message_id).where(
            InboxMessage.source_system == envelope.source_system,
            InboxMessage.source_message_id == envelope.source_message_id)).scalar_one_or_none()
        if known is not None:
            return envelope.model_copy(update={"message_id": known})
        sealed = seal_json(self.hub.keyring, envelope.model_dump(mode="json"), f"inbox:{envelope.message_id}")
        kept = self.hub.keyring.seal(raw, f"inbox-raw:{envelope.message_id}")
        session.add(InboxMessage(
            message_id=envelope.message_id, source_system=envelope.source_system,
            source_message_id=envelope.source_message_id, correlation_id=envelope.correlation_id,
            message_type=envelope.message_type, status="migration", received_at=envelope.received_at,
            key_id=sealed.key_id, envelope_sealed=sealed.blob, raw_sealed=kept.blob,
        ))
        session.flush()
        return envelope

    def _held(self, session: Session, envelope: Envelope, reason: str, detail: str) -> None:
        event = envelope.payload
        assert isinstance(event, EpisodeTransferred)
        episode_id = event.episode.episode_id
        sealed = seal_json(self.hub.keyring, {"envelope": envelope.model_dump(mode="json")},
                           f"migration:{self.export_id}:{episode_id}")
        session.add(MigrationEpisode(
            export_id=self.export_id, episode_id=episode_id, outcome=HELD, reason=reason,
            detail=detail, message_id=envelope.message_id, updated_at=utcnow(),
            key_id=sealed.key_id, sealed=sealed.blob,
        ))
        record(session, "migration.held", "hub", envelope.message_id, export_id=self.export_id,
               episode_id=episode_id, reason=reason)
        self.report.add(episode_id, HELD, reason, detail)
        return None

    # --- sending -------------------------------------------------------------------------------

    def send(self, batch: list[Planned]) -> None:
        """Record a batch as sending, then import it (an episode released from review)."""
        batch_id = new_id()
        with self.hub.database.transaction() as session:
            self.sending(session, batch_id, batch)
        self.deliver(batch_id, batch)

    def sending(self, session: Session, batch_id: str, batch: list[Planned]) -> None:
        """The batch as it will go, kept sealed until answered, so a stopped run sends it again."""
        for planned in batch:
            sealed = seal_json(self.hub.keyring, {
                "envelope": planned.envelope.model_dump(mode="json"), "body": planned.body,
            }, f"migration:{self.export_id}:{planned.episode_id}")
            session.add(MigrationEpisode(
                export_id=self.export_id, episode_id=planned.episode_id, outcome=SENDING,
                batch_id=batch_id, message_id=planned.message_id, updated_at=utcnow(),
                key_id=sealed.key_id, sealed=sealed.blob,
            ))

    def resend_unfinished(self) -> None:
        """Batches an earlier run recorded as sending but never saw answered: sent again, same key."""
        with self.hub.database.transaction() as session:
            rows = session.execute(select(MigrationEpisode).where(
                MigrationEpisode.export_id == self.export_id, MigrationEpisode.outcome == SENDING,
            ).order_by(MigrationEpisode.batch_id)).scalars().all()
            batches: dict[str, list[Planned]] = {}
            for row in rows:
                assert row.key_id is not None and row.sealed is not None and row.batch_id is not None
                kept = open_json(self.hub.keyring, row.key_id, row.sealed,
                                 f"migration:{self.export_id}:{row.episode_id}")
                batches.setdefault(row.batch_id, []).append(Planned(
                    row.episode_id, Envelope.model_validate(kept["envelope"]), row.message_id or "",
                    kept["body"]))
                self.seen.add(row.episode_id)
        for batch_id, batch in batches.items():
            self.deliver(batch_id, batch)

    def deliver(self, batch_id: str, batch: list[Planned]) -> None:
        body = import_document(batch_id, [planned.body for planned in batch])
        try:
            reply = httpx.post(
                f"{self.target.endpoint_url.rstrip('/')}{IMPORT_PATH}", content=body,
                timeout=self.timeout,
                headers={"Content-Type": "application/xml", "Idempotency-Key": batch_id},
            )
        except httpx.HTTPError as error:
            raise MigrationError(f"{self.target.system_id} could not be reached ({type(error).__name__}); "
                                 f"run again to carry on") from None
        if reply.status_code >= 500:
            raise MigrationError(
                f"{self.target.system_id} answered {reply.status_code}; run again to carry on")
        outcome = IMPORTED if reply.is_success else REJECTED
        detail = "" if reply.is_success else f"{self.target.system_id} answered {reply.status_code}: " \
                                             f"{reply.text[:300]}"
        with self.hub.database.transaction() as session:
            entries = []
            for planned in batch:
                row = session.get(MigrationEpisode, (self.export_id, planned.episode_id))
                assert row is not None
                row.outcome, row.updated_at, row.detail = outcome, utcnow(), detail or None
                row.sealed = row.key_id = None
                record(session, f"migration.{outcome}", "hub", planned.message_id,
                       export_id=self.export_id, episode_id=planned.episode_id,
                       destination=self.target.system_id, batch_id=batch_id)
                if outcome == IMPORTED:
                    entries += directory_updates(self.hub, session, self.target, planned.envelope)
                self.report.add(planned.episode_id, outcome, "", detail)
        # the directory updates wait in the outbox, committed with the outcome; the workers' outbox
        # relay publishes them in its sweeps, so the import does not wait on the broker
        self.directory_updates += len(entries)


def import_document(batch_id: str, bodies: list[str]) -> bytes:
    """A batch for the national system's import: each episode as its own ``episodeTransfer``."""
    root = etree.Element(f"{{{CAF_NS}}}episodeImport", {"batch": batch_id, "count": str(len(bodies))},
                         nsmap={None: CAF_NS})
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    for body in bodies:
        root.append(etree.fromstring(body.encode(), parser=parser))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def directory_updates(hub: Hub, session: Session, target: ConnectedSystem, envelope: Envelope) -> list:
    """The migrated episode as the national system now records it, and its lead professional:
    accepted as the national system's messages, so the directory sync updates the directories
    (the CAF indicator, the lead professional) in order, as for any other CAF."""
    event = envelope.payload
    assert isinstance(event, EpisodeTransferred)
    episode = event.episode
    lead = episode.lead_professional
    if lead is None:
        return []
    events = [
        CafEpisodeRecorded(child=event.child, episode=episode, recorded_by=lead,
                           recorded_at=envelope.occurred_at),
        LeadProfessionalChanged(child=event.child, episode_id=episode.episode_id,
                                episode_version=episode.version, lead_professional=lead,
                                agreed_at=envelope.occurred_at),
    ]
    entries = []
    for derived in events:
        update = Envelope(
            correlation_id=envelope.correlation_id, causation_id=envelope.message_id,
            source_system=target.system_id,
            source_message_id=f"{envelope.source_message_id}/{derived.event_type}",
            message_type=derived.event_type, message_version="1", occurred_at=envelope.occurred_at,
            purpose=Purpose.DIRECTORY_UPDATE if derived.event_type == "lead-professional-changed"
            else Purpose.TAC_SHARING, payload=derived,
        )
        exists = session.execute(select(InboxMessage.message_id).where(
            InboxMessage.source_system == target.system_id,
            InboxMessage.source_message_id == update.source_message_id)).scalar_one_or_none()
        if exists is not None:
            continue
        sealed = seal_json(hub.keyring, update.model_dump(mode="json"), f"inbox:{update.message_id}")
        raw = hub.keyring.seal(b"", f"inbox-raw:{update.message_id}")
        session.add(InboxMessage(
            message_id=update.message_id, source_system=target.system_id,
            source_message_id=update.source_message_id, correlation_id=update.correlation_id,
            message_type=update.message_type, status="accepted", received_at=update.received_at,
            key_id=sealed.key_id, envelope_sealed=sealed.blob, raw_sealed=raw.blob,
        ))
        session.flush()
        entries.append(enqueue(session, INBOUND, {"message_id": update.message_id}))
        record(session, "message.received", target.system_id, update.message_id,
               message_type=update.message_type, correlation_id=update.correlation_id)
    return entries


def _reference(raw: bytes) -> str | None:
    try:
        found = etree.fromstring(raw).findtext(f"{{{LOCAL_NS}}}episodeRef")
    except etree.XMLSyntaxError:
        return None
    return found.strip() if found and found.strip() else None
