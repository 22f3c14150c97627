"""The fault-injection rig: the hub's API in this process, its workers as real subprocesses
(``python -m hub.cli worker``), and simulated CAF, case and directory systems that keep their own
records of what they applied. Everything listens on 127.0.0.1.

Traffic is a stream of step-up referrals (each a different child, five deliveries: the referral to
the case system, three messages to the CAF system, social care's involvement to the directory)
and lead-professional updates for other children (one delivery each, to the directory, several
versions per child). ``Outcome`` checks the simulators' records against what was accepted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from lxml import etree
from sqlalchemy import func, select

from bench.step_up import Referrals, nhs_numbers
from hub.api.app import create_app
from hub.audit import verify_chain
from hub.bootstrap import Hub, bootstrap
from hub.registry import register
from hub.settings import Settings
from hub.store.tables import AuditEntry, Delivery, InboxMessage
from simulators.caf_system import CafSystemSimulator, ChildSpec, PractitionerSpec, lead_professional_changed
from simulators.case_system import CaseSystemSimulator
from simulators.directory import DirectorySimulator
from simulators.peer import PeerState
from simulators.server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
CAF, CASE, DIRECTORY = "caf-national", "lcs", "directory"
# what each step-up referral owes, per destination (document kinds the simulator applies)
PER_REFERRAL = {CASE: 1, CAF: 3, DIRECTORY: 1}
LEADS = [
    PractitionerSpec(practitioner_id=f"P-LEAD-{n}", given=given, family="Lead", role="Learning mentor",
                     agency="Northfield School", phone=f"01632 96010{n}", email=f"lead{n}@school.example")
    for n, given in enumerate(["Ada", "Bea", "Cal", "Dee"], start=1)
]


def worker_env(settings: Settings) -> dict[str, str]:
    """The settings as the ``HUB_*`` variables a worker process reads."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"HUB_{name.upper()}"] = str(value)
    return env


class Workers:
    """``hub worker`` processes, started, killed and stopped by the test."""

    def __init__(self, settings: Settings, log_dir: Path):
        self.env = worker_env(settings)
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = (self.log_dir / f"worker-{len(self.processes)}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "hub.cli", "worker"], cwd=ROOT, env=self.env, stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def alive(self) -> list[subprocess.Popen]:
        return [process for process in self.processes if process.poll() is None]

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def terminate(self, process: subprocess.Popen, timeout: float = 30) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def stop_all(self) -> None:
        for process in self.alive():
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@dataclass
class Traffic:
    """What was sent and accepted: referrals, directory updates, and the expected lead per child."""

    referrals: dict[str, str] = field(default_factory=dict)  # source message id -> tracking id
    updates: dict[str, str] = field(default_factory=dict)
    expected_lead: dict[str, str] = field(default_factory=dict)  # directory id -> practitioner id
    posts: int = 0
    refusals: Counter[int] = field(default_factory=Counter)  # non-202 answers retried (503, ...)

    @property
    def accepted(self) -> int:
        return len(self.referrals) + len(self.updates)


class Rig:
    def __init__(self, hub: Hub, url: str, caf_token: str, peers: dict[str, PeerState],
                 servers: dict[str, ServerThread], workers: Workers, directory: DirectorySimulator):
        self.hub = hub
        self.url = url
        self.caf_token = caf_token
        self.peers = peers
        self.servers = servers
        self.workers = workers
        self.directory = directory
        self.run_id = uuid.uuid4().hex[:8]
        self.traffic = Traffic()
        self._batch = 0

    # ------------------------------------------------------------------ sending

    def post(self, body: bytes, deadline: float) -> str:
        """Send until accepted (a 503 or a dropped connection is sent again, same message id)."""
        while True:
            self.traffic.posts += 1
            try:
                reply = httpx.post(f"{self.url}/v1/systems/{CAF}/messages", content=body, timeout=30,
                                   headers={"Authorization": f"Bearer {self.caf_token}",
                                            "Content-Type": "application/xml"})
                if reply.status_code == 202:
                    return reply.json()["tracking_id"]
                assert reply.status_code >= 500, reply.text  # a 4xx would be a bug in the test
                self.traffic.refusals[reply.status_code] += 1
            except httpx.TransportError:
                self.traffic.refusals[0] += 1
            if time.monotonic() > deadline:
                raise AssertionError("the hub did not accept a message in time")
            time.sleep(0.25)

    def stream(self, referrals: int, children: int, versions: int, interval: float = 0.02,
               duplicate: bool = False, shuffle_seed: int | None = None) -> threading.Thread:
        """Send ``referrals`` step-ups and ``children`` x ``versions`` lead updates, interleaved,
        on a thread; ``duplicate`` sends each twice; ``shuffle_seed`` sends versions out of order."""
        self._batch += 1
        tag = f"{self.run_id}{self._batch}"
        maker = Referrals(uuid.uuid4().hex[:8], referrals)
        steps = [("referral", maker.message_id("f", index), maker.body(index, "f", index))
                 for index in range(referrals)]
        bodies: list[tuple[str, str, bytes]] = []
        numbers = nhs_numbers(children, seed=int(uuid.uuid4().hex[:8], 16))
        for child in range(children):
            spec = ChildSpec(caf_child_id=f"CAF-U-{tag}-{child}", given="Robin",
                             family=f"Update{tag}x{child}", date_of_birth="2012-05-0" + str(child % 9 + 1),
                             gender="1", nhs_number=numbers[child], directory_id=f"DIR-U-{tag}-{child}")
            order = list(range(1, versions + 1))
            if shuffle_seed is not None:
                random.Random(shuffle_seed + child).shuffle(order)
            for version in order:
                lead = LEADS[(child + version) % len(LEADS)]
                message_id = f"lead-{tag}-{child}-{version}"
                bodies.append(("update", message_id, lead_professional_changed(
                    spec, lead, f"EP-U-{tag}-{child}", version, message_id=message_id)))
            last = LEADS[(child + versions) % len(LEADS)]
            self.traffic.expected_lead[spec.directory_id] = last.practitioner_id
        if shuffle_seed is not None:
            bodies = steps + bodies
            random.Random(shuffle_seed).shuffle(bodies)
        else:  # referrals spread evenly among the updates, each child's versions in order
            every = max(1, len(bodies) // max(1, len(steps)))
            for index, step in enumerate(steps):
                bodies.insert(min(len(bodies), index * (every + 1)), step)
        if duplicate:
            bodies = [item for item in bodies for _ in range(2)]

        def send() -> None:
            deadline = time.monotonic() + 180
            for kind, message_id, body in bodies:
                tracking_id = self.post(body, deadline)
                ledger = self.traffic.referrals if kind == "referral" else self.traffic.updates
                assert ledger.get(message_id, tracking_id) == tracking_id  # a repeat: the same id back
                ledger[message_id] = tracking_id
                time.sleep(interval)

        thread = threading.Thread(target=send, name="traffic", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------------ checking

    def applied(self) -> dict[str, Counter[tuple[str, str, str]]]:
        """Per destination: effects applied, counted by (hub message, path, document kind)."""
        effects: dict[str, Counter[tuple[str, str, str]]] = {}
        for system, state in self.peers.items():
            counted: Counter[tuple[str, str, str]] = Counter()
            for item in state.applied():
                kind = etree.QName(etree.fromstring(item.body.encode())).localname
                counted[(item.message_id or "", item.path, kind)] += 1
            effects[system] = counted
        return effects

    def superseded(self) -> set[str]:
        """Updates the hub rightly did not send: a newer version for the same child and subject
        had already been applied (audited as ``directory.update-superseded``)."""
        with self.hub.database.read() as session:
            return set(session.execute(select(AuditEntry.message_id).where(
                AuditEntry.action == "directory.update-superseded")).scalars())

    def expected(self) -> dict[str, int]:
        referrals, updates = len(self.traffic.referrals), len(self.traffic.updates)
        superseded = len(self.superseded() & set(self.traffic.updates.values()))
        return {CASE: referrals, CAF: 3 * referrals, DIRECTORY: referrals + updates - superseded}

    def outstanding(self) -> int:
        """Work the hub still owes: inbound messages not processed and deliveries not finished."""
        with self.hub.database.read() as session:
            inbox = session.execute(select(func.count()).select_from(InboxMessage).where(
                InboxMessage.status == "accepted")).scalar_one()
            pending = session.execute(select(func.count()).select_from(Delivery).where(
                Delivery.status == "pending")).scalar_one()
        return inbox + pending

    def settle(self, timeout: float = 120) -> float:
        """Wait until the hub owes nothing and every destination holds what it should; returns
        the moment that happened (time.monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            effects = self.applied()
            distinct = {system: len(effects[system]) for system in effects}
            if distinct == self.expected() and self.outstanding() == 0:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled: applied {distinct}, expected {self.expected()}, "
                                     f"hub owes {self.outstanding()}")
            time.sleep(0.2)

    def outcome(self, fault: str, recovered_in: float) -> Outcome:
        effects = self.applied()
        expected = self.expected()
        applied_distinct = sum(len(counted) for counted in effects.values())
        duplicated = sum(count - 1 for counted in effects.values() for count in counted.values())
        with self.hub.database.read() as session:
            statuses = dict(session.execute(select(Delivery.status, func.count())
                                            .group_by(Delivery.status)).all())
            inbox = dict(session.execute(select(InboxMessage.status, func.count())
                                         .group_by(InboxMessage.status)).all())
            chain = verify_chain(session)
        leads = {child: lead["practitioner_id"] for child, lead in self.directory.lead_professionals().items()
                 if child in self.traffic.expected_lead}
        superseded = self.superseded()
        tracking = (set(self.traffic.referrals.values()) | set(self.traffic.updates.values())) - superseded
        reached = {message for counted in effects.values() for message, _, _ in counted}
        return Outcome(
            fault=fault, sent=self.traffic.accepted, posts=self.traffic.posts,
            deliveries_expected=sum(expected.values()), delivered=applied_distinct,
            lost=sum(expected.values()) - applied_distinct, duplicated=duplicated,
            recovery_seconds=recovered_in, delivery_statuses=statuses, inbox_statuses=inbox,
            chain_ok=chain.intact, directory_ok=leads == self.traffic.expected_lead,
            unreached=len(tracking - reached), superseded=len(superseded),
        )


@dataclass
class Outcome:
    fault: str
    sent: int
    posts: int
    deliveries_expected: int
    delivered: int
    lost: int
    duplicated: int
    recovery_seconds: float
    delivery_statuses: dict[str, int]
    inbox_statuses: dict[str, int]
    chain_ok: bool
    directory_ok: bool
    unreached: int
    superseded: int
    note: str = ""

    def check(self) -> None:
        assert self.lost == 0 and self.unreached == 0, self
        assert self.duplicated == 0, self
        assert self.delivery_statuses == {"delivered": self.deliveries_expected}, self
        assert set(self.inbox_statuses) == {"processed"}, self
        assert self.directory_ok, self
        assert self.chain_ok, self


def start_rig(settings: Settings, log_dir: Path, workers: int) -> Rig:
    caf, case, directory = CafSystemSimulator(), CaseSystemSimulator("supplier-a"), DirectorySimulator()
    servers = {CAF: ServerThread(caf.app).start(), CASE: ServerThread(case.app).start(),
               DIRECTORY: ServerThread(directory.app).start()}
    hub = bootstrap(settings, migrate=True)
    with hub.database.transaction() as session:
        caf_token = register(session, CAF, "National eCAF", "caf_system", servers[CAF].url).token
        register(session, CASE, "Children's social care", "case_system", servers[CASE].url,
                 profile="supplier-a")
        register(session, DIRECTORY, "Directory", "directory", servers[DIRECTORY].url)
    hub.broker.declare(["inbound", "deadletter", f"deliver.{CAF}", f"deliver.{CASE}", f"deliver.{DIRECTORY}"])
    api = ServerThread(create_app(hub)).start()
    servers["api"] = api
    pool = Workers(settings, log_dir)
    for _ in range(workers):
        pool.start()
    return Rig(hub, api.url, caf_token, {CAF: caf.state, CASE: case.state, DIRECTORY: directory.state},
               servers, pool, directory)
