"""Fixtures of the fault-injection suite, and the table it prints at the end of the run.

Each test gets a hub with short leases and timeouts (so a takeover or a retry happens within
seconds), its workers as separate processes, and the simulated systems. Every result goes into
``RESULTS``; ``pytest_terminal_summary`` prints them as one table: fault, messages sent,
deliveries owed and applied, lost, duplicated effects, updates rightly not sent because a newer
version had been applied first (superseded), recovery time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import delete_queues, make_settings
from tests.faults.rig import CAF, CASE, DIRECTORY, Outcome, Rig, start_rig

RESULTS: list[tuple[str, Outcome]] = []

FAULT_SETTINGS = dict(
    delivery_max_attempts=15, delivery_backoff_initial=0.05, delivery_backoff_max=0.5,
    delivery_timeout=1.0, delivery_lease=2.0, processing_lease=3.0, processing_max_attempts=8,
    breaker_failures=5, breaker_reset=2.0, relay_interval=0.2,
)


@pytest.fixture
def make_rig(tmp_path: Path, backend: str, backend_database_url: str | None,
             request: pytest.FixtureRequest) -> Iterator:  # type: ignore[type-arg]
    started: list[Rig] = []

    def make(workers: int = 2) -> Rig:
        settings = make_settings(tmp_path, backend, backend_database_url, **FAULT_SETTINGS)
        rig = start_rig(settings, tmp_path, workers)
        started.append(rig)
        return rig

    yield make
    for rig in started:
        rig.workers.stop_all()
        for server in rig.servers.values():
            server.stop()
        try:
            delete_queues(rig.hub, [CAF, CASE, DIRECTORY])
        finally:
            rig.hub.close()


def keep(backend: str, outcome: Outcome) -> None:
    RESULTS.append((backend, outcome))


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault injection: checked against the simulators' own records")
    header = (f"{'fault':<48} {'backend':<18} {'sent':>5} {'owed':>5} {'delivered':>9} {'lost':>4} "
              f"{'dup. effects':>12} {'superseded':>10} {'recovery':>9}")
    write(header)
    write("-" * len(header))
    for backend, o in RESULTS:
        write(f"{o.fault:<48} {backend:<18} {o.sent:>5} {o.deliveries_expected:>5} {o.delivered:>9} "
              f"{o.lost:>4} {o.duplicated:>12} {o.superseded:>10} {o.recovery_seconds:>8.1f}s")
    notes = [(backend, o) for backend, o in RESULTS if o.note]
    for backend, o in notes:
        write(f"  {o.fault} ({backend}): {o.note}")
