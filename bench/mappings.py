"""Mapping throughput on one core: a CAF system's full episode, parsed and rendered.

    python -m bench.mappings [--spec caf_system/standard/caf-episode-recorded] [--seconds 3]

Takes the spec's golden case (the Hannah episode) and, in this one process, measures:

* map in: the wire bytes parsed by lxml (the hardened parser) and mapped to canonical data with
  the provenance of every field: the mapping engine's own work on a message;
* map out: canonical data rendered to a wire document, with the rule behind every field;
* parse: the wire bytes through the whole inbound path of the mapped adapter (safe XML parse,
  schema validation, mapping with provenance, identifier checks, canonical validation);
* parse without the schema: the same less XSD validation, to show what the schema costs;
* render: canonical event to wire bytes, including the schema check of the output.

Prints episodes per second of CPU time on one core and microseconds per episode; writes
bench/results/mappings.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters import wire
from adapters.registry import mapped_adapter
from hub.canonical.events import EVENT_TYPES
from mappings import engine
from mappings.golden import cases
from mappings.layers import GOLDEN_DIR
from mappings.registry import MappingRegistry

RESULTS = Path(__file__).parent / "results"


def rate(work: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Calls per second of CPU time on one core, and microseconds per call, after a warm-up.

    CPU time (``process_time``) rather than wall time: the figure is what the work costs, not
    how long it waited for a core on a busy machine."""
    for _ in range(50):
        work()
    count, started = 0, time.process_time()
    deadline = started + seconds
    while time.process_time() < deadline:
        for _ in range(100):
            work()
        count += 100
    elapsed = time.process_time() - started
    return count / elapsed, elapsed / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="caf_system/standard/caf-episode-recorded")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    registry = MappingRegistry()
    kind, profile, message_type = args.spec.split("/")
    case = next(c for c in cases(GOLDEN_DIR) if str(c.relative_to(GOLDEN_DIR)).startswith(args.spec)
                and (c / "canonical.json").exists())
    wire_file = next(case.glob("wire.*"))
    body = wire_file.read_bytes()
    content_type = "application/xml" if wire_file.suffix == ".xml" else "application/json"
    adapter = mapped_adapter(kind, registry)
    effective = registry.find(kind, profile, message_type)
    event = EVENT_TYPES[message_type].model_validate(json.loads((case / "canonical.json").read_text()))
    data = event.model_dump(mode="json")
    header = {"message_id": "m-1", "sent_at": "2026-11-20T09:00:00+00:00", "correlation_id": "c"}

    def map_in() -> object:
        return engine.parse(effective, wire.parse(body, content_type), "bench")

    def map_out() -> object:
        return engine.render(effective, data, header)

    def parse() -> object:
        return adapter.read(adapter.identify(body, content_type, profile), "bench")

    def parse_without_schema() -> object:
        parsed = engine.parse(effective, wire.parse(body, content_type), "bench")
        return EVENT_TYPES[message_type].model_validate(parsed.data)

    def render() -> bytes:
        rendered = engine.render(effective, data, header)
        adapter.check_schema(effective, rendered.document)
        return wire.serialise(rendered.document, effective.spec.format)[0]

    rules = sum(1 for _ in _walk(effective.spec.rules))
    figures = {}
    table = Table(title=f"{args.spec}: {len(body)} bytes, {rules} rules, one core")
    for column in ("step", "per second", "µs each"):
        table.add_column(column, justify="right" if column != "step" else "left")
    for name, work in (("map in: lxml parse + mapping with provenance", map_in),
                       ("map out: mapping with provenance to a document", map_out),
                       ("parse (full inbound path)", parse),
                       ("parse without the schema", parse_without_schema),
                       ("render (with schema check)", render)):
        per_second, micros = rate(work, args.seconds)
        figures[name] = {"per_second": round(per_second), "microseconds": round(micros, 1)}
        table.add_row(name, f"{per_second:,.0f}", f"{micros:,.1f}")
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mappings.json").write_text(json.dumps({
        "spec": args.spec, "case": str(case.relative_to(GOLDEN_DIR)), "bytes": len(body),
        "rules": rules, "python": platform.python_version(), "figures": figures,
    }, indent=2))


def _walk(rules):  # type: ignore[no-untyped-def]
    for rule in rules:
        yield rule
        if rule.each:
            yield from _walk(rule.each)


if __name__ == "__main__":
    main()
