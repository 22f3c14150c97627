"""Stopping and starting this machine's PostgreSQL and RabbitMQ, always leaving them running.

``outage`` stops a server, waits, and in a ``finally`` starts it again and waits until it answers,
so a failing test never leaves the machine without its servers. It returns when the server
answers again.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

PG_VERSION = sorted(path.name for path in Path("/etc/postgresql").iterdir())[-1] \
    if Path("/etc/postgresql").is_dir() else ""


def answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")
        time.sleep(0.2)


def _run(*command: str, timeout: float = 120) -> None:
    subprocess.run(command, check=True, timeout=timeout, capture_output=True)  # noqa: S603


def stop_postgres() -> None:
    _run("pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "stop")


def start_postgres() -> None:
    if not answers(5432):
        _run("pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "start")
    wait_for(5432)


def stop_rabbitmq() -> None:
    _run("rabbitmqctl", "stop")


def start_rabbitmq() -> None:
    if not answers(5672):
        subprocess.run(["rabbitmq-server", "-detached"], check=False, timeout=60,  # noqa: S603, S607
                       capture_output=True)
    wait_for(5672)
    _run("rabbitmqctl", "await_startup", timeout=120)


def outage(stop, start, down_seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Stop the server, keep it down for ``down_seconds``, start it again; returns when it
    answers (time.monotonic), having restarted it even if stopping failed half-way."""
    try:
        stop()
        time.sleep(down_seconds)
    finally:
        start()
    return time.monotonic()
