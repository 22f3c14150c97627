"""``python -m bench``: every benchmark, on the embedded default and/or PostgreSQL + RabbitMQ,
in one table beside the raw limits of the machine, and as JSON in ``bench/results/``.

    python -m bench                       # the full run on both backends (about half an hour)
    python -m bench --quick               # a smoke test: small sizes, under a minute
    python -m bench --backend servers --only step-up --only workers

Each figure is printed with its ceiling: what the raw limits measured in the same run allow for
the least work that figure needs (a durable commit, a broker round trip and a parse per accepted
message; seven commits, six broker messages and one parse per step-up referral; three commits,
two broker messages and one parse per directory update), the ceiling's name, and the ratio.
Nothing is asserted about speed: the exit status is 1 only if a benchmark lost or failed messages.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from bench import suite
from bench.machine import describe

RESULTS_DIR = Path(__file__).parent / "results"
# the least work each unit needs: (durable commits, broker round trips, CAF parses)
WORK = {"accept": (1, 1, 1), "step-up": (7, 6, 1), "directory": (3, 2, 1)}
TARGETS = {"accept": 1000, "step-up": 300, "directory": 1500}


def ceiling(raw: dict[str, Any], kind: str) -> tuple[float, str]:
    commits, messages, parses = WORK[kind]
    limits = [(raw["store"]["single_per_s"] / commits, f"store commits/{commits}"),
              (raw["broker"]["per_s"] / messages, f"broker round trips/{messages}"),
              (raw["parse"]["per_s_all_cores"] / parses, "lxml parse")]
    return min(limits)


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, figure, ceiling, share of ceiling, target) for one backend."""
    raw, out = result["raw"], []
    store, broker, parse = raw["store"], raw["broker"], raw["parse"]
    out += [("raw: broker publish (confirmed) + consume", f"{broker['per_s']:,} /s", "", "", ""),
            ("raw: store durable single-row inserts", f"{store['single_per_s']:,} /s", "", "", ""),
            ("raw: store batched inserts (1,000/commit)", f"{store['batched_rows_per_s']:,} rows/s",
             "", "", ""),
            ("raw: lxml parse of a CAF episode", f"{parse['per_cpu_s']:,} /s per core", "", "", "")]
    servers = result["backend"] == "servers"

    def target(kind: str) -> str:
        wanted = TARGETS[kind] if servers else TARGETS[kind] / 3
        return f"≥ {wanted:,.0f} /s"

    def add(label: str, kind: str, value: float | None, unit: str, note: str = "") -> None:
        top, bound = ceiling(raw, kind)
        share = f"{value / top:.1%}" if value else "-"
        out.append((label, f"{value:,} {unit}{note}" if value is not None else "-",
                    f"{top:,.0f} ({bound})", share, target(kind)))

    def cpu_row(label: str, cpu: dict[str, float] | None, measured: float | None,
                workers: int = 1) -> None:
        """Where the CPU went per unit, and the rate that cost allows: the machine's cores for
        the whole, or one core for each API process or each worker process (a Python process
        runs its own code on one core at a time), whichever is lower."""
        if not cpu or not cpu["total"]:
            return
        parts = " + ".join(f"{part} {ms:g}" for part, ms in cpu.items() if part != "total" and ms)
        cores = result.get("cpus") or os.cpu_count() or 1
        bounds = [(cores * 1000 / cpu["total"], f"{cores} cores / CPU")]
        if cpu.get("api"):
            api = min(result.get("api_processes") or 1, cores)
            bounds.append((api * 1000 / cpu["api"], f"{api} API core(s) / API CPU"))
        if cpu.get("workers") and workers:
            bounds.append((workers * 1000 / cpu["workers"], f"{workers} worker core(s) / worker CPU"))
        top, bound = min(bounds)
        out.append((label, f"{cpu['total']:g} ms ({parts})", f"{top:,.0f} ({bound})",
                    f"{measured / top:.0%}" if measured else "-", ""))

    if "accept" in result:
        a = result["accept"]
        add(f"accept, {a['clients']} HTTP clients (202, inbox + queue)", "accept", a["per_s"], "msg/s",
            f"; p50/p99 {a['latency_ms']['p50']}/{a['latency_ms']['p99']} ms")
        cpu_row("  CPU per accepted message", a.get("cpu_ms_per_message"), a["per_s"], workers=0)
    if "backlog" in result:
        b = result["backlog"]
        add("step-up: 1 worker draining the accepted backlog", "step-up", b["referrals_per_s"], "ref/s")
    if "step_up" in result:
        top, half = result["step_up"]["maximum"], result["step_up"]["half_load"]
        add("step-up end to end, 1 worker (all 5 deliveries acked)", "step-up", top["referrals_per_s"],
            "ref/s")
        lat = half["latency_ms"]
        out.append((f"  latency at {half['offered_rate_per_s']} ref/s: receipt → last delivery",
                    f"p50 {lat['p50']} / p95 {lat['p95']} / p99 {lat['p99']} ms", "", "",
                    "p99 < 250 ms" if servers else ""))
        cpu_row("  CPU per referral", top.get("cpu_ms_per_referral"), top["referrals_per_s"])
    if "directory" in result:
        d = result["directory"]
        add("directory sync updates (lead professional, involvement)", "directory", d["per_s"], "upd/s")
        cpu_row("  CPU per update", d.get("cpu_ms_per_update"), d["per_s"])
    for count, figures in result.get("workers", {}).items():
        add(f"step-up, {count} worker process{'es' if count != '1' else ''}", "step-up",
            figures["referrals_per_s"], "ref/s")
        cpu_row("  CPU per referral", figures.get("cpu_ms_per_referral"), figures["referrals_per_s"],
                workers=int(count))
    for size, figures in result.get("history", {}).items():
        add(f"step-up, {int(size):,} past messages in the store", "step-up", figures["referrals_per_s"],
            "ref/s")
    if result.get("history"):
        rates = [f["referrals_per_s"] for f in result["history"].values()]
        out.append(("  history: lowest / highest", f"{min(rates) / max(rates):.0%}", "", "",
                    "≥ 90%"))
    memory = result.get("memory", {})
    if memory:
        out.append(("peak resident memory (VmHWM): API / a worker",
                    f"{memory.get('api_peak_mib')} / {memory.get('worker_peak_mib')} MiB", "", "", ""))
    return out


def show(results: list[dict[str, Any]]) -> None:
    for result in results:
        table = Table(title=f"{result['backend']}: {result['store']}, {result['broker']}"
                      + (" (QUICK: small sizes, figures are a smoke test)" if result["quick"] else ""))
        for column in ("benchmark", "measured", "ceiling (bound)", "of ceiling", "target"):
            table.add_column(column, justify="left" if column == "benchmark" else "right")
        for row in rows(result):
            table.add_row(*row)
        suite.console.print(table)


def complete(result: dict[str, Any]) -> bool:
    """Every message accepted and every delivery made, in every phase that ran."""
    phases = []
    if "accept" in result:
        phases.append(result["accept"]["accepted"] == result["accept"]["messages"])
        phases.append(result["backlog"]["complete"])
    for figures in ([*result.get("step_up", {}).values(), *result.get("workers", {}).values(),
                     *result.get("history", {}).values()]):
        phases.append(figures["complete"] and figures["accepted"] == figures["referrals"])
    if "directory" in result:
        phases.append(result["directory"]["complete"])
    return all(phases)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, under a minute: a smoke test, not a measurement")
    parser.add_argument("--backend", choices=["embedded", "servers", "both"], default="both")
    parser.add_argument("--only", action="append", choices=suite.NAMES, default=[],
                        help="run only this benchmark (repeatable; the raw limits always run)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    plan = suite.QUICK if args.quick else suite.FULL
    backends = ["embedded", "servers"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    machine = describe()
    if plan.quick:
        suite.console.print("[yellow]--quick: small sizes (store history "
                            f"{', '.join(f'{n:,}' for n in plan.history_sizes)} messages, workers "
                            f"{', '.join(map(str, plan.worker_counts))}); a smoke test, not figures "
                            "to quote[/]")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"bench-{'quick-' if plan.quick else ''}{args.backend}.json"
    results: list[dict[str, Any]] = []
    for backend in backends:
        results.append(suite.run(backend, plan, set(args.only)))
        show(results[-1:])
        report = {"recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
                  "machine": {**machine, "load_average_after": describe()["load_average_1_5_15"]},
                  "seconds": round(time.perf_counter() - started, 1), "results": results}
        out.write_text(json.dumps(report, indent=2, default=str) + "\n")  # each backend as it ends
    suite.console.print(f"{report['seconds']} s; results written to {out}")
    ok = all(complete(result) for result in results)
    if not ok:
        suite.console.print("[red]some messages were not accepted or not delivered: see the JSON[/]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
