"""The ``hub`` command line does what the README says."""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hub.cli import app
from hub.crypto import KeyRing

runner = CliRunner()


@pytest.fixture
def hub_env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("hub.cli.console", Console(width=200))
    for name in ("HUB_DATABASE_URL", "HUB_BROKER_URL", "HUB_ENCRYPTION_KEYS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])

    assert result.exit_code == 0
    for command in ("serve", "worker", "demo", "db", "systems", "keys"):
        assert command in result.output


def test_systems_add_prints_the_token_once_and_list_shows_the_system(hub_env):
    added = runner.invoke(app, ["systems", "add", "caf-national", "--kind", "caf_system"])
    listed = runner.invoke(app, ["systems", "list"])

    assert added.exit_code == 0, added.output
    token = added.output.split("token (shown once): ")[1].split()[0]
    assert len(token) >= 40
    assert listed.exit_code == 0
    assert "caf-national" in listed.output and "lead-professional-changed" in listed.output
    assert token not in listed.output


def test_systems_add_refuses_a_directory_without_an_endpoint(hub_env):
    result = runner.invoke(app, ["systems", "add", "directory", "--kind", "directory"])

    assert result.exit_code == 2
    assert "needs an endpoint URL" in result.output


def test_keys_new_prints_a_key_the_key_ring_accepts():
    result = runner.invoke(app, ["keys", "new", "2026-11"])

    ring = KeyRing.parse(result.output.strip())
    assert ring.active_key_id == "2026-11"


def test_demo_tells_hannahs_story_from_lead_professional_to_step_up_as_a_timeline(hub_env):
    result = runner.invoke(app, ["demo", "--data-dir", str(hub_env / "demo")])

    assert result.exit_code == 0, result.output
    output = result.output
    # chapter 1: the lead professional reaches the directory
    assert "duplicate=True" in output
    assert "Delivery to directory: delivered after 1 attempt(s)" in output
    assert "<given>Melanie</given>" in output
    assert "rule child-directory-id" in output
    # chapter 2: the step-up, one timed line per step
    assert re.search(r"\+\d+\.\d\ds CAF system -> hub: +referral to social care for Hannah "
                     r"\(tracking id [0-9a-f-]{36}\)", output), output
    assert re.search(r"hub: +consent of the child covers referral to social care \(basis: consent",
                     output), output
    evidence = re.search(r"hub -> case system \(lcs\): +contact/referral with (\d+) items of draft "
                         r"evidence from the CAF", output)
    assert evidence and int(evidence[1]) > 0, output
    assert re.search(r"hub -> CAF system: +Children's social care duty team added to the TAC", output)
    assert re.search(r"hub -> CAF system: +episode EP-2031 marked as social care's responsibility",
                     output)
    assert re.search(r"hub -> directory: +Children's social care involved, team contact "
                     r"01632 960500", output)
    assert re.search(r"hub -> CAF system: +referral acknowledged \(received\)", output)
    allocated = re.search(r"case system -> hub: +John Carter allocated", output)
    joined = re.search(r"hub -> CAF system: +John Carter joins the TAC", output)
    decided = re.search(r"case system -> hub: +decision: initial assessment", output)
    told = re.search(r"hub -> CAF system: +the referrer is told: initial assessment", output)
    assert allocated and joined and decided and told, output
    assert allocated.start() < joined.start() < decided.start() < told.start()
    # chapter 3: the step-down to the TAC
    closed = re.search(r"case system -> hub: +case closed: RC9, needs remain", output)
    handed_back = re.search(r"hub -> CAF system: +episode EP-2031: hand back \(RC9\), Melanie Mentor "
                            r"proposed as lead professional, with the closure summary", output)
    assert closed and handed_back and told.start() < closed.start(), output
    for partner in ("Northfield School", "Northfield Youth Service"):
        assert re.search(rf"hub -> {partner}: +told social care closed on \S+ with needs remaining; "
                         r"next: hand back, Melanie Mentor proposed", output), output
    assert re.search(r"hub -> directory: +Children's social care involvement ended", output), output
    assert re.search(r"record DIR-7781: lead professional Melanie Mentor", output), output
    assert "Summary: all 13 expected deliveries arrived" in output
    assert "did not arrive" not in output and "never sent" not in output
