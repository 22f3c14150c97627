"""``hub identity``: the matches the hub would not make on its own, for a person to decide.

Deciding a review links the held message's child to an existing child (or opens a new one) and
sends the held message round again, so the referral carries on where it stopped.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from hub.audit import record
from hub.bootstrap import Hub, bootstrap
from hub.processing import open_envelope
from hub.settings import Settings
from hub.store.tables import IdentityReview, InboxMessage
from queues.outbox import enqueue
from queues.topology import INBOUND

app = typer.Typer(help="Identity reviews: matches the hub could not justify on its own.",
                  no_args_is_help=True)
console = Console()


@app.command("reviews")
def reviews(all_: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False) -> None:
    """List the identity reviews waiting for a decision."""
    hub = bootstrap(Settings(), migrate=True)
    table = Table("review", "status", "from", "message", "reason", "candidate children")
    with hub.database.read() as session:
        query = select(IdentityReview).order_by(IdentityReview.created_at)
        if not all_:
            query = query.where(IdentityReview.status == "open")
        for review in session.execute(query).scalars():
            table.add_row(review.review_id, review.status, review.source_system, review.message_id,
                          review.reason, "\n".join(review.candidates) or "-")
    hub.close()
    console.print(table)


@app.command("decide")
def decide(
    review_id: Annotated[str, typer.Argument(help="The review to decide.")],
    link: Annotated[str | None, typer.Option(help="Link to this existing child id.")] = None,
    new: Annotated[bool, typer.Option("--new", help="It is a child the hub has not seen.")] = False,
    by: Annotated[str, typer.Option(help="Who decides (recorded in the audit log).")] = "operator",
) -> None:
    """Decide a review and send the held message round again."""
    if (link is None) == (not new):
        console.print("[red]say either --link CHILD_ID or --new[/]")
        raise typer.Exit(2)
    hub = bootstrap(Settings(), migrate=True)
    try:
        child_id = decide_review(hub, review_id, link, by)
    except (LookupError, ValueError) as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    finally:
        hub.close()
    console.print(f"review {review_id}: child {child_id}; the held message is being processed again")


def decide_review(hub: Hub, review_id: str, link: str | None, actor: str) -> str:
    resolver = hub.processor.identity
    with hub.database.transaction() as session:
        review = session.get(IdentityReview, review_id)
        if review is None:
            raise LookupError(f"no identity review {review_id}")
        message = session.get(InboxMessage, review.message_id, with_for_update=True)
        child = open_envelope(hub.keyring, message).payload.child
        child_id = resolver.decide(session, review_id, child, actor, link)
        if message.status == "held":
            message.status, message.hold_reason = "accepted", None
            entry = enqueue(session, INBOUND, {"message_id": message.message_id})
            record(session, "message.released", actor, message.message_id, review_id=review_id)
        else:
            entry = None
    if entry is not None:
        hub.relay.flush([entry])
    return child_id
