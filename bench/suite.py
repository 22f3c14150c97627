"""The benchmarks ``python -m bench`` runs on one backend, in order, on one process rig.

1. raw limits (``bench.raw``) before any hub process starts;
2. accept: the API alone (no worker), ``C`` clients posting step-up referrals over HTTP; a 202
   means the referral is in the inbox and announced on the inbound queue, which is checked;
   one worker then drains that backlog (reported too);
3. step-up with one worker: as fast as the clients go until the simulators acknowledged all five
   deliveries of every referral, then at half that rate for receipt -> last delivery latency;
4. directory sync with one worker: lead-professional and involvement updates, each about a
   child of its own, until the simulated directory holds them all;
5. scaling: the step-up maximum with 1, 2 and 4 worker processes; then with 1 worker and the
   store holding 10,000, 100,000 and 1,000,000 past messages (``bench.history``);
6. memory: the API's and the workers' peak resident set (VmHWM) after the phases under load.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from amqp.exceptions import ChannelError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from bench import history, raw
from bench.machine import broker_version, cpu_seconds, database_version, peak_rss_mib, server_cpu_seconds
from bench.rig import API_PROCESSES, ProcessRig, process_rig
from bench.step_up import (
    DIRECTORY,
    GIVEN,
    Phase,
    Referrals,
    letters,
    run_phase,
    spread_ms,
    summarise_phase,
    warm_up,
)
from hub.store.tables import Delivery, InboxMessage
from simulators.caf_system import ChildSpec, involvement_changed, lead_professional_changed
from simulators.hannah import EPISODE, LEE, MELANIE

NAMES = ("raw", "accept", "step-up", "directory", "workers", "history")
DIRECTORY_OWED = {DIRECTORY: 1}


@dataclass(frozen=True)
class Plan:
    quick: bool
    raw: raw.Sizes
    clients: int
    accept: int
    referrals: int
    latency_referrals: int
    directory_updates: int
    worker_counts: tuple[int, ...]
    scaling_referrals: int
    history_referrals: int  # more than for scaling: a 10% difference must stand out of the noise
    history_sizes: tuple[int, ...]
    timeout: float = 600.0
    stall: float = 60.0


FULL = Plan(quick=False, raw=raw.FULL, clients=8, accept=200, referrals=150, latency_referrals=60,
            directory_updates=200, worker_counts=(1, 2, 4), scaling_referrals=60, history_referrals=150,
            history_sizes=(10_000, 100_000, 1_000_000))
QUICK = Plan(quick=True, raw=raw.QUICK, clients=4, accept=12, referrals=6, latency_referrals=3,
             directory_updates=8, worker_counts=(1, 2), scaling_referrals=3, history_referrals=3,
             history_sizes=(1_000,), stall=20.0)

# wide enough for the table when the output is a file or a CI log
console = Console(width=None if sys.stdout.isatty() else 160)


class Children:
    """Distinct children for every message of the run (so none is a re-referral or a duplicate
    update), as Hannah's golden referral re-made or as a CAF system's directory updates."""

    def __init__(self, capacity: int):
        self.run_id = uuid.uuid4().hex[:8]
        self.referrals = Referrals(self.run_id, capacity)
        self.next = 0

    def _take(self) -> int:
        self.next += 1
        return self.next - 1

    def referral(self, phase: str, index: int) -> bytes:
        return self.referrals.body(self._take(), phase, index)

    def update(self, phase: str, index: int) -> bytes:
        child = self._take()
        tag = f"{self.run_id}-{child:05d}"
        spec = ChildSpec(caf_child_id=f"CAF-D-{tag}", given=GIVEN[child % len(GIVEN)],
                         family=f"Dx{letters(child)}", date_of_birth=f"2013-0{child % 9 + 1}-1{child % 10}",
                         gender=str(1 + child % 2), nhs_number=self.referrals.nhs[child],
                         directory_id=f"DIR-D-{tag}")
        message_id = self.referrals.message_id(phase, index)
        if index % 2:
            return involvement_changed(spec, "Northfield Youth Service", 1, practitioner=LEE,
                                       start=date.today().isoformat(), message_id=message_id)
        return lead_professional_changed(spec, MELANIE, EPISODE, 2, message_id=message_id)


def ids(children: Children, phase: str, count: int) -> list[str]:
    return [children.referrals.message_id(phase, n) for n in range(count)]


def memory(rig: ProcessRig, into: dict[str, Any]) -> None:
    """Keep the highest peak seen so far of any one API process and of any one worker."""
    api = max(filter(None, (peak_rss_mib(pid)["peak"] for pid in rig.api_pids())), default=None)
    workers = [peak_rss_mib(worker.pid)["peak"] for worker in rig.workers]
    for key, value in (("api_peak_mib", api), ("worker_peak_mib", max(filter(None, workers), default=None))):
        if value is not None and value > (into.get(key) or 0):
            into[key] = value


def cpu_snapshot(rig: ProcessRig) -> dict[str, float]:
    """CPU seconds used so far by each part of the run: the API (all its processes), the
    workers, the store and broker servers, and this process (the simulated systems and the HTTP clients)."""
    return {
        "api": sum(cpu_seconds(pid) or 0.0 for pid in rig.api_pids()),
        "workers": sum(cpu_seconds(worker.pid) or 0.0 for worker in rig.workers),
        # the embedded store and broker work inside the API and the workers
        **(server_cpu_seconds() if rig.backend == "servers" else {}),
        "simulators and clients": time.process_time(),
    }


def cpu_per_unit(before: dict[str, float], after: dict[str, float], units: int) -> dict[str, float]:
    """Milliseconds of CPU each part spent per unit of work between two snapshots, and in all."""
    spent = {part: round((after[part] - before[part]) * 1000 / max(units, 1), 2) for part in before}
    spent["total"] = round(sum(spent.values()), 2)
    return spent


def accept(rig: ProcessRig, children: Children, plan: Plan) -> dict[str, Any]:
    bodies = [children.referral("accept", n) for n in range(plan.accept)]
    before = cpu_snapshot(rig)
    phase = run_phase(rig, "accept (API only)", bodies, plan.clients, None, plan.timeout, plan.stall,
                      owed={})
    cpu = cpu_per_unit(before, cpu_snapshot(rig), plan.accept)
    codes = Counter(str(status) for status in phase.statuses)
    accepted = codes.pop("202", 0)
    ends = [at + took for at, took in zip(phase.send_at, phase.accept_s, strict=True)
            if at is not None and took is not None]
    window = max(ends) if ends else None
    message_ids = ids(children, "accept", plan.accept)
    with rig.hub.database.read() as session:
        in_inbox = Counter(session.execute(
            select(InboxMessage.status).where(InboxMessage.source_message_id.in_(message_ids))
        ).scalars())
    with rig.hub.broker.connect() as connection:
        queue = rig.hub.broker.topology.inbound()
        try:
            _, on_queue, _ = connection.default_channel.queue_declare(queue=queue.name, passive=True)
        except ChannelError:  # not declared yet on the broker: reported as unknown, not a crash
            on_queue = None
    return {
        "messages": plan.accept, "clients": plan.clients, "accepted": accepted,
        "other_responses": dict(codes), "seconds": round(window, 3) if window else None,
        "per_s": round(accepted / window, 1) if window else None,
        "latency_ms": spread_ms([s for status, s in zip(phase.statuses, phase.accept_s, strict=True)
                                 if status == 202 and s is not None]),
        "inbox_status": dict(in_inbox), "inbound_queue_depth": on_queue, "cpu_ms_per_message": cpu,
    }


def drain(rig: ProcessRig, children: Children, plan: Plan, backlog: int) -> dict[str, Any]:
    """Start one worker and time it through the backlog the accept phase left."""
    before = sum(len(state.received) for state in rig.peers.values())
    want = before + backlog * 5
    started = time.perf_counter()
    rig.set_workers(1)
    last, last_change = before, started
    with progress() as bar:
        task = bar.add_task("backlog: deliveries", total=backlog * 5)
        while True:
            count = sum(len(state.received) for state in rig.peers.values())
            bar.update(task, completed=count - before)
            now = time.perf_counter()
            if count != last:
                last, last_change = count, now
            if count >= want or now - last_change > plan.stall + 30:
                break
            time.sleep(0.05)
    elapsed = time.perf_counter() - started
    return {"referrals": backlog, "complete": last >= want, "seconds": round(elapsed, 3),
            "referrals_per_s": round((last - before) / 5 / elapsed, 2),
            "note": "includes the worker process's start"}


def step_up(rig: ProcessRig, children: Children, plan: Plan, label: str, referrals: int,
            rate: float | None = None) -> dict[str, Any]:
    bodies = [children.referral(label, n) for n in range(referrals)]
    before = cpu_snapshot(rig)
    phase = run_phase(rig, label, bodies, plan.clients, rate, plan.timeout, plan.stall)
    after = cpu_snapshot(rig)
    figures = summarise_phase(rig, phase, ids(children, label, referrals))
    figures["cpu_ms_per_referral"] = cpu_per_unit(before, after, referrals)
    return figures


def warm(rig: ProcessRig, children: Children, label: str) -> None:
    """One referral through every worker's path, so consumers and connections are up."""
    warm_up(rig, children.referral(f"warm-{label}", 0), timeout=120)


def directory(rig: ProcessRig, children: Children, plan: Plan) -> dict[str, Any]:
    bodies = [children.update("directory", n) for n in range(plan.directory_updates)]
    before = cpu_snapshot(rig)
    phase: Phase = run_phase(rig, "directory", bodies, plan.clients, None, plan.timeout, plan.stall,
                             owed=DIRECTORY_OWED)
    cpu = cpu_per_unit(before, cpu_snapshot(rig), plan.directory_updates)
    elapsed = (phase.all_delivered_at or time.perf_counter()) - phase.started
    message_ids = ids(children, "directory", plan.directory_updates)
    with rig.hub.database.read() as session:
        rows = session.execute(
            select(InboxMessage.status, InboxMessage.received_at, Delivery.completed_at)
            .outerjoin(Delivery, Delivery.message_id == InboxMessage.message_id)
            .where(InboxMessage.source_message_id.in_(message_ids))
        ).all()
    latency = [(done - received).total_seconds() for _, received, done in rows if received and done]
    return {
        "updates": plan.directory_updates,
        "accepted": sum(1 for status in phase.statuses if status == 202),
        "delivered": phase.delivered, "complete": phase.all_delivered_at is not None,
        "seconds": round(elapsed, 3), "per_s": round(phase.delivered / elapsed, 1),
        "inbox_status": dict(Counter(status for status, _, _ in rows)),
        "latency_ms": spread_ms(latency), "cpu_ms_per_update": cpu,
    }


def progress() -> Progress:
    return Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def run(backend: str, plan: Plan, only: set[str]) -> dict[str, Any]:
    """Every selected benchmark on ``backend``; the raw limits always."""
    wanted: Callable[[str], bool] = lambda name: not only or name in only  # noqa: E731
    capacity = 20 + plan.accept + plan.referrals + plan.latency_referrals + plan.directory_updates \
        + plan.scaling_referrals * len(plan.worker_counts) + plan.history_referrals * len(plan.history_sizes)
    children = Children(capacity)
    result: dict[str, Any] = {"backend": backend, "quick": plan.quick}
    with process_rig(backend) as rig:
        result["store"] = database_version(rig.hub.database)
        result["broker"] = broker_version(rig.hub.broker)
        console.print(f"[bold]{backend}[/]: {result['store']}, {result['broker']}")
        console.print("  raw limits of the store, the broker and the parser")
        result["raw"] = raw.measure(rig.hub.database, rig.hub.broker, plan.raw)
        if only == {"raw"}:
            return result
        rig.start_api()
        result["api_processes"] = API_PROCESSES
        peaks: dict[str, Any] = {}
        if wanted("accept"):
            result["accept"] = accept(rig, children, plan)
            memory(rig, peaks)
            result["backlog"] = drain(rig, children, plan, plan.accept)
        rig.set_workers(1)
        warm(rig, children, "one")
        if wanted("step-up"):
            top = step_up(rig, children, plan, "max", plan.referrals)
            memory(rig, peaks)
            rate = max(top["referrals_per_s"] / 2, 0.1)
            paced = step_up(rig, children, plan, "rate", plan.latency_referrals, rate)
            result["step_up"] = {"maximum": top, "half_load": paced}
        if wanted("directory"):
            result["directory"] = directory(rig, children, plan)
            memory(rig, peaks)
        if wanted("workers"):
            result["workers"] = {}
            for count in plan.worker_counts:
                rig.set_workers(count)
                warm(rig, children, f"w{count}")
                result["workers"][str(count)] = step_up(rig, children, plan, f"w{count}",
                                                        plan.scaling_referrals)
                memory(rig, peaks)
            rig.set_workers(1)
        if wanted("history"):
            result["history"] = {}
            for size in plan.history_sizes:
                have = history.stored_messages(rig.hub)
                if size > have:
                    with progress() as bar:
                        task = bar.add_task(f"seeding {size:,} past messages", total=size - have)
                        history.seed(rig.hub, size - have, lambda n, t=task: bar.advance(t, n))
                warm(rig, children, f"h{size}")
                figures = step_up(rig, children, plan, f"h{size}", plan.history_referrals)
                figures["stored_messages"] = history.stored_messages(rig.hub)
                result["history"][str(size)] = figures
                memory(rig, peaks)
        result["memory"] = peaks
    return result
