"""A local eCAF module's batch export, generated: episodes in the ``local`` CAF profile's format.

Each episode is written through the local profile's own mapping spec, so the export is exactly
what that profile reads. ``kinds`` says which episodes are valid and consented, unconsented
(no consent statement), invalid (no episode reference) or duplicates of an earlier one. The file
is written one episode at a time, so a large export is never held whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lxml import etree

from adapters.registry import Adapters
from hub.canonical.casework import CafEpisode, ConsentStatement
from hub.canonical.events import EpisodeTransferred
from hub.canonical.people import Carer, Child, ChildIdentifiers, Gender, PersonName, Practitioner
from mappings.registry import MappingRegistry

LOCAL_NS = "urn:local-ecaf:episode:1"
EXPORT_ROOT = f"{{{LOCAL_NS}}}cafExport"
RECORD = f"{{{LOCAL_NS}}}episodeRecord"
KINDS = ("valid", "unconsented", "invalid", "duplicate")


def nhs_number(seed: int) -> str:
    """A valid (modulus 11) NHS number in the 9xx test range, one per seed."""
    while True:
        stem = f"9{seed:08d}"[-9:]
        total = sum(int(d) * (10 - i) for i, d in enumerate(stem))
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10:
            return stem + str(check)
        seed += 1_000_000


def episode_event(n: int, consented: bool = True, authority: str = "212") -> EpisodeTransferred:
    """The n-th generated child and CAF episode, as the local module holds it."""
    mother = Carer(name=PersonName(given="Parent", family=f"Family{n}"), relationship="mother",
                   parental_responsibility=True)
    child = Child(
        identifiers=ChildIdentifiers(caf_child_id=f"L{n:07d}", nhs_number=nhs_number(n)),
        name=PersonName(given=f"Child{n}", family=f"Family{n}"),
        date_of_birth=date(2012, 1, 1) + timedelta(days=n % 3000), gender=Gender("1" if n % 2 else "2"),
        carers=[mother],
    )
    lead = Practitioner(practitioner_id=f"KW{n % 500:04d}", name=PersonName(given="Key", family="Worker"),
                        role="Family support worker", agency="Early help")
    consent = ConsentStatement(given_by="mother", purposes=["caf-assessment"], agencies=["Early help"],
                               given_at=datetime(2026, 1, 5, tzinfo=UTC)) if consented else None
    episode = CafEpisode(episode_id=f"LCAF-{n:07d}", version=2, lead_professional=lead,
                         tac_members=[lead], consent=consent)
    return EpisodeTransferred(child=child, episode=episode, from_authority=authority,
                              to_authority=authority)


def records(adapters: Adapters, kinds: list[str]) -> Iterator[etree._Element]:
    """One ``episodeRecord`` element per entry of ``kinds``; a duplicate repeats the episode before it."""
    last: etree._Element | None = None
    for n, kind in enumerate(kinds):
        if kind == "duplicate":
            assert last is not None, "a duplicate needs an episode before it"
            yield last
            continue
        event = episode_event(n, consented=kind != "unconsented")
        rendered = adapters.render(
            "caf_system", "local", "episode-transferred", event.model_dump(mode="json"),
            header={"message_id": f"export-{n}", "sent_at": "2026-03-01T09:00:00+00:00"},
        )
        element = etree.fromstring(rendered.body)
        if kind == "invalid":
            reference = element.find(f"{{{LOCAL_NS}}}episodeRef")
            assert reference is not None
            element.remove(reference)
        last = element
        yield element


def write_export(path: Path, kinds: list[str], adapters: Adapters | None = None) -> Path:
    """Write an export file of ``kinds`` episodes, streamed to disk."""
    adapters = adapters or Adapters(MappingRegistry())
    with etree.xmlfile(str(path), encoding="UTF-8") as out:
        out.write_declaration()
        with out.element(EXPORT_ROOT, nsmap={None: LOCAL_NS}):
            for element in records(adapters, kinds):
                out.write(element)
    return path


def main() -> None:
    """``python -m simulators.local_caf_export EPISODES PATH``: every 10th episode unconsented."""
    import sys

    count, path = int(sys.argv[1]), Path(sys.argv[2])
    write_export(path, ["unconsented" if n % 10 == 9 else "valid" for n in range(count)])
    print(f"{count} episodes written to {path}")


if __name__ == "__main__":
    main()
