"""What the figures were measured on: cores, CPU model, memory, Python, and the servers' versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hub.store.database import Database
from queues.broker import Broker


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def database_version(database: Database) -> str:
    with database.engine.connect() as connection:
        if database.is_sqlite:
            return "SQLite " + connection.execute(text("select sqlite_version()")).scalar_one()
        return connection.execute(text("show server_version")).scalar_one().split()[0].join(
            ("PostgreSQL ", ""))


def broker_version(broker: Broker) -> str:
    if broker.embedded:
        return "kombu SQLAlchemy transport (on SQLite)"
    with broker.connect() as connection:
        properties = connection.connection.server_properties
    product, version = properties.get("product", "broker"), properties.get("version", "?")
    return f"{product} {version}"


def describe() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(), "cpu_model": _cpu_model(), "memory_gib": _memory_gib(),
        "python": platform.python_version(), "platform": platform.platform(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def peak_rss_mib(pid: int) -> dict[str, float | None]:
    """A process's peak (VmHWM) and current (VmRSS) resident memory, in MiB, from /proc."""
    figures: dict[str, float | None] = {"peak": None, "current": None}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                figures["peak"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("VmRSS:"):
                figures["current"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return figures


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# the processes of the store and broker servers on this machine, by command name
SERVER_PROCESSES = {"store": ("postgres",), "broker": ("beam.smp", "erl_child_setup", "epmd")}


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def server_cpu_seconds() -> dict[str, float]:
    """CPU time used so far by every process of the local store and broker servers (zero for a
    server that is not running here, as with the embedded default)."""
    totals = dict.fromkeys(SERVER_PROCESSES, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        for server, names in SERVER_PROCESSES.items():
            if name in names:
                totals[server] += cpu_seconds(int(entry.name)) or 0.0
    return totals
