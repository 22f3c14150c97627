"""Batch migration of a local eCAF export into the national CAF system, on both backends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from consent.batch import ConsentBatch
from consent.register import ConsentRequest
from consent.vocabulary import ConsentMethod, ConsentPurpose, GivenBy, ScopeEntry, ScopeType
from hub.audit import record, verify_chain
from hub.canonical import Envelope, Purpose, utcnow
from hub.canonical.events import EpisodeTransferred
from hub.canonical.people import ChildIdentifiers
from hub.identity_batch import BatchResolver
from hub.migration import Migration, MigrationError, stream
from hub.migration_review import release
from hub.registry import register
from hub.store.tables import (
    AuditEntry,
    ChildLink,
    ConnectedSystem,
    ConsentRecord,
    IdentityReview,
    InboxMessage,
)
from simulators.caf_system import CafSystemSimulator, imported_episodes
from simulators.local_caf_export import episode_event, nhs_number, write_export
from simulators.peer import FaultPlan
from simulators.server import ServerThread
from tests.integration.helpers import eventually

LOCAL, NATIONAL = "caf-local", "ecaf-national"


@pytest.fixture
def national(running_hub):  # type: ignore[no-untyped-def]
    """A simulated national CAF system importing what the hub sends, and a local one to migrate from."""
    simulator = CafSystemSimulator()
    server = ServerThread(simulator.app).start()
    with running_hub.database.transaction() as session:
        register(session, LOCAL, "Local eCAF module", "caf_system", profile="local")
        register(session, NATIONAL, "National eCAF", "caf_system", server.url)
    try:
        yield simulator
    finally:
        server.stop()


def episode_ids(kinds: list[str], wanted: str) -> set[str]:
    return {f"LCAF-{n:07d}" for n, kind in enumerate(kinds) if kind == wanted}


def test_a_generated_export_gives_the_expected_report(running_hub, national, tmp_path: Path) -> None:
    kinds = ["valid", "unconsented", "valid", "invalid", "valid", "duplicate", "unconsented", "valid"]
    export = write_export(tmp_path / "export.xml", kinds)

    dry_run = Migration(running_hub.hub, "export-a", LOCAL, NATIONAL, batch_size=3, dry_run=True)
    dry = dry_run.run(stream(export))
    assert dry.counts == Counter({"would-import": 4, "held:no-consent": 2, "held:invalid": 1, "duplicate": 1})
    assert imported_episodes(national) == []

    report = Migration(running_hub.hub, "export-a", LOCAL, NATIONAL, batch_size=3).run(stream(export))
    assert report.counts == Counter({"imported": 4, "held:no-consent": 2, "held:invalid": 1, "duplicate": 1})
    assert Counter(imported_episodes(national)) == Counter(episode_ids(kinds, "valid"))
    held = {row[0]: row for row in report.episodes if row[1] == "held"}
    assert set(held) == episode_ids(kinds, "unconsented") | {"record-4"}
    assert "mapping.episode-ref" in held["record-4"][3] or "episode_id" in held["record-4"][3]

    # the national system got its own profile's format, the child's sex mapped to census codes
    imported = national.documents("episodeImport")[0][0]
    assert etree.QName(imported).localname == "episodeTransfer"
    assert imported.findtext("{urn:childrens-hub:caf:1}child/{urn:childrens-hub:caf:1}gender") == "2"

    json_path, csv_path = report.write(tmp_path / "report")
    written = json.loads(json_path.read_text())
    assert written["counts"]["imported"] == 4 and len(written["episodes"]) == len(kinds)
    assert csv_path.read_text().splitlines()[0] == "episode_id,outcome,reason,detail"

    # a re-run imports nothing again
    again = Migration(running_hub.hub, "export-a", LOCAL, NATIONAL, batch_size=3).run(stream(export))
    assert again.counts["imported"] == 0 and again.counts["already-imported"] == 4
    assert len(imported_episodes(national)) == 4

    # the directory shows the CAF indicator and the lead professional for each migrated episode
    def directory_told() -> bool:
        types = Counter(etree.QName(u).localname for u in running_hub.directory.updates())
        return types["cafIndicatorUpdate"] == 4 and types["leadProfessionalUpdate"] == 4
    eventually(directory_told, what="directory updates for the migrated episodes")


def test_a_held_episode_is_released_once_consent_is_captured(running_hub, national, tmp_path: Path) -> None:
    export = write_export(tmp_path / "export.xml", ["unconsented"])
    Migration(running_hub.hub, "export-b", LOCAL, NATIONAL).run(stream(export))
    outcome, why = release(running_hub.hub, "export-b", "LCAF-0000000", "reviewer", NATIONAL)
    assert outcome == "held" and why.startswith("no-consent")
    assert imported_episodes(national) == []

    # the family's consent to the CAF, captured by the migration team and recorded in the register
    hub = running_hub.hub
    child = episode_event(0).child
    with running_hub.database.transaction() as session:
        hub.sharing.register.record_consent(session, ConsentRequest(
            subjects=hub.sharing.subjects.keys_for(child.identifiers),
            purpose=ConsentPurpose.CAF_ASSESSMENT, given_by=GivenBy.PARENT,
            scope=(ScopeEntry(ScopeType.AGENCY, NATIONAL),), method=ConsentMethod.WRITTEN,
            given_at=utcnow(), parental_responsibility=True, given_by_name="Parent Family0",
            relationship="mother",
        ), "migration team")
    outcome, why = release(running_hub.hub, "export-b", "LCAF-0000000", "reviewer", NATIONAL)
    assert (outcome, why) == ("imported", "")
    assert imported_episodes(national) == ["LCAF-0000000"]


def migrate_command(running_hub, export: Path, report: Path) -> list[str]:  # type: ignore[no-untyped-def]
    return [sys.executable, "-m", "hub.cli", "migrate", "episodes", str(export), "--from", LOCAL,
            "--to", NATIONAL, "--batch-size", "10", "--report", str(report)]


def hub_env(running_hub) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    for name, value in running_hub.hub.settings.model_dump().items():
        if value is not None:
            env[f"HUB_{name.upper()}"] = str(value)
    return env


def test_a_migration_killed_half_way_and_run_again_imports_each_episode_once(
    running_hub, national, tmp_path: Path,
) -> None:
    kinds = ["valid"] * 150 + ["unconsented"] * 10
    export = write_export(tmp_path / "big.xml", kinds)
    env = hub_env(running_hub)
    first = subprocess.Popen(migrate_command(running_hub, export, tmp_path / "first"), env=env,  # noqa: S603
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: len(imported_episodes(national)) >= 30, what="some batches imported")
        # the next batch is imported but its answer never comes back: killed in the worst place
        national.state.plan(FaultPlan(count=1, mode="drop", delay=60))
        before = len(imported_episodes(national))
        eventually(lambda: len(imported_episodes(national)) > before, what="the dropped batch applied")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert len(imported_episodes(national)) < 150, "the first run was stopped half-way"

    second = subprocess.run(migrate_command(running_hub, export, tmp_path / "second"), env=env,  # noqa: S603
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    counts = Counter(imported_episodes(national))
    assert set(counts) == episode_ids(kinds, "valid")
    assert set(counts.values()) == {1}, "an episode was imported twice"
    assert sum(national.state.repeats.values()) >= 1, "the unanswered batch was sent again under its key"
    summary = json.loads((tmp_path / "second.json").read_text())["counts"]
    assert summary["held:no-consent"] == 10 or summary.get("already-held:no-consent") == 10


def test_an_episode_failing_mid_batch_is_held_and_the_rest_of_its_batch_imported(
    running_hub, national, tmp_path: Path,
) -> None:
    """Worker processes read and render; one episode's child cannot be identified with certainty
    (its local CAF id is already linked to a child with another NHS number)."""
    hub = running_hub.hub
    known = episode_event(3).child.model_copy(update={"identifiers": ChildIdentifiers(
        caf_child_id="L0000003", nhs_number=nhs_number(900_003))})
    with running_hub.database.transaction() as session:
        inbox_row(session, hub, "earlier-message")
        assert hub.processor.identity.resolve(session, known, LOCAL, "earlier-message").outcome == "new"
    export = write_export(tmp_path / "export.xml", ["valid"] * 6)

    migration = Migration(hub, "export-c", LOCAL, NATIONAL, batch_size=6, workers=1)
    report = migration.run(stream(export))

    assert report.counts == Counter({"imported": 5, "held:identity-unresolved": 1})
    held = [row for row in report.episodes if row[1] == "held"]
    assert held[0][0] == "LCAF-0000003" and "nhs number differs" in held[0][3]
    assert Counter(imported_episodes(national)) == Counter(f"LCAF-{n:07d}" for n in (0, 1, 2, 4, 5))
    assert migration.directory_updates == 10
    with running_hub.database.read() as session:
        assert session.execute(select(func.count()).select_from(IdentityReview)).scalar_one() == 1
        assert verify_chain(session).intact
        actions = Counter(session.execute(select(AuditEntry.action)).scalars())
    assert actions["migration.imported"] == 5 and actions["migration.held"] == 1
    assert actions["decision.permit"] == 5 and actions["identity.review-opened"] == 1


def test_a_batch_the_national_system_fails_stops_the_run_and_the_next_run_sends_it_once(
    running_hub, national, tmp_path: Path,
) -> None:
    """Batches go while the next are checked: the run stops at the first batch that fails, keeps
    the answers it had, and the next run sends the failed batch again and the rest once."""
    kinds = ["valid"] * 60 + ["unconsented"] * 4
    export = write_export(tmp_path / "export.xml", kinds)
    national.state.plan(FaultPlan(count=1, status=503))
    with pytest.raises(MigrationError, match="answered 503"):
        Migration(running_hub.hub, "export-d", LOCAL, NATIONAL, batch_size=8).run(stream(export))
    assert len(imported_episodes(national)) < 60

    report = Migration(running_hub.hub, "export-d", LOCAL, NATIONAL, batch_size=8).run(stream(export))
    counts = Counter(imported_episodes(national))
    assert set(counts) == episode_ids(kinds, "valid") and set(counts.values()) == {1}
    assert report.counts["imported"] + report.counts["already-imported"] == 60
    with running_hub.database.read() as session:
        assert verify_chain(session).intact
        actions = Counter(session.execute(select(AuditEntry.action)).scalars())
    assert actions["migration.imported"] == 60 and actions["migration.held"] == 4


def test_audit_entries_read_back_as_recorded_and_the_chain_verifies(running_hub) -> None:  # type: ignore[no-untyped-def]
    """An entry's detail is serialised once, as it is hashed; whatever its shape, it reads back as
    JSON would hand it back, and its hash checks."""
    when = utcnow()
    with running_hub.database.transaction() as session:
        record(session, "migration.held", "hub", "message-1", export_id="e", episode_id="LCAF-1",
               reason="invalid", subjects=["b", "a", "b"])
        record(session, "test.shapes", "h\u00fcb \"x\"", None, counts={2: "two", 10: "ten"}, when=when,
               pair=(1, 2.5), nested=[{"b": None, "a": [True, {"k": "\u2028"}]}])
    with running_hub.database.read() as session:
        assert verify_chain(session).intact
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(2)).scalars().all()
    shapes, held = entries
    assert held.detail == {"export_id": "e", "episode_id": "LCAF-1", "reason": "invalid",
                           "subjects": ["a", "b"]}
    assert shapes.actor == "h\u00fcb \"x\"" and shapes.message_id is None
    assert shapes.detail == {"counts": {"2": "two", "10": "ten"}, "when": str(when), "pair": [1, 2.5],
                             "nested": [{"b": None, "a": [True, {"k": "\u2028"}]}]}


def inbox_row(session, hub, message_id: str) -> None:  # type: ignore[no-untyped-def]
    """An inbox message for decisions and reviews to refer to."""
    sealed = hub.keyring.seal(b"{}", f"inbox:{message_id}")
    session.add(InboxMessage(
        message_id=message_id, source_system=LOCAL, source_message_id=message_id, correlation_id=message_id,
        message_type="episode-transferred", status="migration", received_at=utcnow(),
        key_id=sealed.key_id, envelope_sealed=sealed.blob, raw_sealed=sealed.blob))
    session.flush()


def envelope_of(event: EpisodeTransferred, message_id: str) -> Envelope:
    return Envelope(message_id=message_id, correlation_id=message_id, source_system=LOCAL,
                    source_message_id=message_id, message_type="episode-transferred", message_version="1",
                    occurred_at=utcnow(), purpose=Purpose.EPISODE_TRANSFER, payload=event)


def test_a_batch_registers_consents_and_decides_as_one_message_after_another(  # type: ignore[no-untyped-def]
    running_hub, national,
) -> None:
    hub = running_hub.hub
    first, other = episode_event(20), episode_event(21, consented=False)
    aunt = episode_event(23)
    events = [
        other,  # no consent for this child yet
        first,
        # the same child in a later episode with no statement: decided on the consent above
        episode_event(22, consented=False).model_copy(update={"child": first.child}),
        # the same statement again, from a record naming another identifier of the child
        first.model_copy(update={"child": first.child.model_copy(update={"identifiers": ChildIdentifiers(
            caf_child_id="L0000020", nhs_number=first.child.identifiers.nhs_number, upn="A123456789012")})}),
        # a statement the register cannot stand behind: given by someone without parental responsibility
        aunt.model_copy(update={"episode": aunt.episode.model_copy(update={
            "consent": aunt.episode.consent.model_copy(update={"given_by": "aunt"})})}),
        # the first child's consent, given in a later episode: too late for the first message
        episode_event(24).model_copy(update={"child": other.child}),
    ]
    envelopes = [envelope_of(event, f"message-{n}") for n, event in enumerate(events)]
    with running_hub.database.transaction() as session:
        target = session.get(ConnectedSystem, NATIONAL)

    def outcome(session, ingested, stored) -> tuple:  # type: ignore[no-untyped-def]
        consents = []
        for consent_id in ingested.recorded:
            row = session.get(ConsentRecord, consent_id)
            consents.append((row.purpose, row.given_by, tuple(row.scope), tuple(row.categories), row.method,
                             row.source, hub.sharing.register.subjects_of(session, consent_id)))
        decision = stored.decision
        return (consents, ingested.skipped, decision.permitted, decision.reason, decision.legal_basis,
                decision.basis_kind, len(decision.basis_refs), decision.shared, decision.withheld)

    with running_hub.database.transaction() as session:
        for envelope in envelopes:
            inbox_row(session, hub, envelope.message_id)
        one_by_one = []
        for envelope in envelopes:
            ingested = hub.sharing.register.observe(session, envelope)
            session.flush()
            stored = hub.sharing.decide(session, envelope.message_id, target, envelope)
            one_by_one.append((ingested, stored))
        one_by_one = [outcome(session, *pair) for pair in one_by_one]
        session.rollback()
    with running_hub.database.transaction() as session:
        for envelope in envelopes:
            inbox_row(session, hub, envelope.message_id)
        batch = ConsentBatch(hub.sharing, session, envelopes)
        decided = [(batch.observe(envelope), batch.decide(envelope.message_id, target, envelope,
                                                          envelope.model_dump_json().encode()))
                   for envelope in envelopes]
        batch.write()
        batched = [outcome(session, *pair) for pair in decided]
        session.rollback()
    assert [row[2] for row in one_by_one] == [False, True, True, True, False, True]
    assert one_by_one[4][1] and one_by_one[3][0] == []
    assert batched == one_by_one


def test_a_batch_resolves_children_as_one_record_after_another(running_hub, national) -> None:  # type: ignore[no-untyped-def]
    hub = running_hub.hub
    child = episode_event(30).child
    children = [
        child,  # new
        child,  # the same child again, in the same batch
        # its local CAF id with another NHS number: for a person to decide
        child.model_copy(update={"identifiers": ChildIdentifiers(caf_child_id="L0000030",
                                                                 nhs_number=nhs_number(900_030))}),
        # no identifier, and the same family name and date of birth: a possible match
        child.model_copy(update={"identifiers": ChildIdentifiers()}),
        episode_event(31).child.model_copy(update={"shielded": True}),
        episode_event(32).child,  # new
        episode_event(32).child.model_copy(update={"identifiers": ChildIdentifiers(
            nhs_number=episode_event(32).child.identifiers.nhs_number, upn="B123456789012")}),
    ]

    def outcomes(resolutions) -> list[tuple]:  # type: ignore[no-untyped-def]
        """Each outcome and reason, children named by the first record that got them."""
        first: dict[str, int] = {}
        return [(r.outcome, r.reason, first.setdefault(r.child_id, n) if r.child_id else None)
                for n, r in enumerate(resolutions)]

    runs = []
    for batched in (False, True):
        with running_hub.database.transaction() as session:
            items = []
            for n, record in enumerate(children):
                inbox_row(session, hub, f"record-{n}")
                items.append((record, LOCAL, f"record-{n}"))
            if batched:
                resolutions = BatchResolver(hub.processor.identity).resolve_many(session, items)
            else:
                resolutions = [hub.processor.identity.resolve(session, *item) for item in items]
            session.flush()
            links = session.execute(select(func.count()).select_from(ChildLink)).scalar_one()
            runs.append((outcomes(resolutions), links))
            session.rollback()
    assert [outcome for outcome, _reason, _child in runs[0][0]] == \
        ["new", "identified", "review", "review", "review", "new", "identified"]
    assert runs[1] == runs[0]
