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

from consent.register import ConsentRequest
from consent.vocabulary import ConsentMethod, ConsentPurpose, GivenBy, ScopeEntry, ScopeType
from hub.canonical import utcnow
from hub.migration import Migration, stream
from hub.migration_review import release
from hub.registry import register
from simulators.caf_system import CafSystemSimulator, imported_episodes
from simulators.local_caf_export import episode_event, write_export
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
