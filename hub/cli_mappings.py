"""``hub mappings``: check, test, show and explain the effective mappings (base + authority layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from adapters.registry import KINDS, mapped_adapter
from adapters.rejection import InputRejected
from consent.minimise import minimise
from consent.profiles import allowed_categories
from hub.settings import Settings
from mappings import engine
from mappings.golden import run_all
from mappings.layers import GOLDEN_DIR, SpecError
from mappings.registry import MappingRegistry

app = typer.Typer(help="The declarative mappings: base layer plus the authority's overrides "
                  "[HUB_MAPPINGS_DIR].", no_args_is_help=True)
console = Console()


def _table(*columns: str) -> Table:
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _registry() -> MappingRegistry:
    try:
        return MappingRegistry(Settings().mappings_dir)
    except SpecError as error:
        console.print(f"[red]mapping error:[/] {error}")
        raise typer.Exit(1) from None


@app.command()
def check() -> None:
    """Load and validate every spec and override; list the effective mappings."""
    registry = _registry()
    table = _table("spec", "format", "direction", "version", "rules", "layers")
    for key, effective in registry.all().items():
        table.add_row(key, effective.spec.format, effective.spec.direction, effective.version,
                      str(len(effective.spec.rules)), str(len(effective.layers)))
    console.print(table)
    console.print(f"[green]{len(registry.all())} mappings valid[/]")


@app.command()
def test() -> None:
    """Run the golden files: each message parses to its canonical event and renders back."""
    settings = Settings()
    roots = [GOLDEN_DIR] + ([settings.mappings_dir / "golden"] if settings.mappings_dir else [])
    results = run_all(_registry(), roots)
    for result in results:
        mark = "[green]pass[/]" if result.passed else "[red]FAIL[/]"
        console.print(f"{mark} {result.case}")
        for problem in result.problems:
            console.print(f"     {problem}")
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed or not results else 0)


@app.command()
def show(spec: Annotated[str, typer.Argument(help="kind/profile/message-type")]) -> None:
    """Print the effective spec: the base with the authority's override merged in."""
    effective = _registry().all().get(spec)
    if effective is None:
        console.print(f"[red]no mapping {spec}[/]")
        raise typer.Exit(1)
    console.print(f"# layers: {', '.join(effective.layers)}")
    data = effective.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    console.print(yaml.safe_dump(data, sort_keys=False, width=100))


@app.command()
def explain(
    spec: Annotated[str, typer.Argument(help="The destination's kind/profile/message-type.")],
    message: Annotated[Path, typer.Argument(help="A message file in a connected system's format.",
                                            exists=True, dir_okay=False)],
    source: Annotated[str | None, typer.Option(
        "--from", help="The sender's kind/profile (found by trying each if not given).")] = None,
) -> None:
    """Show what a message would become at a destination, field by field, without sending it."""
    registry = _registry()
    destination = registry.all().get(spec)
    if destination is None:
        console.print(f"[red]no mapping {spec}[/]")
        raise typer.Exit(1)
    received = _read_any(registry, message, source)
    allowed = allowed_categories(destination.spec.kind)
    shared = minimise(received.event, allowed)
    rendered = engine.render(destination, shared.data, {
        "message_id": "(assigned at delivery)", "sent_at": received.occurred_at.isoformat(),
        "correlation_id": received.correlation_id}, received.provenance)
    table = _table("field sent", "rule", "canonical field", "came from")
    for field in rendered.fields:
        origin = field.origin
        table.add_row(field.wire_path, field.rule_id, field.canonical_path or "(constant)",
                      f"{origin.system}:{origin.wire_path} ({origin.rule_id})" if origin else "")
    console.print(table)
    if shared.withheld:
        console.print(f"[yellow]refused by the {destination.spec.kind} allow-list "
                      f"({', '.join(sorted(c.value for c in allowed))}):[/]")
        for path in shared.withheld:
            console.print(f"  {path}")
    for skipped in rendered.skipped:
        console.print(f"[dim]rule {skipped.rule_id}: {skipped.canonical_path} {skipped.reason}[/]")


def _read_any(registry: MappingRegistry, message: Path, source: str | None):  # type: ignore[no-untyped-def]
    body = message.read_bytes()
    content_type = "application/json" if body.lstrip()[:1] in (b"{", b"[") else "application/xml"
    candidates = [tuple(source.split("/", 1))] if source else sorted(
        {tuple(key.split("/")[:2]) for key in registry.all()}
    )
    last: InputRejected | None = None
    for kind, profile in candidates:
        if kind not in KINDS:
            continue
        adapter = mapped_adapter(kind, registry)
        try:
            return adapter.read(adapter.identify(body, content_type, profile), f"{kind}:{profile}")
        except InputRejected as error:
            last = error
    detail = f"{last.status} {last.rule} at {last.field}: {last.detail}" if last else "no sender"
    console.print(f"[red]no connected system's format reads this message[/] ({detail})")
    raise typer.Exit(1)

