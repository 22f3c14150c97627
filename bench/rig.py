"""The hub under test as it is deployed: the API (``hub serve --no-workers --processes P``, P the
machine's cores unless ``HUB_BENCH_API_PROCESSES`` says otherwise) and N workers (``hub worker``)
as processes of their own, the simulated CAF system, case system and directory
in the benchmark's process, all on one store and broker.

``embedded`` puts the store and the broker in SQLite files under a temporary directory;
``servers`` creates a database of its own on the PostgreSQL server named by
``HUB_BENCH_ADMIN_DATABASE_URL`` (default the local server) and uses ``HUB_BROKER_URL`` (default
the local RabbitMQ) under a fresh queue prefix; the database, queues and exchange are dropped
afterwards. The hub runs with its default settings otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.step_up import CAF, CASE, DIRECTORY, delete_broker_objects, own_database
from hub.bootstrap import Hub, bootstrap
from hub.crypto import new_key_spec
from hub.registry import register
from hub.settings import Settings
from simulators.caf_system import CafSystemSimulator
from simulators.case_system import CaseSystemSimulator
from simulators.directory import DirectorySimulator
from simulators.peer import PeerState
from simulators.server import ServerThread, free_port

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
# the installed ``hub`` command beside this interpreter, as deployed; else the same module
_SCRIPT = Path(sys.executable).with_name("hub")
HUB_COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "hub.cli"]
STARTUP_SECONDS = 60.0
# as a deployment on this machine would run it: one API process per core
API_PROCESSES = int(os.environ.get("HUB_BENCH_API_PROCESSES") or os.cpu_count() or 1)


@dataclass
class ProcessRig:
    """What a benchmark drives: ``url`` and ``caf_token`` for the clients, ``peers`` to count
    deliveries, ``hub`` (in this process) to register systems and read the store."""

    backend: str
    hub: Hub
    url: str
    caf_token: str
    peers: dict[str, PeerState]
    env: dict[str, str]
    log_dir: Path
    api: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_api(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.api = self._spawn("api", ["serve", "--no-workers", "--no-migrate",
                                       "--processes", str(API_PROCESSES), "--port", str(port)])
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{self.url}/health/live", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; see {self.log_dir / 'api.log'}")
            time.sleep(0.1)

    def api_pids(self) -> list[int]:
        """The API's process and every process it started (with more than one API process, the
        supervisor and its API processes), for CPU and memory figures of the API as a whole."""
        if self.api is None:
            return []
        pids, index = [self.api.pid], 0
        while index < len(pids):
            pids += _children(pids[index])
            index += 1
        return pids

    def set_workers(self, count: int) -> None:
        """Stop or start ``hub worker`` processes until ``count`` run (each stopped with SIGTERM,
        so it finishes the message in hand)."""
        while len(self.workers) > count:
            _stop(self.workers.pop())
        while len(self.workers) < count:
            self.workers.append(self._spawn(f"worker-{len(self.workers) + 1}", ["worker"]))

    def stop(self) -> None:
        self.set_workers(0)
        if self.api is not None:
            _stop(self.api)
            self.api = None

    def _spawn(self, name: str, arguments: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("ab")
        return subprocess.Popen([*HUB_COMMAND, *arguments], env=self.env, stdout=log,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, then after 30 s SIGKILL to its whole session (started as a session of its own),
    so API processes that did not stop are not left running after their supervisor."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``HUB_*`` variables that give another process the same hub."""
    values = {"data_dir": settings.data_dir, "queue_prefix": settings.queue_prefix,
              "encryption_keys": settings.encryption_keys, "mappings_dir": settings.mappings_dir,
              "database_url": settings.database_url, "broker_url": settings.broker_url,
              "duty_team_phone": settings.duty_team_phone, "duty_team_email": settings.duty_team_email}
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({f"HUB_{k.upper()}": str(v) for k, v in values.items() if v is not None})
    return env


@contextmanager
def process_rig(backend: str) -> Iterator[ProcessRig]:
    """A store and broker of the run's own, the simulators up and registered, no hub process
    yet (``start_api``, ``set_workers``); everything torn down however the run ends."""
    admin_url = os.environ.get("HUB_BENCH_ADMIN_DATABASE_URL", DEFAULT_ADMIN_URL)
    broker_url = os.environ.get("HUB_BROKER_URL", DEFAULT_BROKER_URL)
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-")))
        database_url = stack.enter_context(own_database(admin_url)) if backend == "servers" else None
        settings = Settings(
            data_dir=data_dir, database_url=database_url,
            broker_url=broker_url if backend == "servers" else None,
            queue_prefix=f"bench-{os.urandom(4).hex()}", encryption_keys=new_key_spec("bench-1"),
            mappings_dir=data_dir / "authority-mappings",
            duty_team_phone="01632 960500", duty_team_email="duty@csc.example",
        )
        caf, case, directory = (CafSystemSimulator(), CaseSystemSimulator("supplier-a"),
                                DirectorySimulator())
        servers = {}
        for system, peer in ((CAF, caf), (CASE, case), (DIRECTORY, directory)):
            servers[system] = ServerThread(peer.app).start()
            stack.callback(servers[system].stop)
        hub = bootstrap(settings, migrate=True)
        stack.callback(hub.close)
        stack.callback(delete_broker_objects, hub)
        with hub.database.transaction() as session:
            caf_token = register(session, CAF, "National eCAF (bench)", "caf_system",
                                 servers[CAF].url).token
            register(session, CASE, "Children's social care (bench)", "case_system",
                     servers[CASE].url, profile="supplier-a")
            register(session, DIRECTORY, "Directory (bench)", "directory", servers[DIRECTORY].url)
        log_dir = data_dir / "logs"
        log_dir.mkdir()
        rig = ProcessRig(backend, hub, f"http://127.0.0.1:{free_port()}", caf_token,
                         {CAF: caf.state, CASE: case.state, DIRECTORY: directory.state},
                         settings_env(settings), log_dir)
        stack.callback(rig.stop)
        yield rig
