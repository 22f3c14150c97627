"""``hub consent`` and ``hub dead-letters``: the operator's register commands, on both backends."""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from hub.cli import app
from hub.store.tables import Decision, Delivery
from tests.consent.conftest import ConsentHub, eventually, feed, settle
from tests.consent.story import NHS_NUMBER, episode, statement

runner = CliRunner()


@pytest.fixture
def cli(consent_hub: ConsentHub, monkeypatch: pytest.MonkeyPatch) -> ConsentHub:
    """The CLI pointed at the running hub's store, broker and keys."""
    settings = consent_hub.hub.settings
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HUB_BROKER_URL", settings.resolved_broker_url)
    monkeypatch.setenv("HUB_QUEUE_PREFIX", settings.queue_prefix)
    monkeypatch.setenv("HUB_ENCRYPTION_KEYS", settings.encryption_keys)
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr("hub.cli_consent.console", Console(width=300))
    return consent_hub


def first_id(table: str, marker: str) -> str:
    """The id in the first row of a printed table that mentions ``marker``."""
    line = next(line for line in table.splitlines() if marker in line)
    return re.search(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", line).group(0)


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_consent_list_and_withdraw_from_the_command_line(cli: ConsentHub):
    both = statement(["tac-sharing"], agencies=["youth-service", "young-carers"])
    settle(cli.hub, feed(cli.hub, episode(1, both)))

    listed = run("consent", "list", f"nhs-number:{NHS_NUMBER}")
    consent_id = first_id(listed, "tac-sharing")
    withdrawn = run("consent", "withdraw", consent_id, "--by", "child", "--reason", "no longer",
                    "--scope", "agency:young-carers")

    assert "agency:youth-service, agency:young-carers" in listed
    assert f"consent {consent_id} withdrawn at" in withdrawn
    assert "keeps agency:youth-service" in withdrawn


def test_consent_explain_shows_why_a_destination_was_refused(cli: ConsentHub):
    message = episode(1)
    settle(cli.hub, feed(cli.hub, message))
    with cli.hub.database.read() as session:
        refusal = session.execute(
            select(Decision).where(Decision.destination == "youth-service")).scalar_one()

    explained = run("consent", "explain", refusal.decision_id)
    decisions = run("consent", "decisions", f"nhs-number:{NHS_NUMBER}")

    assert '"outcome": "deny"' in explained and "no consent for tac-sharing on record" in explained
    assert decisions.count("decision.deny") == 2


def test_consent_gateways_lists_each_decision_with_its_maker_and_reason(cli: ConsentHub):
    cli.api("POST", "/v1/gateways", cli.case_token, json={
        "child": {"nhs_number": NHS_NUMBER}, "gateway": "s47-significant-harm",
        "purposes": ["referral-to-social-care"], "scope": ["kind:case_system"], "decided_by": "P-TM-03",
        "decided_by_role": "Team manager", "reason": "strategy discussion held",
        "decided_at": "2024-06-03T08:30:00+00:00",
    }).raise_for_status()

    listed = run("consent", "gateways")

    assert "s47-significant-harm" in listed and "P-TM-03 (Team manager)" in listed
    assert "strategy discussion held" in listed


def test_dead_letters_replay_queues_the_delivery_to_be_decided_again(cli: ConsentHub):
    cli.youth_service.failures_left, cli.youth_service.failure_status = 1000, 503
    consented = statement(["tac-sharing"], agencies=["youth-service"])
    deliveries = settle(cli.hub, feed(cli.hub, episode(1, consented)))
    delivery_id = deliveries["youth-service"].delivery_id
    listed = run("dead-letters", "list")
    dead_letter_id = first_id(listed, "youth-service")
    cli.youth_service.failures_left = 0

    replayed = run("dead-letters", "replay", dead_letter_id)

    assert f"delivery {delivery_id} queued again" in replayed

    def delivered() -> bool:
        with cli.hub.database.read() as session:
            return session.get(Delivery, delivery_id).status == "delivered"

    eventually(delivered, what="the replayed delivery to be delivered")
    assert len(cli.youth_service.received) == 1
