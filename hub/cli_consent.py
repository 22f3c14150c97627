"""``hub audit``, ``hub disclosures`` and ``hub consent``: the operator's view of
the audit chain, the consent register, the decisions and the disclosures made for a child.

A child is named by strong identifiers written ``scheme:value`` (``nhs-number:9434765919``,
``caf-child-id:CAF-C-0042``; also ``upn``, ``directory-id``, ``la-child-id``), never by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from consent.explain import consent_summary, decisions, disclosures, explain, gateway_summary
from consent.register import RegisterError
from consent.subjects import SCHEMES
from consent.vocabulary import GivenBy, parse_scope
from hub.audit import verify_chain
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings
from hub.store.database import Database

CLI_ACTOR = "operator:cli"

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
consent_app = typer.Typer(help="The consent register, gateway decisions and why decisions were made.",
                          no_args_is_help=True)
console = Console()

ChildArg = Annotated[list[str], typer.Argument(
    help="The child: one or more strong identifiers as scheme:value, e.g. nhs-number:9434765919.",
    show_default=False,
)]


def child_identifiers(values: list[str]) -> dict[str, str]:
    """``["nhs-number:9434765919"]`` -> ``{"nhs_number": "9434765919"}``; exits 2 on a bad one."""
    found: dict[str, str] = {}
    for value in values:
        scheme, sep, identifier = value.partition(":")
        scheme = scheme.strip().lower().replace("-", "_")
        if not sep or scheme not in SCHEMES or not identifier.strip():
            console.print(f"[red]error:[/] {value!r} is not scheme:value with a scheme among "
                          f"{', '.join(s.replace('_', '-') for s in SCHEMES)}")
            raise typer.Exit(2)
        found[scheme] = identifier.strip()
    return found


@contextmanager
def running_hub() -> Iterator[Hub]:
    hub = bootstrap(Settings(), migrate=True)
    try:
        yield hub
    finally:
        hub.close()


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every link and hash of the audit chain; exit 1 and name the first bad entry if broken."""
    database = Database(Settings().resolved_database_url)
    try:
        with database.read() as session:
            status = verify_chain(session)
    finally:
        database.dispose()
    if status.intact:
        console.print(f"audit chain intact: {status.entries} entries verified")
        return
    console.print(f"[red]audit chain BROKEN at entry {status.broken_at}[/]: {status.problem} "
                  f"({status.entries} verified before it)")
    raise typer.Exit(1)


def disclosures_command(
    child: ChildArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every disclosure of a child's data: to whom, which data categories, when, on what basis."""
    identifiers = child_identifiers(child)
    with running_hub() as hub, hub.database.read() as session:
        found = disclosures(session, hub.sharing.subjects.keys_of(identifiers))
    if as_json:
        _print_json([item.__dict__ for item in found])
        return
    table = Table("when", "to", "data categories", "purpose", "basis", "entry")
    for item in found:
        table.add_row(
            item.disclosed_at.isoformat(timespec="seconds"),
            f"{item.destination_name or item.destination} ({item.destination})",
            ", ".join(item.categories), item.purpose or "", item.legal_basis or "",
            f"#{item.seq}" + ("" if item.intact else " [red]ALTERED[/]"),
        )
    console.print(table)
    console.print(f"{len(found)} disclosure(s)")


@consent_app.command("list")
def consent_list(child: ChildArg) -> None:
    """A child's consents: purpose, who gave it, scope, categories, given, expiry, withdrawal."""
    identifiers = child_identifiers(child)
    with running_hub() as hub, hub.database.read() as session:
        rows = hub.sharing.register.consents_for(session, hub.sharing.subjects.keys_of(identifiers))
        summaries = [consent_summary(row) for row in rows]
    table = Table("consent", "purpose", "given by", "scope", "given", "expires", "withdrawn")
    for item in summaries:
        table.add_row(
            item["consent_id"], item["purpose"], item["given_by"], ", ".join(item["scope"]),
            item["given_at"].isoformat(timespec="seconds"),
            item["expires_at"].isoformat(timespec="seconds") if item["expires_at"] else "",
            item["withdrawn_at"].isoformat(timespec="seconds") if item["withdrawn_at"] else "",
        )
    console.print(table)


@consent_app.command("withdraw")
def consent_withdraw(
    consent_id: Annotated[str, typer.Argument(help="The consent to withdraw.")],
    by: Annotated[GivenBy, typer.Option(help="Who withdrew it.")],
    reason: Annotated[str, typer.Option(help="Why (kept sealed).")],
    scope: Annotated[list[str] | None, typer.Option(help="Withdraw only this scope entry (repeat).")] = None,
) -> None:
    """Withdraw a consent (or part of its scope): queued and future sharing on it stops."""
    with running_hub() as hub:
        try:
            with hub.database.transaction() as session:
                row, successor = hub.sharing.register.withdraw(
                    session, consent_id, by, reason, CLI_ACTOR,
                    scope=parse_scope(scope) if scope else None,
                )
        except (RegisterError, ValueError) as error:
            console.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None
    console.print(f"consent {row.consent_id} withdrawn at {row.withdrawn_at.isoformat(timespec='seconds')}")
    if successor is not None:
        console.print(f"consent {successor.consent_id} keeps {', '.join(successor.scope)}")


@consent_app.command("gateways")
def consent_gateways() -> None:
    """Every decision to share without consent: gateway, decision maker, reason, time (oversight)."""
    with running_hub() as hub, hub.database.read() as session:
        register = hub.sharing.register
        rows = [gateway_summary(row, register) for row in register.gateways_for(session)]
    table = Table("gateway decision", "gateway", "purposes", "scope", "decided by", "when", "reason")
    for item in rows:
        table.add_row(item["gateway_id"], item["gateway"], ", ".join(item["purposes"]),
                      ", ".join(item["scope"]), f"{item['decided_by']} ({item['decided_by_role']})",
                      item["decided_at"].isoformat(timespec="seconds"), item["reason"])
    console.print(table)


@consent_app.command("explain")
def consent_explain(decision_id: Annotated[str, typer.Argument(help="A decision id.")]) -> None:
    """Why a decision was made: its checks, legal basis, and the consents or gateway it rested on."""
    with running_hub() as hub, hub.database.read() as session:
        explanation = explain(session, hub.sharing.register, decision_id)
    if explanation is None:
        console.print(f"[red]error:[/] no decision {decision_id}")
        raise typer.Exit(2)
    _print_json(explanation.__dict__)


@consent_app.command("decisions")
def consent_decisions(child: ChildArg) -> None:
    """Every sharing decision about a child, permits and refusals, from the audit chain."""
    identifiers = child_identifiers(child)
    with running_hub() as hub, hub.database.read() as session:
        found = decisions(session, hub.sharing.subjects.keys_of(identifiers))
    table = Table("when", "decision", "to", "basis or reason", "decision id")
    for item in found:
        table.add_row(item.recorded_at.isoformat(timespec="seconds"), item.action, item.destination or "",
                      item.legal_basis or item.reason or "", item.decision_id or "")
    console.print(table)
