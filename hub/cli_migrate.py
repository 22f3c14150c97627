"""``hub migrate``: import a local eCAF module's export into the national CAF system, and the
review list of episodes held back (invalid, identity unresolved, no consent), released one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import select

from hub.bootstrap import bootstrap
from hub.migration import HELD, Migration, MigrationEpisode, MigrationError, export_size, stream
from hub.migration_review import release
from hub.settings import Settings

app = typer.Typer(help="Migrate a local eCAF module's episodes into the national CAF system.",
                  no_args_is_help=True)
review_app = typer.Typer(help="Episodes held back from a migration, and their release.", no_args_is_help=True)
app.add_typer(review_app, name="review")
console = Console()


@app.command("episodes")
def episodes(
    export: Annotated[Path, typer.Argument(help="The export: an XML file or a folder of them.", exists=True)],
    source: Annotated[str, typer.Option("--from", help="The registered local CAF system it came from.")],
    target: Annotated[str, typer.Option("--to", help="The registered national CAF system.")] = "caf-national",
    export_id: Annotated[str | None, typer.Option(help="Names the export, to resume; default its name.")]
    = None,
    batch_size: Annotated[int, typer.Option(min=1, max=5000)] = 200,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; send and record nothing.")]
    = False,
    workers: Annotated[int, typer.Option(min=0, max=8, help="Worker processes reading and rendering "
                                                            "episodes while this one checks and records "
                                                            "them (0: all in this process).")] = 1,
    report: Annotated[Path | None, typer.Option(help="Where the report goes (.json and .csv); "
                                                     "default migration-<export id> here.")] = None,
) -> None:
    """Stream the export, check each episode, import the good ones in batches, hold back the rest."""
    name = export_id or export.name
    hub = bootstrap(Settings())
    try:
        migration = Migration(hub, name, source, target, batch_size=batch_size, dry_run=dry_run,
                              workers=workers)
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
            TextColumn("{task.fields[episodes]} episodes, {task.fields[rate]}/s"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        ) as progress:
            task = progress.add_task(f"migrating {name}", total=export_size(export), episodes=0, rate="-")

            def advance(size: int) -> None:
                count = len(migration.report.episodes)
                elapsed = progress.tasks[task].elapsed or 0
                progress.update(task, advance=size, episodes=count,
                                rate=f"{count / elapsed:,.0f}" if elapsed else "-")

            result = migration.run(stream(export, advance))
    except MigrationError as error:
        console.print(f"[red]{error}")
        raise typer.Exit(1) from None
    finally:
        hub.close()
    table = Table(title=f"Migration of {name}" + (" (dry run: nothing sent)" if dry_run else ""))
    table.add_column("outcome")
    table.add_column("episodes", justify="right")
    for outcome, count in sorted(result.counts.items()):
        table.add_row(outcome, str(count))
    console.print(table)
    json_path, csv_path = result.write(report or Path(f"migration-{name}"))
    console.print(f"report: {json_path} and {csv_path}")


@review_app.command("list")
def review_list(export_id: Annotated[str | None, typer.Argument(help="Only this export.")] = None) -> None:
    """The episodes held back, with the reason."""
    hub = bootstrap(Settings())
    try:
        with hub.database.transaction() as session:
            query = select(MigrationEpisode).where(MigrationEpisode.outcome == HELD)
            if export_id:
                query = query.where(MigrationEpisode.export_id == export_id)
            rows = session.execute(query.order_by(MigrationEpisode.export_id,
                                                  MigrationEpisode.episode_id)).scalars().all()
            table = Table(title="Held back from migration")
            for column in ("export", "episode", "reason", "detail"):
                table.add_column(column)
            for row in rows:
                table.add_row(row.export_id, row.episode_id, row.reason or "", row.detail or "")
    finally:
        hub.close()
    console.print(table)


@review_app.command("release")
def review_release(
    export_id: Annotated[str, typer.Argument()], episode_id: Annotated[str, typer.Argument()],
    actor: Annotated[str, typer.Option(help="Who releases it (audited).")] = "cli",
    target: Annotated[str, typer.Option("--to", help="The registered national CAF system.")] = "caf-national",
) -> None:
    """Check a held episode again (consent captured, identity matched) and import it if it may go."""
    hub = bootstrap(Settings())
    try:
        outcome, why = release(hub, export_id, episode_id, actor, target)
    except MigrationError as error:
        console.print(f"[red]{error}")
        raise typer.Exit(1) from None
    finally:
        hub.close()
    console.print(f"{episode_id}: {outcome}" + (f" ({why})" if why else ""))
    if outcome != "imported":
        raise typer.Exit(2)
