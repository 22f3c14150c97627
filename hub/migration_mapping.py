"""The mapping half of a migration: episodes read from the local profile, then rendered in the
national system's, in this process or in worker processes while this one writes to the store.

Reading an episode record (schema, mapping, canonical checks) and rendering the permitted data in
the target's profile need nothing but the mapping specs, and cost about as much as everything
else the migration does for an episode. ``MappingLanes`` runs them in worker processes (a
batch's read and render in the same lane, which keeps the batch's episodes between the two),
handing back the canonical envelope as JSON, which the store seals as it is; ``InlineMapping``
runs them here. Both answer with futures, so the migration checks one batch against the store
while the next is read and an earlier one rendered. A rendered episode comes back with the
directory updates its import makes (``directory_updates_of``), ready to be stored.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.base import Identified
from adapters.registry import Adapters
from adapters.rejection import InputRejected
from hub.canonical import Envelope, Purpose, new_id
from hub.canonical.events import CafEpisodeRecorded, EpisodeTransferred, LeadProfessionalChanged
from mappings.engine import MappingError
from mappings.registry import MappingRegistry

LOCAL_NS = "urn:local-ecaf:episode:1"
MESSAGE_TYPE = "episode-transferred"
KIND = "caf_system"


@dataclass(frozen=True)
class Profiles:
    """What a lane needs to know to read and render a migration's episodes."""

    export_id: str
    source_system: str
    source_profile: str
    target_system: str
    target_profile: str
    mappings_dir: Path | None = None


@dataclass
class ReadEpisode:
    """One record of the export: its episode as a canonical envelope (JSON, and the object when
    read in this process), or why it could not be read."""

    position: int  # the record's place in the export, from 1
    episode_id: str
    document: bytes | None = None  # the envelope as JSON
    problem: str | None = None
    envelope: Envelope | None = None

    def canonical(self) -> Envelope:
        if self.envelope is None:
            assert self.document is not None
            self.envelope = Envelope.model_validate_json(self.document)
        return self.envelope


@dataclass(frozen=True)
class RenderRequest:
    position: int
    message_id: str  # the episode's message as the hub received it
    data: dict[str, Any]  # what the decision lets go
    header: dict[str, str]


@dataclass(frozen=True)
class Update:
    """A directory update the import makes, as the national system's message: its envelope as JSON."""

    message_id: str
    source_message_id: str
    correlation_id: str
    message_type: str
    received_at: datetime
    document: bytes


@dataclass(frozen=True)
class RenderedEpisode:
    body: bytes | None
    problem: str | None = None
    updates: tuple[Update, ...] = ()


def directory_updates_of(envelope: Envelope, message_id: str, target_system: str) -> list[Update]:
    """The migrated episode as the national system now records it, and its lead professional:
    the national system's messages, so the directory sync updates the directories (the CAF
    indicator, the lead professional) in order, as for any other CAF."""
    event = envelope.payload
    assert isinstance(event, EpisodeTransferred)
    episode = event.episode
    lead = episode.lead_professional
    if lead is None:
        return []
    updates = []
    for derived in (
        CafEpisodeRecorded(child=event.child, episode=episode, recorded_by=lead,
                           recorded_at=envelope.occurred_at),
        LeadProfessionalChanged(child=event.child, episode_id=episode.episode_id,
                                episode_version=episode.version, lead_professional=lead,
                                agreed_at=envelope.occurred_at),
    ):
        update = Envelope(
            correlation_id=envelope.correlation_id, causation_id=message_id, source_system=target_system,
            source_message_id=f"{envelope.source_message_id}/{derived.event_type}",
            message_type=derived.event_type, message_version="1", occurred_at=envelope.occurred_at,
            purpose=Purpose.DIRECTORY_UPDATE if derived.event_type == "lead-professional-changed"
            else Purpose.TAC_SHARING, payload=derived,
        )
        updates.append(Update(update.message_id, update.source_message_id, update.correlation_id,
                              update.message_type, update.received_at, update.model_dump_json().encode()))
    return updates


class EpisodeMapper:
    """Reads and renders with one set of mapping specs; keeps each batch's episodes from its read
    to its render (their provenance annotates the rendered fields)."""

    def __init__(self, adapters: Adapters, profiles: Profiles):
        self.adapters, self.profiles = adapters, profiles
        adapter = adapters.for_kind(KIND)
        assert adapter is not None
        self.adapter = adapter
        self.kept: dict[int, dict[int, Envelope]] = {}

    def read(self, batch: int, first: int, raws: list[bytes], keep_objects: bool) -> list[ReadEpisode]:
        effective = self.adapters.mappings.find(KIND, self.profiles.source_profile, MESSAGE_TYPE)
        assert effective is not None
        kept = self.kept.setdefault(batch, {})
        read = []
        for offset, raw in enumerate(raws):
            position = first + offset
            try:
                document = etree.fromstring(raw)
                received = self.adapter.read(Identified(MESSAGE_TYPE, document, effective),
                                             self.profiles.source_system)
            except InputRejected as rejection:
                read.append(ReadEpisode(position, reference(raw) or f"record-{position}",
                                        problem=f"{rejection.rule} at {rejection.field}: {rejection.detail}"))
                continue
            except ValueError as error:
                read.append(ReadEpisode(position, reference(raw) or f"record-{position}",
                                        problem=f"canonical.value: {type(error).__name__}"))
                continue
            event = received.event
            assert isinstance(event, EpisodeTransferred)
            episode_id = event.episode.episode_id
            envelope = Envelope(
                correlation_id=new_id(), source_system=self.profiles.source_system,
                source_message_id=f"migration:{self.profiles.export_id}:{episode_id}",
                message_type=MESSAGE_TYPE, message_version=received.message_version,
                occurred_at=received.occurred_at, purpose=Purpose.EPISODE_TRANSFER, payload=event,
                provenance=received.provenance,
            )
            kept[position] = envelope
            read.append(ReadEpisode(position, episode_id, envelope.model_dump_json().encode(),
                                    envelope=envelope if keep_objects else None))
        return read

    def render(self, batch: int, requests: list[RenderRequest],
               envelopes: dict[int, Envelope] | None = None) -> list[RenderedEpisode]:
        """Each request's data in the target's profile, with the directory updates its import
        makes; or the rule it breaks there (never the value)."""
        kept = self.kept.pop(batch, {})
        if envelopes:
            kept.update(envelopes)
        rendered = []
        for request in requests:
            envelope = kept[request.position]
            try:
                result = self.adapters.render(KIND, self.profiles.target_profile, MESSAGE_TYPE, request.data,
                                              header=request.header, origin=envelope.provenance)
            except MappingError as error:
                rendered.append(RenderedEpisode(None, f"not valid for {self.profiles.target_system}: "
                                                      f"rule {error.rule_id} at {error.where}"))
                continue
            rendered.append(RenderedEpisode(result.body, None, tuple(directory_updates_of(
                envelope, request.message_id, self.profiles.target_system))))
        return rendered

    def forget(self, batch: int) -> None:
        self.kept.pop(batch, None)


def reference(raw: bytes) -> str | None:
    """The episode reference of a record, if it has one, to name a record that cannot be read."""
    try:
        found = etree.fromstring(raw).findtext(f"{{{LOCAL_NS}}}episodeRef")
    except etree.XMLSyntaxError:
        return None
    return found.strip() if found and found.strip() else None


class InlineMapping:
    """Reading and rendering in this process: futures already done."""

    def __init__(self, adapters: Adapters, profiles: Profiles):
        self.mapper = EpisodeMapper(adapters, profiles)

    def read(self, batch: int, first: int, raws: list[bytes]) -> Future[list[ReadEpisode]]:
        return _done(lambda: self.mapper.read(batch, first, raws, keep_objects=True))

    def render(self, batch: int, requests: list[RenderRequest],
               envelopes: dict[int, Envelope] | None = None) -> Future[list[RenderedEpisode]]:
        return _done(lambda: self.mapper.render(batch, requests, envelopes))

    def forget(self, batch: int) -> None:
        self.mapper.forget(batch)

    def close(self) -> None:
        return None


def _done(work: Any) -> Future[Any]:
    future: Future[Any] = Future()
    try:
        future.set_result(work())
    except BaseException as error:  # handed to whoever waits on the future, as a worker's would be
        future.set_exception(error)
    return future


# --- the garbage collector for a long run ----------------------------------------------------

RUN_THRESHOLDS = (20_000, 20, 20)


@contextmanager
def long_run_collector() -> Iterator[None]:
    """The cyclic garbage collector tuned for a run of many batches: what is alive when the run
    starts (the hub, its compiled mappings) is left out of collections, and collections come
    less often (each batch makes and drops many objects, which reference counting frees; a full
    collection of a large heap every few batches cost more than the store's writes). The
    collector is as it was once the run is over."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*RUN_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


# --- worker processes ------------------------------------------------------------------------

_MAPPER: EpisodeMapper | None = None


def _start(profiles: Profiles) -> None:
    global _MAPPER
    _MAPPER = EpisodeMapper(Adapters(MappingRegistry(profiles.mappings_dir)), profiles)
    gc.freeze()  # a worker lives for one run: as ``long_run_collector``
    gc.set_threshold(*RUN_THRESHOLDS)


def _read(batch: int, first: int, raws: list[bytes]) -> list[ReadEpisode]:
    assert _MAPPER is not None
    return _MAPPER.read(batch, first, raws, keep_objects=False)


def _render(batch: int, requests: list[RenderRequest]) -> list[RenderedEpisode]:
    assert _MAPPER is not None
    return _MAPPER.render(batch, requests)


def _forget(batch: int) -> None:
    assert _MAPPER is not None
    _MAPPER.forget(batch)


class MappingLanes:
    """Worker processes, each loading the mapping specs itself (the same layers as the hub's);
    batch ``n`` is read and rendered in lane ``n % lanes``."""

    def __init__(self, profiles: Profiles, lanes: int):
        context = multiprocessing.get_context("spawn")  # nothing of this process's state is shared
        self.lanes = [ProcessPoolExecutor(1, mp_context=context, initializer=_start, initargs=(profiles,))
                      for _ in range(lanes)]

    def _lane(self, batch: int) -> ProcessPoolExecutor:
        return self.lanes[batch % len(self.lanes)]

    def read(self, batch: int, first: int, raws: list[bytes]) -> Future[list[ReadEpisode]]:
        return self._lane(batch).submit(_read, batch, first, raws)

    def render(self, batch: int, requests: list[RenderRequest],
               envelopes: dict[int, Envelope] | None = None) -> Future[list[RenderedEpisode]]:
        assert not envelopes, "a lane renders the episodes it read"
        return self._lane(batch).submit(_render, batch, requests)

    def forget(self, batch: int) -> None:
        self._lane(batch).submit(_forget, batch)

    def close(self) -> None:
        for lane in self.lanes:
            lane.shutdown(wait=True, cancel_futures=True)


Mapping = InlineMapping | MappingLanes


def mapping(adapters: Adapters, profiles: Profiles, workers: int) -> Mapping:
    """Worker processes when asked for, else this process."""
    return MappingLanes(profiles, workers) if workers > 0 else InlineMapping(adapters, profiles)
