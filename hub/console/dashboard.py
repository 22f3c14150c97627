"""The dashboard's numbers: traffic per system and flow, work waiting, failures per destination.

Every figure is one grouped query read from an index alone (the window's traffic from covering
indexes on ``received_at`` and ``created_at``, which SQLite is told to use; waiting work by
status), never a scan of the tables' rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.breakers import BreakerState
from hub.canonical import utcnow
from hub.metrics import QueueDepth
from hub.store.tables import DeadLetter, Delivery, IdentityReview, InboxMessage, QuarantinedMessage

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


@dataclass(frozen=True)
class Traffic:
    system: str
    flow: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Failing:
    destination: str
    retrying: int
    dead_in_window: int
    dead_letters_waiting: int


@dataclass
class Dashboard:
    window: str
    since: datetime
    inbound: list[Traffic] = field(default_factory=list)
    outbound: list[Traffic] = field(default_factory=list)
    failing: list[Failing] = field(default_factory=list)
    pending: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    held: int = 0
    reviews_open: int = 0
    quarantined: int = 0
    queues: list[QueueDepth] = field(default_factory=list)
    breakers: list[BreakerState] = field(default_factory=list)  # this process's, per destination

    @property
    def breakers_open(self) -> list[BreakerState]:
        return [b for b in self.breakers if b.state != "closed"]


def _traffic(rows: list[tuple[str, str, str, int]]) -> list[Traffic]:
    grouped: dict[tuple[str, str], dict[str, int]] = {}
    for system, flow, status, count in rows:
        grouped.setdefault((system, flow), {})[status] = count
    return [Traffic(system, flow, counts) for (system, flow), counts in sorted(grouped.items())]


def dashboard(session: Session, window: str = "24h") -> Dashboard:
    since = utcnow() - WINDOWS.get(window, WINDOWS["24h"])
    board = Dashboard(window=window if window in WINDOWS else "24h", since=since)
    board.inbound = _traffic(session.execute(
        select(InboxMessage.source_system, InboxMessage.message_type, InboxMessage.status, func.count())
        .where(InboxMessage.received_at >= since)
        .with_hint(InboxMessage, "INDEXED BY ix_inbox_received_traffic", "sqlite")
        .group_by(InboxMessage.source_system, InboxMessage.message_type, InboxMessage.status)).all())
    board.outbound = _traffic(session.execute(
        select(Delivery.destination, Delivery.message_type, Delivery.status, func.count())
        .where(Delivery.created_at >= since)
        .with_hint(Delivery, "INDEXED BY ix_deliveries_created_traffic", "sqlite")
        .group_by(Delivery.destination, Delivery.message_type, Delivery.status)).all())
    board.pending = dict(session.execute(
        select(Delivery.destination, func.count()).where(Delivery.status == "pending")
        .group_by(Delivery.destination)).all())
    retrying = dict(session.execute(
        select(Delivery.destination, func.count())
        .where(Delivery.status == "pending", or_(Delivery.attempts > 0, Delivery.last_error.is_not(None)))
        .group_by(Delivery.destination)).all())
    dead_recent = dict(session.execute(
        select(DeadLetter.destination, func.count()).where(DeadLetter.dead_at >= since)
        .group_by(DeadLetter.destination)).all())
    waiting = dict(session.execute(
        select(DeadLetter.destination, func.count()).group_by(DeadLetter.destination)).all())
    board.failing = [
        Failing(destination, retrying.get(destination, 0), dead_recent.get(destination, 0),
                waiting.get(destination, 0))
        for destination in sorted(set(retrying) | set(dead_recent) | set(waiting))
    ]
    board.dead_letters = sum(waiting.values())
    board.held = session.execute(select(func.count()).select_from(InboxMessage)
                                 .where(InboxMessage.status == "held")).scalar_one()
    board.reviews_open = session.execute(select(func.count()).select_from(IdentityReview)
                                         .where(IdentityReview.status == "open")).scalar_one()
    board.quarantined = session.execute(select(func.count()).select_from(QuarantinedMessage)
                                        .where(QuarantinedMessage.received_at >= since)).scalar_one()
    return board
