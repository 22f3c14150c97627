"""Dead letters for a person to act on: a page of them, one in full, and discarding one.

Replaying is the courier's own ``replay`` (the same as ``hub dead-letters replay``): the delivery
goes back on its queue and the sharing decision is re-run before it is sent. Discarding removes
the dead letter from the waiting list and keeps who, when and why (the reason sealed, since a
person writes it); the delivery stays dead, and both are audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.audit import record
from hub.canonical import utcnow
from hub.console.tables import DeadLetterDiscard
from hub.crypto import KeyRing, Sealed
from hub.store.tables import DeadLetter, Delivery

PAGE = 50


@dataclass(frozen=True)
class Waiting:
    dead_letter: DeadLetter
    message_type: str


def page_of(session: Session, page: int, destination: str | None = None) -> tuple[list[Waiting], int]:
    query = select(DeadLetter, Delivery.message_type).join(
        Delivery, Delivery.delivery_id == DeadLetter.delivery_id)
    count = select(func.count()).select_from(DeadLetter)
    if destination:
        query = query.where(DeadLetter.destination == destination)
        count = count.where(DeadLetter.destination == destination)
    rows = session.execute(query.order_by(DeadLetter.dead_at.desc(), DeadLetter.dead_letter_id)
                           .limit(PAGE).offset(max(page, 0) * PAGE)).all()
    return [Waiting(row[0], row[1]) for row in rows], session.execute(count).scalar_one()


def discard(session: Session, keyring: KeyRing, dead_letter_id: str, reason: str, actor: str) -> str:
    """Returns the message id; LookupError if there is no such dead letter waiting."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a discard records its reason")
    dead = session.get(DeadLetter, dead_letter_id, with_for_update=True)
    if dead is None:
        raise LookupError(f"no dead letter {dead_letter_id} waiting")
    sealed = keyring.seal(reason.encode(), f"discard:{dead_letter_id}")
    session.add(DeadLetterDiscard(
        dead_letter_id=dead_letter_id, delivery_id=dead.delivery_id, message_id=dead.message_id,
        destination=dead.destination, dead_reason=dead.reason, discarded_by=actor,
        discarded_at=utcnow(), key_id=sealed.key_id, reason_sealed=sealed.blob,
    ))
    session.delete(dead)
    record(session, "delivery.discarded", actor, dead.message_id, destination=dead.destination,
           delivery_id=dead.delivery_id, dead_letter_id=dead_letter_id, dead_reason=dead.reason)
    return dead.message_id


def discard_reason(keyring: KeyRing, row: DeadLetterDiscard) -> str:
    return keyring.open(Sealed(row.key_id, row.reason_sealed), f"discard:{row.dead_letter_id}").decode()
