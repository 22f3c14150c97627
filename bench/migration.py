"""``python -m bench.migration``: a generated local eCAF export migrated into a simulated national
CAF system on the embedded default (or the servers), timed, with the peak memory of the
migration's processes.

    python -m bench.migration --episodes 100000
    python -m bench.migration --episodes 2000 --backend servers
    python -m bench.migration --episodes 5000 --workers 0        # reading and rendering in-process

The export is written first (not timed); the run is ``hub migrate episodes`` as the command
runs it (streamed, checked, imported in batches of ``--batch-size``, episodes read and rendered
by ``--workers`` worker processes), without its progress bar. The national CAF system is
simulated in a process of its own (``--simulator thread``: in this one), so the figures are the
migration's: its elapsed time, the CPU time of this process, and the peak memory of this process
and of its largest worker.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from hub.bootstrap import bootstrap
from hub.crypto import new_key_spec
from hub.migration import Migration, stream
from hub.registry import register
from hub.settings import Settings
from simulators.caf_system import CafSystemSimulator, imported_episodes
from simulators.local_caf_export import write_export
from simulators.server import ServerThread, free_port

SERVER_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SERVER_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@contextmanager
def national_system(mode: str) -> Iterator[tuple[str, object]]:
    """The simulated national CAF system's URL, and how to ask it what it imported."""
    if mode == "thread":
        simulator = CafSystemSimulator()
        server = ServerThread(simulator.app).start()
        try:
            yield server.url, lambda: imported_episodes(simulator)
        finally:
            server.stop()
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "uvicorn", "--factory", "simulators.caf_system:simulated_app",
         "--port", str(port), "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/_control/imported", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulated national CAF system did not start") from None
                time.sleep(0.2)
        yield url, lambda: httpx.get(f"{url}/_control/imported", timeout=300).json()
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", choices=("embedded", "servers"), default="embedded")
    parser.add_argument("--simulator", choices=("process", "thread"), default="process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        kinds = ["unconsented" if n % 50 == 49 else "valid" for n in range(args.episodes)]
        export = write_export(root / "export.xml", kinds)
        settings = Settings(data_dir=root, encryption_keys=new_key_spec("bench-1"),
                            queue_prefix=f"bench-migration-{int(time.time())}",
                            **({"database_url": SERVER_DATABASE, "broker_url": SERVER_BROKER}
                               if args.backend == "servers" else {}))
        with national_system(args.simulator) as (url, imported):
            hub = bootstrap(settings, migrate=True)
            try:
                with hub.database.transaction() as session:
                    register(session, "bench-local", "Local eCAF", "caf_system", profile="local")
                    register(session, "bench-national", "National eCAF", "caf_system", url)
                started, cpu = time.perf_counter(), time.process_time()
                report = Migration(hub, export.name, "bench-local", "bench-national",
                                   batch_size=args.batch_size, workers=args.workers).run(stream(export))
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            finally:
                hub.close()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if args.workers else 0
            count = len(imported())  # type: ignore[operator]
        print(f"backend {args.backend}, batches of {args.batch_size}, {args.workers} worker(s): "
              f"{args.episodes:,} episodes in {elapsed:.1f} s ({args.episodes / elapsed:,.0f}/s), "
              f"CPU of this process {cpu:.1f} s; peak memory {peak:,.0f} MB"
              + (f", largest worker {worker:,.0f} MB" if args.workers else ""))
        outcomes = dict(sorted(report.counts.items()))
        print(f"export {export.stat().st_size / 1e6:,.1f} MB; outcomes {outcomes}; "
              f"imported by the national system: {count:,}")


if __name__ == "__main__":
    main()
