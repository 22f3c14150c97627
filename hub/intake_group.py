"""Group commit of accepted messages: the requests arriving together share one transaction.

A request whose message passed every check hands its inbox row to ``GroupCommit.write`` and
waits. If no write is under way it leads: it takes every row waiting (its own and those of the
requests that arrived while the last write was committing), writes them with their outbox rows
and audit entries in one transaction, publishes their notices, and wakes their requests. So a
burst of requests costs a few commits and one turn of the audit chain each, instead of one of
each per message, while a lone request is written at once, never held back for company.

Each request still answers only once its own row has committed and its notice is published (or
left to the outbox relay). A group that breaks the inbox's unique key (a resubmission, or the same
message twice in one group) is written again one message at a time, so each resubmission gets
the original's tracking id and the others are accepted as if they had come alone. A group the
store refuses for any other reason fails every request in it, and nothing of it is kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.audit import record
from hub.planned import Notice
from hub.store.database import Database
from hub.store.tables import InboxMessage
from queues.outbox import OutboxRelay, enqueue
from queues.topology import INBOUND

MAX_GROUP = 128  # rows written in one transaction at most


@dataclass(frozen=True)
class Accepted:
    message_id: str
    duplicate: bool


@dataclass
class Arrival:
    """One request's accepted message, waiting to be written."""

    row: dict[str, Any]  # the inbox row's values, sealed
    correlation_id: str
    result: Accepted | None = None
    error: BaseException | None = None
    done: bool = False

    @property
    def message_id(self) -> str:
        return self.row["message_id"]


class GroupCommit:
    def __init__(self, database: Database, relay: OutboxRelay, max_group: int = MAX_GROUP):
        self.database = database
        self.relay = relay
        self.max_group = max_group
        self._waiting: list[Arrival] = []
        self._writing = False
        self._turn = threading.Condition()

    def write(self, arrival: Arrival) -> Accepted:
        """Write ``arrival`` with whatever else is waiting; its outcome once committed."""
        with self._turn:
            self._waiting.append(arrival)
        while True:
            with self._turn:
                while self._writing and not arrival.done:
                    self._turn.wait()
                if arrival.done:
                    break
                self._writing = True  # nobody wrote it yet: this request leads the next group
                group, self._waiting = self._waiting[:self.max_group], self._waiting[self.max_group:]
            try:
                self._write(group)
            finally:
                for each in group:
                    if not each.done:  # only if writing itself broke: never left waiting
                        each.error, each.done = RuntimeError("the group was not written"), True
                with self._turn:
                    self._writing = False
                    self._turn.notify_all()
        if arrival.error is not None:
            raise arrival.error
        assert arrival.result is not None
        return arrival.result

    def _write(self, group: list[Arrival]) -> None:
        """Write the group and settle every arrival in it, with its outcome or its error."""
        try:
            entries = self._insert(group)
        except IntegrityError as error:
            if len(group) > 1:
                for arrival in group:  # one by one: only the resubmissions are answered so
                    self._write([arrival])
            else:
                self._answer_resubmission(group[0], error)
            return
        except BaseException as error:  # noqa: BLE001 - handed to every request of the group
            for arrival in group:
                arrival.error, arrival.done = error, True
            return
        self.relay.flush(entries)  # what cannot be published now is left to the outbox relay
        for arrival in group:
            arrival.result, arrival.done = Accepted(arrival.message_id, duplicate=False), True

    def _insert(self, group: list[Arrival]) -> list[Notice]:
        with self.database.transaction() as session:
            session.add_all([InboxMessage(**arrival.row) for arrival in group])
            entries = [enqueue(session, INBOUND, {"message_id": arrival.message_id}) for arrival in group]
            for arrival in group:
                record(session, "message.received", arrival.row["source_system"], arrival.message_id,
                       message_type=arrival.row["message_type"], correlation_id=arrival.correlation_id)
        return entries

    def _answer_resubmission(self, arrival: Arrival, error: IntegrityError) -> None:
        try:
            with self.database.transaction() as session:
                existing = original(session, arrival.row["source_system"],
                                    arrival.row["source_message_id"])
        except BaseException as failure:  # noqa: BLE001 - handed to the request
            arrival.error, arrival.done = failure, True
            return
        if existing is None:  # the unique key broken was not the resubmission's: a real failure
            arrival.error, arrival.done = error, True
        else:
            arrival.result, arrival.done = Accepted(existing, duplicate=True), True


def original(session: Session, system_id: str, source_message_id: str) -> str | None:
    """The tracking id of the message this system already sent under this id, if any."""
    return session.execute(
        select(InboxMessage.message_id).where(
            InboxMessage.source_system == system_id,
            InboxMessage.source_message_id == source_message_id,
        )
    ).scalar_one_or_none()

