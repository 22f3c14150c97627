"""``hub directory resync``: after a directory outage, send it what it is missing, and only that.

What each directory should show is recomputed from the hub's own record (``hub.directory_state``:
the newest update per child and subject), never read back from the directory. An update counts
as shown when its delivery to that directory was delivered, or is still on its way; one that went
to the dead letter channel, was withheld, or was never planned is a difference, and is planned
again under the message that caused it: the sharing decision is taken again (a shielded child,
a sensitive service without consent, stay off the directory), the delivery is audited, and the
directory applies it by its version, so an update resent twice changes nothing there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.subjects import SCHEMES
from hub.audit import record
from hub.bootstrap import Hub, bootstrap
from hub.canonical.people import Child, ChildIdentifiers, PersonName
from hub.courier import FINISHED
from hub.directory_state import DirectoryEntry, DirectoryState
from hub.flows import Outgoing
from hub.planned import Notice
from hub.registry import all_systems
from hub.settings import Settings
from hub.store.tables import ChildLink, ConnectedSystem, Delivery

app = typer.Typer(help="The directories: what they should show, from the hub's own records.",
                  no_args_is_help=True)
console = Console()


@dataclass
class Resync:
    """What a resync found and did; ``sent`` names (child id, subject, version, directory)."""

    children: int = 0
    checked: int = 0
    sent: list[tuple[str, str, int, str]] = field(default_factory=list)
    refused: list[tuple[str, str, int, str]] = field(default_factory=list)
    in_flight: int = 0


def shown(session: Session, entry: DirectoryEntry, directory: ConnectedSystem) -> str | None:
    """'delivered' or 'in flight' when the directory has (or is getting) this update, else None."""
    latest = session.execute(
        select(Delivery.status).where(
            Delivery.message_id == entry.message_id, Delivery.destination == directory.system_id,
            Delivery.message_type == entry.message_type,
        ).order_by(Delivery.created_at.desc())
    ).scalars().first()
    if latest == "delivered":
        return "delivered"
    if latest is not None and latest not in FINISHED:
        return "in flight"
    return None


def resync(hub: Hub, child_ids: list[str] | None = None, actor: str = "operator",
           progress: Progress | None = None) -> Resync:
    """Send every directory the updates it does not have, for ``child_ids`` (None: every child)."""
    state = DirectoryState(hub.keyring, hub.sharing.subjects.secret)
    result = Resync()
    with hub.database.read() as session:
        children = sorted({entry.child_id for entry in state.entries(session, child_ids)})
    result.children = len(children)
    task = progress.add_task("children", total=len(children)) if progress else None
    for child_id in children:
        entries: list[Notice] = []
        with hub.database.transaction() as session:
            directories = [s for s in all_systems(session) if s.kind == "directory"]
            for entry in state.entries(session, [child_id]):
                for directory in directories:
                    if entry.message_type not in directory.allowed_out:
                        continue
                    result.checked += 1
                    found = shown(session, entry, directory)
                    if found == "in flight":
                        result.in_flight += 1
                    if found is not None:
                        continue
                    planned = hub.processor.plan_one(
                        session, entry.message_id, Outgoing(directory, state.envelope(entry)))
                    what = (child_id, entry.subject, entry.version, directory.system_id)
                    (result.sent if planned is not None else result.refused).append(what)
                    record(session, "directory.resync", actor, entry.message_id,
                           destination=directory.system_id, child_id=child_id, subject=entry.subject,
                           version=entry.version, sent=planned is not None)
                    if planned is not None:
                        entries.append(planned)
        hub.relay.flush(entries)
        if progress is not None and task is not None:
            progress.advance(task)
    return result


def child_ids_for(hub: Hub, references: list[str]) -> list[str]:
    """The hub's child ids for references given as a child id or ``scheme:value`` with a
    national identifier (nhs-number, upn, directory-id)."""
    found: list[str] = []
    with hub.database.read() as session:
        for reference in references:
            scheme, sep, value = reference.partition(":")
            scheme = scheme.replace("-", "_")
            if not sep:
                found.append(reference)
                continue
            if scheme not in SCHEMES[:3]:
                raise typer.BadParameter(
                    f"{reference!r}: a child id, or nhs-number:, upn: or directory-id: and the value",
                    param_hint="--child")
            probe = Child(identifiers=ChildIdentifiers(**{scheme: value}),
                          name=PersonName(given="-", family="-"))
            keys = list(hub.processor.identity.link_keys(probe, ""))
            child_id = session.execute(select(ChildLink.child_id).where(
                ChildLink.link_key.in_(keys))).scalars().first()
            if child_id is None:
                raise typer.BadParameter(f"no child known by {reference}", param_hint="--child")
            found.append(child_id)
    return found


@app.command("resync")
def resync_command(
    child: Annotated[list[str] | None, typer.Option(
        "--child", help="Only this child: a child id, or nhs-number:, upn: or directory-id: (repeatable).",
    )] = None,
    by: Annotated[str, typer.Option(help="Who asks (recorded in the audit log).")] = "operator",
) -> None:
    """Recompute what each directory should show and send only what it is missing."""
    hub = bootstrap(Settings(), migrate=True)
    try:
        child_ids = child_ids_for(hub, child) if child else None
        columns = (TextColumn("resync"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
        with Progress(*columns, console=console, transient=True) as progress:
            result = resync(hub, child_ids, by, progress)
    finally:
        hub.close()
    console.print(
        f"{result.children} child(ren), {result.checked} update(s) checked: {len(result.sent)} sent, "
        f"{result.in_flight} on their way, {len(result.refused)} refused by the sharing decision")
