"""Stopping and starting this machine's PostgreSQL and RabbitMQ, always leaving them running.

``outage`` stops a server, waits, and in a ``finally`` starts it again and waits until it answers,
so a failing test never leaves the machine without its servers. It returns when the server
answers again.
"""

from __future__ import annotations

import os
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


def other_test_runs() -> list[int]:
    """Other pytest processes on this machine (not this one, its parents or its children)."""
    mine = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        mine.add(pid)
    others = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if b"pytest" in command and parent not in mine:
            others.append(int(entry.name))
    return others


def alone_on_the_servers(limit: float = 240) -> bool:
    """The servers are shared with anything else testing on this machine: wait (bounded) for
    other test runs to finish. False if some are still running (CI runs one suite at a time)."""
    deadline = time.monotonic() + limit
    while other_test_runs():
        if time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def outage(stop, start, down_seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Stop the server, keep it down for ``down_seconds``, start it again; returns when it
    answers (time.monotonic), having restarted it even if stopping failed half-way."""
    try:
        stop()
        time.sleep(down_seconds)
    finally:
        start()
    return time.monotonic()
