"""The dead letter channel as an operator sees it: list, show and replay.

Two kinds wait for a person. A *delivery* dead letter is a rendered message a destination never
took (the reason, the attempts and their outcomes; the rendered message stays sealed in the
store). An *inbound* one is a received message whose processing failed or that was set aside as
poison after too many attempts (the original message stays sealed in the inbox). Replaying either
decides again: a delivery goes back on its queue and the courier re-runs the sharing decision
before it is sent (``Courier.replay``); an inbound message is processed afresh, every decision
taken again on today's consent register. Both are audited with who asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import record
from hub.bootstrap import Hub
from hub.store.tables import DeadLetter, Delivery, DeliveryAttempt, InboxMessage
from queues.outbox import enqueue
from queues.topology import INBOUND

SET_ASIDE = ("failed", "poisoned")


@dataclass(frozen=True)
class Letter:
    dead_letter_id: str  # for an inbound message, its tracking id
    kind: str  # delivery or inbound
    message_id: str
    destination: str | None
    message_type: str
    reason: str
    attempts: int
    dead_at: datetime | None


@dataclass(frozen=True)
class AttemptView:
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class LetterDetail:
    letter: Letter
    source_system: str
    correlation_id: str
    received_at: datetime
    attempt_log: list[AttemptView]


def _delivery_letter(dead: DeadLetter, message_type: str) -> Letter:
    return Letter(dead.dead_letter_id, "delivery", dead.message_id, dead.destination, message_type,
                  dead.reason, dead.attempts, dead.dead_at)


def _inbound_letter(row: InboxMessage) -> Letter:
    return Letter(row.message_id, "inbound", row.message_id, None, row.message_type,
                  row.failure_reason or f"processing {row.status}", row.attempts, row.processed_at)


def waiting(session: Session) -> list[Letter]:
    """Every dead letter waiting, oldest first."""
    letters = [_delivery_letter(dead, message_type) for dead, message_type in session.execute(
        select(DeadLetter, Delivery.message_type)
        .join(Delivery, Delivery.delivery_id == DeadLetter.delivery_id)
    )]
    letters += [_inbound_letter(row) for row in session.execute(
        select(InboxMessage).where(InboxMessage.status.in_(SET_ASIDE))).scalars()]
    return sorted(letters, key=lambda letter: (letter.dead_at is None, letter.dead_at or datetime.min))


def show(session: Session, dead_letter_id: str) -> LetterDetail:
    """One dead letter with its message's identifiers and every attempt; LookupError if none."""
    dead = session.get(DeadLetter, dead_letter_id)
    if dead is not None:
        delivery = session.get(Delivery, dead.delivery_id)
        letter = _delivery_letter(dead, delivery.message_type)
        attempts = [AttemptView(a.number, a.started_at, a.duration_ms, a.status_code, a.error)
                    for a in session.execute(select(DeliveryAttempt).where(
                        DeliveryAttempt.delivery_id == dead.delivery_id)
                        .order_by(DeliveryAttempt.number)).scalars()]
    else:
        row = session.get(InboxMessage, dead_letter_id)
        if row is None or row.status not in SET_ASIDE:
            raise LookupError(f"no dead letter {dead_letter_id}")
        letter, attempts = _inbound_letter(row), []
    message = session.get(InboxMessage, letter.message_id)
    return LetterDetail(letter, message.source_system, message.correlation_id, message.received_at, attempts)


def replay(hub: Hub, dead_letter_id: str, actor: str) -> str:
    """Replay a dead letter of either kind; returns the delivery id or the message's tracking id.

    LookupError if there is no such dead letter (or a delivery with nothing rendered to send)."""
    with hub.database.read() as session:
        is_delivery = session.get(DeadLetter, dead_letter_id) is not None
    if is_delivery:
        return hub.courier.replay(dead_letter_id, actor)
    return replay_inbound(hub, dead_letter_id, actor)


def replay_inbound(hub: Hub, message_id: str, actor: str) -> str:
    """Process a set-aside inbound message afresh: a new budget of attempts, decided again."""
    with hub.database.transaction() as session:
        row = session.get(InboxMessage, message_id, with_for_update=True)
        if row is None or row.status not in SET_ASIDE:
            raise LookupError(f"no dead letter {message_id}")
        previous, reason = row.status, row.failure_reason
        row.status, row.attempts, row.failure_reason = "accepted", 0, None
        row.processed_at, row.lease_until = None, None
        entry = enqueue(session, INBOUND, {"message_id": message_id})
        record(session, "message.replayed", actor, message_id, previous_status=previous,
               dead_reason=reason)
    hub.relay.flush([entry])
    return message_id


def message_of(session: Session, requeued: str) -> str:
    """The tracking id of what a replay put back: a delivery's message, or the message itself."""
    delivery = session.get(Delivery, requeued)
    return delivery.message_id if delivery is not None else requeued
