"""``python -m bench.migration``: a generated local eCAF export migrated into a simulated national
CAF system on the embedded default (or the servers), timed, with the process's peak memory.

    python -m bench.migration --episodes 100000
    python -m bench.migration --episodes 2000 --backend servers

The export is written first (not timed); the run is ``hub migrate episodes`` as the command
runs it (streamed, checked, imported in batches of ``--batch-size``), without its progress bar.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from hub.bootstrap import bootstrap
from hub.crypto import new_key_spec
from hub.migration import Migration, stream
from hub.registry import register
from hub.settings import Settings
from simulators.caf_system import CafSystemSimulator, imported_episodes
from simulators.local_caf_export import write_export
from simulators.server import ServerThread

SERVER_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SERVER_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--backend", choices=("embedded", "servers"), default="embedded")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        kinds = ["unconsented" if n % 50 == 49 else "valid" for n in range(args.episodes)]
        export = write_export(root / "export.xml", kinds)
        settings = Settings(data_dir=root, encryption_keys=new_key_spec("bench-1"),
                            queue_prefix=f"bench-migration-{int(time.time())}",
                            **({"database_url": SERVER_DATABASE, "broker_url": SERVER_BROKER}
                               if args.backend == "servers" else {}))
        national = CafSystemSimulator()
        server = ServerThread(national.app).start()
        hub = bootstrap(settings, migrate=True)
        try:
            with hub.database.transaction() as session:
                register(session, "bench-local", "Local eCAF", "caf_system", profile="local")
                register(session, "bench-national", "National eCAF", "caf_system", server.url)
            started = time.perf_counter()
            report = Migration(hub, export.name, "bench-local", "bench-national",
                               batch_size=args.batch_size).run(stream(export))
            elapsed = time.perf_counter() - started
        finally:
            hub.close()
            server.stop()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"backend {args.backend}: {args.episodes:,} episodes in {elapsed:.1f} s "
              f"({args.episodes / elapsed:,.0f}/s), peak memory {peak:,.0f} MB")
        outcomes = dict(sorted(report.counts.items()))
        print(f"export {export.stat().st_size / 1e6:,.1f} MB; outcomes {outcomes}; "
              f"imported by the national system: {len(imported_episodes(national)):,}")


if __name__ == "__main__":
    main()
