"""``hub serve --processes N``: the API in several processes on one port, the workers in one of
their own, /metrics summing every process's counters and showing the store's gauges once, and a
clean stop that closes each process's hub."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hub.bootstrap import bootstrap
from hub.cli import app
from hub.metrics import exposition
from hub.settings import Settings
from simulators.hannah import melanie_agreed
from simulators.server import free_port
from tests.conftest import caf_and_directory, delete_queues, make_settings
from tests.integration.helpers import eventually, settled, submit

STARTUP_SECONDS = 60.0


def hub_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This environment without HUB_* or a metrics directory, then ``settings`` as HUB_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUB_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    for name in ("data_dir", "database_url", "broker_url", "queue_prefix", "encryption_keys",
                 "mappings_dir", "relay_interval", "delivery_timeout"):
        value = getattr(settings, name)
        if value is not None:
            env[f"HUB_{name.upper()}"] = str(value)
    env.update(extra)
    return env


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def metric(text: str, name: str, **labels: str) -> float | None:
    """The one sample of ``name`` with exactly ``labels`` in an exposition, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = "^" + re.escape(name + (f"{{{wanted}}}" if labels else "")) + r" (\S+)$"
    values = [float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE)]
    assert len(values) <= 1, f"{name} {labels} appears {len(values)} times"
    return values[0] if values else None


def test_serve_help_tells_of_processes_and_where_the_workers_run():
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    assert "--processes" in result.output and "HUB_API_PROCESSES" in result.output
    assert "process of their own" in result.output


def test_api_processes_default_to_one_and_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("HUB_API_PROCESSES", raising=False)
    assert Settings().api_processes == 1
    monkeypatch.setenv("HUB_API_PROCESSES", "4")
    assert Settings().api_processes == 4


def test_counters_of_two_processes_are_summed_and_the_store_gauges_shown_once(
    tmp_path, monkeypatch,
):
    shared = tmp_path / "metrics"
    shared.mkdir()
    hub = bootstrap(make_settings(tmp_path, "embedded"), migrate=True)
    counting = ("import sys; from hub.metrics import INBOUND, process_ended; "
                "INBOUND.labels('caf-national', 'accepted').inc(int(sys.argv[1])); process_ended()")
    try:
        for count in ("2", "3"):
            subprocess.run([sys.executable, "-c", counting, count], check=True, timeout=60,  # noqa: S603
                           env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)})
        assert len(list(shared.glob("counter_*.db"))) == 2

        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
        text = exposition(hub).decode()
    finally:
        hub.close()

    assert metric(text, "hub_inbound_messages_total", outcome="accepted", system="caf-national") == 5
    assert text.count("# TYPE hub_outbox_owed gauge") == 1
    assert metric(text, "hub_outbox_owed") == 0
    assert metric(text, "hub_messages_held") == 0


@pytest.fixture
def served(tmp_path: Path, backend: str, backend_database_url: str | None):  # type: ignore[no-untyped-def]
    """A registered CAF system and directory, and a way to start ``hub serve`` on them."""
    settings = make_settings(tmp_path, backend, backend_database_url)
    hub, directory, directory_server, token = caf_and_directory(settings)
    started: list[subprocess.Popen] = []

    def start(arguments: list[str], processes: int, **env: str) -> tuple[subprocess.Popen, str, Path]:
        port = free_port()
        log = tmp_path / f"serve-{len(started)}.log"
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), *arguments],
            env=hub_env(settings, **env), stdout=log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        started.append(process)
        url = f"http://127.0.0.1:{port}"

        def live() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/health/live", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(live, STARTUP_SECONDS, "hub serve to answer")
        eventually(lambda: len(re.findall(r"API process \d+ serving", log.read_text())) == processes,
                   STARTUP_SECONDS,
                   "every API process to serve")
        return process, url, log

    try:
        yield start, token
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        directory_server.stop()
        delete_queues(hub, ["directory"])
        hub.close()


def test_serve_runs_the_api_in_several_processes_and_the_workers_beside_them(served, tmp_path):
    start, token = served
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    serve, url, log = start(["--no-migrate"], 2, HUB_API_PROCESSES="2", TMPDIR=str(own_tmp))

    spawned = [command_line(pid) for pid in children(serve.pid)]
    assert sum("multiprocessing.spawn" in line for line in spawned) == 2, spawned
    assert sum("hub.cli worker" in line for line in spawned) == 1, spawned
    assert [p.name for p in own_tmp.iterdir()] != [], "the processes' metrics directory"

    def post(n: int) -> int:
        return submit(url, token, melanie_agreed(f"caf-msg-proc-{n:03d}", version=3 + n)).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(post, range(12)))
    assert codes == [202] * 12
    last = submit(url, token, melanie_agreed("caf-msg-proc-999", version=99)).json()["tracking_id"]
    settled(url, token, last)

    def delivered() -> str | None:
        time.sleep(0.5)
        text = httpx.get(f"{url}/metrics", timeout=30).text
        return text if metric(text, "hub_deliveries_total", destination="directory",
                              outcome="delivered") else None

    # the worker process's counters (some updates are superseded by later versions, unsent)
    text = eventually(delivered, 60, "the worker process's deliveries on /metrics")
    # the API processes' counters summed, whichever answered each request and the scrape
    assert metric(text, "hub_inbound_messages_total", outcome="accepted", system="caf-national") == 13
    assert text.count("# TYPE hub_deliveries_pending gauge") == 1
    assert metric(text, "hub_outbox_owed") is not None

    # the workers' process, if it dies, is started again
    killed = next(pid for pid in children(serve.pid) if "hub.cli worker" in command_line(pid))
    os.kill(killed, signal.SIGKILL)
    again = eventually(lambda: [pid for pid in children(serve.pid)
                                if "hub.cli worker" in command_line(pid) and pid != killed],
                       30, "the workers' process to be started again")

    serve.send_signal(signal.SIGTERM)
    assert serve.wait(60) == 0, log.read_text()
    output = log.read_text()
    assert "the workers' process exited" in output
    assert not Path(f"/proc/{again[0]}").exists(), "the workers' process stopped with it"
    assert output.count("its hub closed") == 2, output
    assert list(own_tmp.iterdir()) == [], "the metrics directory it made is removed"


def test_serve_with_processes_and_no_workers_runs_only_the_api(served, tmp_path):
    start, token = served
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"left by an earlier run")
    serve, url, log = start(["--processes", "3", "--no-workers", "--no-migrate"], 3,
                            PROMETHEUS_MULTIPROC_DIR=str(shared))

    spawned = [command_line(pid) for pid in children(serve.pid)]
    assert sum("multiprocessing.spawn" in line for line in spawned) == 3, spawned
    assert not any("hub.cli worker" in line for line in spawned), spawned
    assert not (shared / "counter_1.db").exists(), "an earlier run's files are deleted at start"

    for n in range(6):
        assert submit(url, token, melanie_agreed(f"caf-msg-api-{n}", version=3 + n)).status_code == 202
    text = httpx.get(f"{url}/metrics", timeout=30).text
    assert metric(text, "hub_inbound_messages_total", outcome="accepted", system="caf-national") == 6
    assert "hub_messages_processed_total{" not in text, "no worker processed anything"

    serve.send_signal(signal.SIGTERM)
    assert serve.wait(60) == 0, log.read_text()
    assert log.read_text().count("its hub closed") == 3
    assert shared.exists(), "a metrics directory it was given is kept"
