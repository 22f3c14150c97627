"""A hub with no worker running, for tests that hand messages to the processor and deliveries to
the courier themselves: CAF involvement updates accepted for children of their own, and a count
of the SQL statements some work runs."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from hub.bootstrap import Hub
from hub.store.tables import ConnectedSystem
from simulators.caf_system import ChildSpec, involvement_changed
from simulators.directory import DirectorySimulator
from simulators.hannah import LEE

NHS = ("9434765919", "9434765870", "9434765889", "9434765900", "9434765862", "9434765897",
       "9434765854", "9434765846", "9434765838", "9434765811", "9434765803", "9434765781")


@dataclass
class QuietHub:
    hub: Hub
    directory: DirectorySimulator


def accepted_updates(quiet: QuietHub, count: int, first: int = 0, same_child: bool = False) -> list[str]:
    """``count`` involvement updates from the CAF system, accepted (not processed): their
    tracking ids. Each is about a child of its own (``first`` picks the children's NHS
    numbers), or all about one child, in versions 1, 2, ... (``same_child``)."""
    hub = quiet.hub
    run = uuid.uuid4().hex[:6]
    with hub.database.read() as session:
        caf = session.get(ConnectedSystem, "caf-national")
        session.expunge(caf)
    ids = []
    for index in range(count):
        which = 0 if same_child else index
        child = ChildSpec(caf_child_id=f"CAF-B-{run}-{which}", given="Sam", family=f"Batch{which}",
                          date_of_birth=f"2014-03-0{which % 9 + 1}", gender="1",
                          nhs_number=NHS[first + which], directory_id=f"DIR-B-{run}-{which}")
        body = involvement_changed(child, "Northfield Youth Service", index + 1 if same_child else 1,
                                   practitioner=LEE, start=date.today().isoformat())
        ids.append(hub.intake.accept(caf, body, "application/xml").message_id)
    return ids


def statements_of(hub: Hub, work: Callable[[], Any], event_name: str = "before_cursor_execute") -> int:
    """The SQL statements (or, with ``event_name="commit"``, the commits) ``work`` runs in this
    thread: not the outbox relay's, say."""
    from sqlalchemy import event

    seen = []
    here = threading.get_ident()

    def count(*_args: Any) -> None:
        if threading.get_ident() == here:
            seen.append(1)

    event.listen(hub.database.engine, event_name, count)
    try:
        work()
    finally:
        event.remove(hub.database.engine, event_name, count)
    return len(seen)
