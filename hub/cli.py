"""The ``hub`` command line: run the hub, its workers and migrations, register systems, demo."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.registry import KINDS
from hub.bootstrap import bootstrap
from hub.cli_consent import audit_app, consent_app, disclosures_command
from hub.cli_console import app as console_app
from hub.cli_dead_letters import app as dead_letters_app
from hub.cli_directory import app as directory_app
from hub.cli_identity import app as identity_app
from hub.cli_mappings import app as mappings_app
from hub.cli_migrate import app as migrate_app
from hub.registry import RegistryError, all_systems, register
from hub.settings import Settings

app = typer.Typer(
    help="Interoperability hub for children's services: case systems, the directory, CAF "
    "systems and partner agencies, with every disclosure decided and audited.\n\n"
    "Configuration comes from HUB_* environment variables (see the README).",
    no_args_is_help=True, rich_markup_mode="rich",
)
db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)
systems_app = typer.Typer(help="The registry of connected systems.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for personal data at rest.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(systems_app, name="systems")
app.add_typer(keys_app, name="keys")
app.add_typer(mappings_app, name="mappings")
app.add_typer(identity_app, name="identity")
app.add_typer(audit_app, name="audit")
app.add_typer(consent_app, name="consent")
app.add_typer(dead_letters_app, name="deadletters")
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(console_app, name="console")
app.add_typer(directory_app, name="directory")
app.add_typer(migrate_app, name="migrate")
app.command("disclosures")(disclosures_command)
console = Console()


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [HUB_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [HUB_PORT].")] = None,
    processes: Annotated[int | None, typer.Option(
        min=1, help="Processes to run the API in, all on the one port; about one per core "
        "[HUB_API_PROCESSES, default 1].",
    )] = None,
    workers: Annotated[bool, typer.Option(
        help="Run the workers too: in this process, or with --processes above 1 in one process "
        "of their own (as `hub worker`).",
    )] = True,
    migrate: Annotated[bool, typer.Option(
        help="Upgrade the store's schema first (turn off where a separate `hub db upgrade` runs).",
    )] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the API (and, by default, the workers): in one process, or in several.

    With --processes N above 1 the API runs in N processes sharing the port, each with a hub of
    its own from the same HUB_* environment; the workers (unless --no-workers) run in one more
    process, as `hub worker` does (started again if it exits); this process upgrades the
    schema, then starts, watches and stops them (SIGTERM or Ctrl-C: each finishes what it has
    in hand and closes its hub).
    /metrics, answered by any of them, sums every process's counters, kept in
    PROMETHEUS_MULTIPROC_DIR (a temporary directory unless set; if set, its files from an
    earlier run are deleted at start).
    """
    _logging(verbose)
    settings = Settings()
    count = processes or settings.api_processes
    console.print(
        f"[bold]hub[/] store {_redact(settings.resolved_database_url)}, "
        f"broker {_redact(settings.resolved_broker_url)}"
        + (f", API in {count} processes" if count > 1 else "")
    )
    if count > 1:
        from hub.api_processes import serve_processes

        serve_processes(settings, host or settings.host, port or settings.port, count,
                        workers=workers, migrate=migrate, verbose=verbose)
        return
    import uvicorn

    from hub.api.app import create_app
    from hub.worker import Worker

    hub = bootstrap(settings, migrate=migrate)
    worker = Worker(hub) if workers else None
    if worker:
        worker.start()
    try:
        uvicorn.run(create_app(hub), host=host or settings.host, port=port or settings.port,
                    log_level="info" if verbose else "warning")
    finally:
        if worker:
            worker.stop()
        hub.close()


@app.command()
def worker(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run the workers only: inbound processing, deliveries and the outbox relay (stop: Ctrl-C or SIGTERM)."""
    import signal

    from hub.worker import Worker, when_ready

    _logging(verbose)
    hub = when_ready("the store", lambda: bootstrap(Settings()))
    running = Worker(hub)
    signal.signal(signal.SIGTERM, lambda *_: running.request_stop())
    try:
        running.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        hub.close()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or upgrade the store's schema (Alembic)."""
    from hub.store.database import Database
    from hub.store.migrate import upgrade

    settings = Settings()
    database = Database(settings.resolved_database_url)
    upgrade(database, revision)
    console.print(f"store at {_redact(settings.resolved_database_url)} is at {revision}")


@systems_app.command("add")
def systems_add(
    system_id: Annotated[str, typer.Argument(help="Short id, used in URLs: e.g. caf-national.")],
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(KINDS)}.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Base URL the hub delivers to.")] = None,
    allow_in: Annotated[list[str] | None, typer.Option(help="Message type it may send (repeat).")] = None,
    allow_out: Annotated[list[str] | None, typer.Option(help="Message type it may receive (repeat).")] = None,
    profile: Annotated[str, typer.Option(help="Its format's profile: standard, local (a local eCAF), "
                                              "supplier-a, supplier-b, health-fhir.")] = "standard",
) -> None:
    """Register a connected system and print its bearer token (shown once, stored only hashed)."""
    hub = bootstrap(Settings(), migrate=True)
    try:
        with hub.database.transaction() as session:
            registration = register(
                session, system_id, name or system_id, kind, endpoint, allow_in, allow_out,
                profile=profile,
            )
    except RegistryError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    finally:
        hub.close()
    console.print(f"registered [bold]{system_id}[/] ({kind})")
    console.print(f"token (shown once): {registration.token}")


@systems_app.command("list")
def systems_list() -> None:
    """List the registered systems and what each may send and receive."""
    hub = bootstrap(Settings(), migrate=True)
    table = Table("id", "kind", "name", "may send", "may receive", "endpoint")
    with hub.database.read() as session:
        for system in all_systems(session):
            table.add_row(system.system_id, system.kind, system.name, ", ".join(system.allowed_in),
                          ", ".join(system.allowed_out), system.endpoint_url or "")
    hub.close()
    console.print(table)


@keys_app.command("new")
def keys_new(
    key_id: Annotated[str, typer.Argument(help="Name of the key, e.g. 2026-11.")],
) -> None:
    """Print a new AES-256 key as HUB_ENCRYPTION_KEYS expects it.

    To rotate, put the new key first and keep the old ones after it:
    HUB_ENCRYPTION_KEYS="new-id:...,old-id:..." (new data is sealed with the first key).
    """
    from hub.crypto import new_key_spec

    typer.echo(new_key_spec(key_id))


@app.command()
def demo(
    data_dir: Annotated[Path | None, typer.Option(help="Keep the demo's store here.")] = None,
) -> None:
    """Hannah's story on simulated systems: a lead-professional change, then a step-up, as a timeline."""
    from hub.demo import run_demo

    raise typer.Exit(run_demo(console, data_dir))


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


if __name__ == "__main__":
    app()
