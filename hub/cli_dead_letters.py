"""``hub deadletters`` (also ``hub dead-letters``): list, show and replay what the hub gave up on.

Deliveries a destination never took and inbound messages set aside (failed, or poison after too
many attempts). Replaying decides again before anything is sent. See ``hub.dead_letters``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub import dead_letters
from hub.cli_consent import CLI_ACTOR, running_hub

app = typer.Typer(help="Deliveries and inbound messages given up on: list, show, replay.",
                  no_args_is_help=True)
console = Console()


@app.command("list")
def list_command() -> None:
    """Dead letters waiting, oldest first, with the reason."""
    with running_hub() as hub, hub.database.read() as session:
        letters = dead_letters.waiting(session)
    table = Table("dead letter", "destination", "attempts", "reason")
    table.columns[0].no_wrap = table.columns[1].no_wrap = True
    for letter in letters:
        table.add_row(letter.dead_letter_id, letter.destination or "(inbound)", str(letter.attempts),
                      letter.reason)
    console.print(table)


@app.command("show")
def show_command(dead_letter_id: Annotated[str, typer.Argument(help="The dead letter.")]) -> None:
    """One dead letter: its message, the reason and every attempt (never the personal data)."""
    with running_hub() as hub, hub.database.read() as session:
        try:
            detail = dead_letters.show(session, dead_letter_id)
        except LookupError as error:
            console.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None
    letter = detail.letter
    for label, value in (
        ("dead letter", letter.dead_letter_id), ("kind", letter.kind), ("tracking id", letter.message_id),
        ("message type", letter.message_type), ("from", detail.source_system),
        ("to", letter.destination or "-"), ("correlation id", detail.correlation_id),
        ("received", detail.received_at), ("given up", letter.dead_at), ("reason", letter.reason),
        ("attempts", letter.attempts),
    ):
        console.print(f"[bold]{label}:[/] {value}")
    if detail.attempt_log:
        table = Table("attempt", "started", "ms", "status", "error")
        for attempt in detail.attempt_log:
            table.add_row(str(attempt.number), str(attempt.started_at), str(attempt.duration_ms),
                          str(attempt.status_code or ""), (attempt.error or "").split(":", 1)[0])
        console.print(table)


@app.command("replay")
def replay_command(dead_letter_id: Annotated[str, typer.Argument(help="The dead letter to replay.")]) -> None:
    """Send it again: the sharing decision is taken again first (an inbound message is processed afresh)."""
    with running_hub() as hub:
        try:
            replayed = dead_letters.replay(hub, dead_letter_id, CLI_ACTOR)
        except LookupError as error:
            console.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None
    if replayed == dead_letter_id:
        console.print(f"message {replayed} queued to be processed again; every decision is taken again")
    else:
        console.print(f"delivery {replayed} queued again; it will be decided again before it is sent")
