"""Batch migration of a local eCAF module's episodes into the national CAF system.

An export (one XML file, or a folder of them) is streamed with lxml ``iterparse`` and each
``episodeRecord`` cleared once read, so an export of any size is never held whole. Each episode
is read with the ``local`` CAF profile (schema, mapping and canonical checks), its child
resolved, and the family's consent to the CAF checked for the national CAF system. Episodes
that pass are mapped to the national system's profile (with provenance) and imported in
batches; the others are **held back** with the reason (invalid, identity unresolved, no
consent), never dropped, and can be released one by one once the reason is dealt with.

A batch is checked against the store in one transaction: its records, children, consents and
decisions are looked up with a few queries for the whole batch and written with one insert per
table (``hub.identity_batch``, ``consent.batch``), each decision audited with its legal basis
as for any message. Reading and rendering (``hub.migration_mapping``) run in worker processes
when asked for, so one batch is checked while the next is read and the one before rendered.

Resumable: every episode's outcome is recorded under (export id, episode id). A batch is
recorded as ``sending`` before it goes, under an idempotency key the national system honours,
so a run killed at any point re-sends exactly the batches it was sending and imports nothing
twice. A batch goes from a thread of its own while the next is checked (at most ``IN_FLIGHT``
batches unanswered); the answers are recorded, in the order the batches went, by the next
transaction.
A run killed after a batch was checked but before it was recorded as sending checks those
episodes again on the next run: their child and consent are found as recorded, and the
decision is made (and audited) again before they go.
For each imported episode the directory is updated (the CAF indicator and the lead
professional) through the directory sync, as the national system's own recorded episode: the
updates are queued in the outbox with the batch's outcome, and a running worker sends them on.
"""

from __future__ import annotations

import csv
import json
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from lxml import etree
from sqlalchemy import Connection, DateTime, Engine, LargeBinary, String, Text, delete, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from consent.batch import ConsentBatch, chunks
from hub.audit import record
from hub.bootstrap import Hub
from hub.canonical import Envelope, new_id, utcnow
from hub.canonical.events import EpisodeTransferred
from hub.identity_batch import BatchResolver
from hub.migration_mapping import (
    MESSAGE_TYPE,
    InlineMapping,
    Mapping,
    Profiles,
    ReadEpisode,
    RenderedEpisode,
    RenderRequest,
    Update,
    directory_updates_of,
    long_run_collector,
    mapping,
)
from hub.sealing import open_json
from hub.store.tables import Base, ConnectedSystem, InboxMessage, OutboxEntry
from queues.topology import INBOUND

LOCAL_NS = "urn:local-ecaf:episode:1"
CAF_NS = "urn:childrens-hub:caf:1"
RECORD = f"{{{LOCAL_NS}}}episodeRecord"
IMPORT_PATH = "/imports"
COLUMNS = ("episode_id", "outcome", "reason", "detail")

SENDING, IMPORTED, HELD, REJECTED = "sending", "imported", "held", "rejected"
INVALID, UNIDENTIFIED, NO_CONSENT = "invalid", "identity-unresolved", "no-consent"

T = TypeVar("T")


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
    """An episode permitted and rendered for the national system, with the directory updates its
    import makes (None: worked out when it is imported)."""

    episode_id: str
    envelope: Envelope
    message_id: str
    body: str
    updates: tuple[Update, ...] | None = None


@dataclass
class _Permitted:
    episode_id: str
    position: int
    envelope: Envelope
    document: bytes  # the envelope as JSON
    data: dict[str, Any]


@dataclass
class _Checked:
    """A batch checked against the store, its permitted episodes being rendered."""

    number: int
    permitted: list[_Permitted]
    rendering: Future[list[RenderedEpisode]]


@dataclass
class _Answer:
    """The national system's answer to a batch, to be recorded."""

    batch_id: str
    batch: list[Planned]
    outcome: str
    detail: str


class Migration:
    """One export's migration from ``source`` (a registered local CAF system) to ``target``.

    ``workers`` is how many worker processes read and render episodes (0: this process)."""

    LAG = 2  # batches checked and being rendered while the next one is checked
    IN_FLIGHT = 2  # batches sent and not yet answered while the next one is checked

    def __init__(self, hub: Hub, export_id: str, source: str, target: str, batch_size: int = 200,
                 dry_run: bool = False, timeout: float = 60.0, workers: int = 0):
        self.hub, self.export_id, self.batch_size, self.dry_run = hub, export_id, batch_size, dry_run
        self.timeout, self.workers = timeout, workers
        with hub.database.transaction() as session:
            self.source = self._system(session, source)
            self.target = self._system(session, target)
        if not self.target.endpoint_url:
            raise MigrationError(f"{target} has no endpoint to import into")
        if hub.adapters.mappings.find("caf_system", self.source.profile, MESSAGE_TYPE) is None:
            raise MigrationError(f"no {MESSAGE_TYPE} mapping for the {self.source.profile} CAF profile")
        self.profiles = Profiles(export_id, self.source.system_id, self.source.profile, self.target.system_id,
                                 self.target.profile, hub.settings.mappings_dir)
        self.resolver = BatchResolver(hub.processor.identity)
        self.report = Report(export_id, dry_run)
        self.seen: set[str] = set()
        self.position = 0
        self.directory_updates = 0
        self._held: list[dict[str, Any]] = []
        self._rendering: deque[_Checked] = deque()
        self._answers: list[_Answer] = []
        self._posting: deque[Future[_Answer]] = deque()
        self._client: httpx.Client | None = None
        self._store: RunConnection | None = None

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """One transaction: on the run's own connection while it runs (SQLite)."""
        if self._store is None:
            with self.hub.database.transaction() as session:
                yield session
            return
        self._store.before()
        with Session(bind=self._store.connection, expire_on_commit=False) as session, session.begin():
            yield session
        self._store.committed()

    @staticmethod
    def _system(session: Session, system_id: str) -> ConnectedSystem:
        system = session.get(ConnectedSystem, system_id)
        if system is None or system.kind != "caf_system":
            raise MigrationError(f"{system_id!r} is not a registered CAF system")
        session.expunge(system)
        return system

    # --- the run -----------------------------------------------------------------------------

    def run(self, records: Iterable[bytes]) -> Report:
        """Read, check, render and import the export batch by batch, one transaction per batch:
        it records the answers to the batches imported since the last one, the batch rendered
        ``LAG`` batches ago as sending (which then goes), and the checks of the batch just read,
        while the worker processes read the next batch and render the one before."""
        self._client = httpx.Client(timeout=self.timeout)
        lanes = mapping(self.hub.adapters, self.profiles, self.workers)
        sender = ThreadPoolExecutor(1, thread_name_prefix="migration-import")
        self._store = RunConnection.open(self.hub.database.engine)
        try:
            with long_run_collector():
                if not self.dry_run:
                    self.resend_unfinished()
                reading: deque[tuple[int, list[bytes], Future[list[ReadEpisode]]]] = deque()
                for number, raws in enumerate(_batches(records, self.batch_size)):
                    reading.append((number, raws, lanes.read(number, self.position + 1, raws)))
                    self.position += len(raws)
                    if len(reading) > 1:
                        self._step(lanes, *reading.popleft(), sender=sender)
                while reading:
                    self._step(lanes, *reading.popleft(), sender=sender)
                while self._rendering or self._answers or self._posting:
                    self._step(lanes, sender=sender)
        except MigrationError:
            sender.shutdown(wait=True, cancel_futures=True)
            self._collect_answered()
            self._record_answers()  # what the national system did answer is kept before stopping
            raise
        finally:
            sender.shutdown(wait=True, cancel_futures=True)
            lanes.close()
            if self._store is not None:
                self._store.close()
                self._store = None
            self._client.close()
            self._client = None
        return self.report

    def _step(self, lanes: Mapping, number: int | None = None, raws: list[bytes] | None = None,
              read: Future[list[ReadEpisode]] | None = None, *, sender: ThreadPoolExecutor) -> None:
        items = _result(read) if read is not None else None
        ready = self._rendering.popleft() if self._rendering and (
            items is None or len(self._rendering) >= self.LAG) else None
        rendered = _result(ready.rendering) if ready is not None else None
        self._collect(wait=items is None and ready is None)
        permitted: list[_Permitted] = []
        with self._transaction() as session:
            self._answered(session)
            going = None
            if ready is not None and rendered is not None:
                going = self._plan(session, ready, rendered)
            if items is not None and raws is not None:
                fresh = self._sort(session, items)
                first = items[0].position if items else 0
                permitted = self._checks(session, fresh, {item.position: raws[item.position - first]
                                                          for item in fresh})
            self._write_held(session)
            if self.dry_run:
                session.rollback()
        if items is not None and number is not None:
            sent_at = utcnow().isoformat()
            requests = [RenderRequest(item.position, item.envelope.message_id, item.data, {
                "message_id": f"{self.export_id}/{item.episode_id}", "sent_at": sent_at,
                "correlation_id": item.envelope.correlation_id}) for item in permitted]
            self._rendering.append(_Checked(number, permitted, lanes.render(number, requests)))
        if going is not None:
            if len(self._posting) >= self.IN_FLIGHT:
                self._collect(wait=True)
            self._posting.append(sender.submit(self._post, *going))

    def _collect(self, wait: bool) -> None:
        """The answers to the batches sent, in the order they went: those already in (``wait``:
        the oldest one at least, answered or not yet)."""
        while self._posting and (wait or self._posting[0].done()):
            self._answers.append(self._posting.popleft().result())
            wait = False

    def _collect_answered(self) -> None:
        """The run is stopping: the answers in, in order, up to the first batch that got none."""
        while self._posting:
            posted = self._posting.popleft()
            if posted.cancelled() or posted.exception() is not None:
                break
            self._answers.append(posted.result())
        self._posting.clear()

    def _sort(self, session: Session, items: list[ReadEpisode]) -> list[ReadEpisode]:
        """The episodes to check: a duplicate, or one done by an earlier run, is skipped; an
        invalid one held (once); one held as invalid before and readable now is checked afresh."""
        done: dict[str, tuple[str, str | None]] = {}
        for part in chunks(sorted({item.episode_id for item in items})):
            done.update((episode_id, (outcome, reason)) for episode_id, outcome, reason in session.execute(
                select(MigrationEpisode.episode_id, MigrationEpisode.outcome, MigrationEpisode.reason)
                .where(MigrationEpisode.export_id == self.export_id,
                       MigrationEpisode.episode_id.in_(part))))
        fresh, corrected = [], []
        for item in items:
            episode_id = item.episode_id
            if episode_id in self.seen:
                self.report.add(episode_id, "duplicate", "", "the episode appears again in the export")
                continue
            self.seen.add(episode_id)
            before = done.get(episode_id)
            if before is not None and before != (HELD, INVALID):
                self.report.add(episode_id, f"already-{before[0]}", before[1] or "",
                                "recorded by an earlier run")
                continue
            if item.problem is not None:
                if before is None:
                    self._held.append(dict(
                        export_id=self.export_id, episode_id=episode_id, outcome=HELD, reason=INVALID,
                        detail=item.problem[:2000], batch_id=None, message_id=None, updated_at=utcnow(),
                        key_id=None, sealed=None))
                    record(session, "migration.held", "hub", None, export_id=self.export_id,
                           episode_id=episode_id, reason=INVALID)
                self.report.add(episode_id, HELD, INVALID, item.problem)
                continue
            if before is not None:  # held as invalid before, and readable now: corrected and exported again
                corrected.append(episode_id)
            fresh.append(item)
        for part in chunks(corrected):
            session.execute(delete(MigrationEpisode).where(MigrationEpisode.export_id == self.export_id,
                                                           MigrationEpisode.episode_id.in_(part)))
        return fresh

    def _checks(self, session: Session, items: list[ReadEpisode], raws: dict[int, bytes]) -> list[_Permitted]:
        """Identity and consent for each episode, as received into the inbox; the permitted ones
        with the data the decision lets go."""
        if not items:
            return []
        received = self._inbox(session, items, raws)
        resolutions = self.resolver.resolve_many(session, [
            (_transfer(envelope).child, self.source.system_id, envelope.message_id)
            for _item, envelope, _document in received])
        identified = [envelope for (_item, envelope, _document), resolution
                      in zip(received, resolutions, strict=True) if resolution.outcome != "review"]
        consent = ConsentBatch(self.hub.sharing, session, identified)
        permitted = []
        for (item, envelope, document), resolution in zip(received, resolutions, strict=True):
            if resolution.outcome == "review":
                self._hold(session, item.episode_id, envelope, document, UNIDENTIFIED,
                           f"{resolution.reason}; identity review {resolution.review_id}")
                continue
            consent.observe(envelope)
            stored = consent.decide(envelope.message_id, self.target, envelope, document)
            if not stored.decision.permitted:
                self._hold(session, item.episode_id, envelope, document, NO_CONSENT, stored.decision.reason)
                continue
            permitted.append(_Permitted(item.episode_id, item.position, envelope, document,
                                        stored.decision.data))
        consent.write()
        return permitted

    def _inbox(self, session: Session, items: list[ReadEpisode],
               raws: dict[int, bytes]) -> list[tuple[ReadEpisode, Envelope, bytes]]:
        """Each episode as received from the export: what decisions and reviews hang on, never
        queued. Kept once: a run stopped before the episode's outcome was recorded finds it again."""
        envelopes = [item.canonical() for item in items]
        known: dict[str, str] = {}
        for part in chunks([envelope.source_message_id for envelope in envelopes]):
            known.update((source_message_id, message_id) for source_message_id, message_id in session.execute(
                select(InboxMessage.source_message_id, InboxMessage.message_id)
                .where(InboxMessage.source_system == self.source.system_id,
                       InboxMessage.source_message_id.in_(part))))
        received, rows = [], []
        keyring = self.hub.keyring
        for item, envelope in zip(items, envelopes, strict=True):
            document = item.document
            assert document is not None
            kept = known.get(envelope.source_message_id)
            if kept is not None:
                envelope = envelope.model_copy(update={"message_id": kept})
                document = envelope.model_dump_json().encode()
            else:
                sealed = keyring.seal(document, f"inbox:{envelope.message_id}")
                raw = keyring.seal(raws.get(item.position, b""), f"inbox-raw:{envelope.message_id}")
                rows.append(dict(
                    message_id=envelope.message_id, source_system=envelope.source_system,
                    source_message_id=envelope.source_message_id, correlation_id=envelope.correlation_id,
                    message_type=envelope.message_type, status="migration", hold_reason=None,
                    received_at=envelope.received_at, processed_at=None, key_id=sealed.key_id,
                    envelope_sealed=sealed.blob, raw_sealed=raw.blob, attempts=0, lease_until=None,
                    failure_reason=None))
            received.append((item, envelope, document))
        if rows:
            session.execute(insert(InboxMessage.__table__), rows)
        return received

    def _hold(self, session: Session, episode_id: str, envelope: Envelope, document: bytes, reason: str,
              detail: str) -> None:
        """Held back with the reason; the envelope kept sealed, to be checked again on release."""
        sealed = self.hub.keyring.seal(b'{"envelope":' + document + b"}",
                                       f"migration:{self.export_id}:{episode_id}")
        self._held.append(dict(
            export_id=self.export_id, episode_id=episode_id, outcome=HELD, reason=reason, detail=detail,
            batch_id=None, message_id=envelope.message_id, updated_at=utcnow(), key_id=sealed.key_id,
            sealed=sealed.blob))
        record(session, "migration.held", "hub", envelope.message_id, export_id=self.export_id,
               episode_id=episode_id, reason=reason)
        self.report.add(episode_id, HELD, reason, detail)

    def _write_held(self, session: Session) -> None:
        if self._held:
            session.execute(insert(MigrationEpisode.__table__), self._held)
        self._held = []

    def _plan(self, session: Session, checked: _Checked,
              rendered: list[RenderedEpisode]) -> tuple[str, list[Planned]] | None:
        """A checked batch, rendered: recorded as sending (held, if the national system's profile
        cannot carry an episode); the batch to import, under its key."""
        batch: list[tuple[Planned, bytes]] = []
        for item, result in zip(checked.permitted, rendered, strict=True):
            if result.body is None:
                assert result.problem is not None
                self._hold(session, item.episode_id, item.envelope, item.document, INVALID, result.problem)
                continue
            batch.append((Planned(item.episode_id, item.envelope, item.envelope.message_id,
                                  result.body.decode(), result.updates), item.document))
        if self.dry_run:
            for planned, _document in batch:
                self.report.add(planned.episode_id, "would-import")
            return None
        if not batch:
            return None
        batch_id = new_id()
        self.sending(session, batch_id, batch)
        return batch_id, [planned for planned, _document in batch]

    # --- sending -------------------------------------------------------------------------------

    def recheck(self, session: Session, envelope: Envelope) -> Planned | None:
        """One held episode checked again in the caller's transaction (identity, consent) and
        rendered; None if it is still held, recorded with the reason as it stands now."""
        event = _transfer(envelope)
        item = ReadEpisode(0, event.episode.episode_id, envelope.model_dump_json().encode(),
                           envelope=envelope)
        permitted = self._checks(session, [item], {})
        if permitted:
            chosen = permitted[0]
            header = {"message_id": f"{self.export_id}/{chosen.episode_id}", "sent_at": utcnow().isoformat(),
                      "correlation_id": chosen.envelope.correlation_id}
            inline = InlineMapping(self.hub.adapters, self.profiles)
            request = RenderRequest(0, chosen.envelope.message_id, chosen.data, header)
            result = _result(inline.render(0, [request], envelopes={0: chosen.envelope}))[0]
            if result.body is not None:
                self._write_held(session)
                return Planned(chosen.episode_id, chosen.envelope, chosen.envelope.message_id,
                               result.body.decode(), result.updates)
            assert result.problem is not None
            self._hold(session, chosen.episode_id, chosen.envelope, chosen.document, INVALID, result.problem)
        self._write_held(session)
        return None

    def send(self, batch: list[Planned]) -> None:
        """Record a batch as sending, import it and record the answer (an episode released from review)."""
        batch_id = new_id()
        with self._transaction() as session:
            self.sending(session, batch_id, [(planned, planned.envelope.model_dump_json().encode())
                                             for planned in batch])
        self._deliver(batch_id, batch)

    def sending(self, session: Session, batch_id: str, batch: list[tuple[Planned, bytes]]) -> None:
        """The batch as it will go, kept sealed until answered, so a stopped run sends it again."""
        rows, now = [], utcnow()
        for planned, document in batch:
            sealed = self.hub.keyring.seal(
                b'{"envelope":' + document + b',"body":' + json.dumps(planned.body).encode() + b"}",
                f"migration:{self.export_id}:{planned.episode_id}")
            rows.append(dict(
                export_id=self.export_id, episode_id=planned.episode_id, outcome=SENDING, reason=None,
                detail=None, batch_id=batch_id, message_id=planned.message_id, updated_at=now,
                key_id=sealed.key_id, sealed=sealed.blob))
        if rows:
            session.execute(insert(MigrationEpisode.__table__), rows)

    def resend_unfinished(self) -> None:
        """Batches an earlier run recorded as sending but never saw answered: sent again, same key."""
        with self._transaction() as session:
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
            self._deliver(batch_id, batch)

    def _deliver(self, batch_id: str, batch: list[Planned]) -> None:
        """Import a batch recorded as sending, and record the answer at once."""
        if self._client is None:
            with httpx.Client(timeout=self.timeout) as client:
                self._answers.append(self._post(batch_id, batch, client))
        else:
            self._answers.append(self._post(batch_id, batch))
        self._record_answers()

    def _post(self, batch_id: str, batch: list[Planned], client: httpx.Client | None = None) -> _Answer:
        """One import call for the batch, under its key; the national system's answer."""
        client = client or self._client
        assert client is not None
        body = import_document(batch_id, [planned.body for planned in batch])
        try:
            reply = client.post(
                f"{self.target.endpoint_url.rstrip('/')}{IMPORT_PATH}", content=body,
                headers={"Content-Type": "application/xml", "Idempotency-Key": batch_id},
            )
        except httpx.HTTPError as error:
            raise MigrationError(f"{self.target.system_id} could not be reached ({type(error).__name__}); "
                                 f"run again to carry on") from None
        if reply.status_code >= 500:
            raise MigrationError(
                f"{self.target.system_id} answered {reply.status_code}; run again to carry on")
        if reply.is_success:
            return _Answer(batch_id, batch, IMPORTED, "")
        return _Answer(batch_id, batch, REJECTED,
                       f"{self.target.system_id} answered {reply.status_code}: {reply.text[:300]}")

    def _record_answers(self) -> None:
        if self._answers:
            with self._transaction() as session:
                self._answered(session)

    def _answered(self, session: Session) -> None:
        """The answers to the batches imported since the last transaction, for every episode in
        them; for those imported, the directory updates, queued in the outbox with the outcome
        (the workers' outbox relay publishes them, so the import does not wait on the broker)."""
        for answer in self._answers:
            episode_ids = [planned.episode_id for planned in answer.batch]
            updated = 0
            for part in chunks(episode_ids):
                updated += session.execute(
                    update(MigrationEpisode)
                    .where(MigrationEpisode.export_id == self.export_id, MigrationEpisode.outcome == SENDING,
                           MigrationEpisode.episode_id.in_(part))
                    .values(outcome=answer.outcome, updated_at=utcnow(), detail=answer.detail or None,
                            sealed=None, key_id=None)
                    .execution_options(synchronize_session=False)).rowcount
            if updated != len(episode_ids):
                raise MigrationError(f"batch {answer.batch_id} is no longer recorded as sending: is another "
                                     f"run of {self.export_id} under way?")
            for planned in answer.batch:
                record(session, f"migration.{answer.outcome}", "hub", planned.message_id,
                       export_id=self.export_id, episode_id=planned.episode_id,
                       destination=self.target.system_id, batch_id=answer.batch_id)
                self.report.add(planned.episode_id, answer.outcome, "", answer.detail)
            if answer.outcome == IMPORTED:
                target = self.target.system_id
                self.directory_updates += directory_updates(self.hub, session, target, [
                    message for planned in answer.batch for message in (
                        planned.updates if planned.updates is not None
                        else directory_updates_of(planned.envelope, planned.message_id, target))])
        self._answers = []


class RunConnection:
    """A run's own connection to an SQLite store, set for a long run of large transactions.

    Its page cache is big enough to keep the pages of the indexes a batch writes to
    (``CACHE_KIB``) rather than read them again for each batch. Its commits leave the
    write-ahead log to be copied back into the database by a thread of its own (a passive
    checkpoint after each commit, on another connection), so a commit does not wait on that
    copy; once the log has grown past ``LOG_LIMIT`` pages, the next transaction waits for the
    copy to finish first, so that its writes start the log over. Once the run is over, what it
    committed is copied back, the log's file emptied, and the connection is as it was."""

    CACHE_KIB = 65_536
    LOG_LIMIT = 196_608  # pages (768 MiB of 4 KiB pages): the fewer the waits, the longer the log

    def __init__(self, engine: Engine):
        self.connection: Connection = engine.connect()
        raw = self.connection.connection.dbapi_connection
        assert raw is not None
        self._raw = raw
        self._cache = int(raw.execute("PRAGMA cache_size").fetchone()[0])
        self._threshold = int(raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        raw.execute(f"PRAGMA cache_size={-self.CACHE_KIB:d}")
        self._state = threading.Condition()
        self._commits = 0  # commits so far
        self._copied = 0  # commits a finished checkpoint has copied back
        self._log = 0  # the log's length at the last checkpoint, in pages
        self._stopping = False
        raw.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = engine.raw_connection()
        self._thread = threading.Thread(target=self._checkpoints, name="migration-checkpoint",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, engine: Engine) -> RunConnection | None:
        return cls(engine) if engine.dialect.name == "sqlite" else None

    def before(self) -> None:
        """Before a transaction: once the log is long, wait until what is committed is copied."""
        with self._state:
            if self._log > self.LOG_LIMIT:
                self._state.wait_for(lambda: self._copied >= self._commits or self._stopped())

    def _stopped(self) -> bool:
        return not self._thread.is_alive()

    def committed(self) -> None:
        with self._state:
            self._commits += 1
            self._state.notify_all()

    def _checkpoints(self) -> None:
        cursor = self._checkpointer.cursor()
        try:
            while True:
                with self._state:
                    self._state.wait_for(lambda: self._copied < self._commits or self._stopping)
                    if self._copied >= self._commits:
                        return
                    target = self._commits
                _busy, log, _copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                with self._state:
                    self._copied, self._log = target, log
                    self._state.notify_all()
        finally:
            cursor.close()
            self._checkpointer.close()

    def close(self) -> None:
        with self._state:
            self._stopping = True
            self._state.notify_all()
        self._thread.join()
        self._raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # the long log's file let go
        self._raw.execute(f"PRAGMA wal_autocheckpoint={self._threshold:d}")
        self._raw.execute(f"PRAGMA cache_size={self._cache:d}")
        self.connection.close()


def import_document(batch_id: str, bodies: list[str]) -> bytes:
    """A batch for the national system's import: each episode as its own ``episodeTransfer``.

    The bodies are documents the hub rendered (and checked against the schema) itself, so they
    are put together as text, each without its XML declaration, rather than parsed again."""
    root = etree.Element(f"{{{CAF_NS}}}episodeImport", {"batch": batch_id, "count": str(len(bodies))},
                         nsmap={None: CAF_NS})
    opening, _, closing = etree.tostring(root, encoding="unicode").rpartition("/>")
    parts = [f"<?xml version='1.0' encoding='UTF-8'?>\n{opening}>"]
    parts += [_DECLARATION.sub("", body, count=1) for body in bodies]
    parts.append(f"</{root.tag.rpartition('}')[2]}>{closing}")
    return "".join(parts).encode()


_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


def directory_updates(hub: Hub, session: Session, target: str, updates: list[Update]) -> int:
    """The directory updates of imported episodes, accepted as the national system's messages and
    queued for the workers; none twice (a batch sent again). Returns how many were queued."""
    exists: set[str] = set()
    for part in chunks([message.source_message_id for message in updates]):
        exists.update(session.execute(select(InboxMessage.source_message_id).where(
            InboxMessage.source_system == target, InboxMessage.source_message_id.in_(part))).scalars())
    inbox, outbox, now = [], [], utcnow()
    for message in updates:
        if message.source_message_id in exists:
            continue
        sealed = hub.keyring.seal(message.document, f"inbox:{message.message_id}")
        raw = hub.keyring.seal(b"", f"inbox-raw:{message.message_id}")
        inbox.append(dict(
            message_id=message.message_id, source_system=target, source_message_id=message.source_message_id,
            correlation_id=message.correlation_id, message_type=message.message_type, status="accepted",
            hold_reason=None, received_at=message.received_at, processed_at=None, key_id=sealed.key_id,
            envelope_sealed=sealed.blob, raw_sealed=raw.blob, attempts=0, lease_until=None,
            failure_reason=None))
        outbox.append(dict(routing_key=INBOUND, body={"message_id": message.message_id}, created_at=now))
        record(session, "message.received", target, message.message_id,
               message_type=message.message_type, correlation_id=message.correlation_id)
    if inbox:
        session.execute(insert(InboxMessage.__table__), inbox)
        session.execute(insert(OutboxEntry.__table__), outbox)
    return len(inbox)


def _transfer(envelope: Envelope) -> EpisodeTransferred:
    event = envelope.payload
    assert isinstance(event, EpisodeTransferred)
    return event


def _batches(records: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for raw in records:
        batch.append(raw)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _result(future: Future[T]) -> T:
    try:
        return future.result()
    except BrokenProcessPool:
        raise MigrationError("a mapping worker process stopped; run again to carry on") from None
