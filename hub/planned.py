"""Rows a transaction plans and does not read back: written at its commit, a statement per table.

Processing plans, for each message, its sharing decisions and their contexts, its deliveries, the
dead letters of what cannot be rendered and the outbox rows announcing them; no query in the
same transaction reads them. They are kept in the session (``plan_row``, ``plan_notice``) and
written when the transaction commits, on its connection, before the audit chain (``hub.audit``)
takes the chain head's lock: one statement per table, in foreign-key order, for every message of
the transaction, rather than the unit of work's bookkeeping and a flush for each. They commit or
roll back with the rest of the transaction, as rows added to the session would.

Only rows nothing in their transaction queries may be planned here: a query before the commit
does not see them (autoflush knows nothing of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.orm import Session

from hub.canonical import utcnow
from hub.store.tables import DeadLetter, Decision, DecisionContext, Delivery, OutboxEntry

PLANNED = "hub.planned.rows"
NOTICES = "hub.planned.notices"

# the order they are written in: each after the rows its foreign keys point at
TABLES: tuple[Table, ...] = (
    Decision.__table__, DecisionContext.__table__, Delivery.__table__, DeadLetter.__table__,
)
_INSERTS = {table.name: insert(table) for table in TABLES}
OUTBOX = OutboxEntry.__table__
# the ids come back in the order the rows were given, whatever order the store made them in
_ADD_NOTICES = insert(OUTBOX).returning(OUTBOX.c.entry_id, sort_by_parameter_order=True)
# SQLite hands RETURNING rows back in no promised order, and for that order SQLAlchemy would
# insert the rows one at a time; but SQLite gives the rows of one INSERT, in the order of its
# VALUES, each the next rowid (max + 1; the writer holds the database's lock), so their ids in
# ascending order are theirs in the order given
_ADD_NOTICES_SQLITE = insert(OUTBOX).returning(OUTBOX.c.entry_id)


@dataclass
class Notice:
    """An outbox row: what ``OutboxRelay.flush`` publishes; its id once written."""

    routing_key: str
    body: dict[str, Any]
    created_at: datetime
    entry_id: int | None = None


def plan_row(session: Session, table: Table, values: dict[str, Any]) -> None:
    """A row of one of ``TABLES``, written when the session's transaction commits."""
    session.info.setdefault(PLANNED, {}).setdefault(table.name, []).append(values)


def plan_notice(session: Session, routing_key: str, body: dict[str, Any]) -> Notice:
    """An outbox row, written when the session's transaction commits; its id is set then."""
    notice = Notice(routing_key, body, utcnow())
    session.info.setdefault(NOTICES, []).append(notice)
    return notice


@event.listens_for(Session, "before_commit", insert=True)
def _write_planned(session: Session) -> None:
    """Write the transaction's planned rows; first of what runs at commit, so before the audit
    chain's head is locked."""
    planned: dict[str, list[dict[str, Any]]] | None = session.info.pop(PLANNED, None)
    notices: list[Notice] | None = session.info.pop(NOTICES, None)
    if not planned and not notices:
        return
    connection = session.connection()
    for table in TABLES if planned else ():
        rows = planned.get(table.name)
        if not rows:
            continue
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:  # an executemany takes one set of columns
            by_columns.setdefault(tuple(row), []).append(row)
        for same in by_columns.values():
            connection.execute(_INSERTS[table.name], same)
    if notices:
        rows = [{"routing_key": n.routing_key, "body": n.body, "created_at": n.created_at} for n in notices]
        if connection.dialect.name == "sqlite":
            ids = sorted(connection.execute(_ADD_NOTICES_SQLITE, rows).scalars().all())
        else:
            ids = connection.execute(_ADD_NOTICES, rows).scalars().all()
        for notice, entry_id in zip(notices, ids, strict=True):
            notice.entry_id = entry_id


@event.listens_for(Session, "after_rollback")
def _forget_planned(session: Session) -> None:
    session.info.pop(PLANNED, None)
    session.info.pop(NOTICES, None)
