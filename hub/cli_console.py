"""``hub console users``: the people who may use the operations console, and their roles."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.cli_consent import running_hub
from hub.console.users import MIN_PASSWORD, Role, UserError, add_user, all_users, disable_user

CLI_ACTOR = "operator:cli"

app = typer.Typer(help="The operations console (served by `hub serve` at /console).", no_args_is_help=True)
users_app = typer.Typer(help="Console users and their roles: operator, dpo, read-only.", no_args_is_help=True)
app.add_typer(users_app, name="users")
console = Console()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password (at least {MIN_PASSWORD} characters): ")
    if first != getpass.getpass("again: "):
        console.print("[red]error:[/] the passwords differ")
        raise typer.Exit(2)
    return first


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Sign-in name: lower-case letters, digits, . _ -")],
    role: Annotated[Role, typer.Option(help="operator, dpo (data protection officer) or read-only.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input.")] = False,
) -> None:
    """Add a console user; the password is asked for (never an argument) and kept as an Argon2 hash."""
    password = _password(password_stdin)
    with running_hub() as hub:
        try:
            with hub.database.transaction() as session:
                add_user(session, username, role, password, CLI_ACTOR)
        except UserError as error:
            console.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None
    console.print(f"added {username} ({role.value})")


@users_app.command("list")
def users_list() -> None:
    """The console's users, their roles, and whether they are disabled."""
    with running_hub() as hub, hub.database.read() as session:
        rows = [(u.username, u.role, "disabled" if u.disabled else "active", u.created_at, u.created_by)
                for u in all_users(session)]
    table = Table("user", "role", "status", "added", "by")
    for username, role, status, created_at, created_by in rows:
        table.add_row(username, role, status, created_at.isoformat(timespec="seconds"), created_by)
    console.print(table)


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user; their open sessions end at once."""
    with running_hub() as hub:
        try:
            with hub.database.transaction() as session:
                disable_user(session, username, CLI_ACTOR)
        except UserError as error:
            console.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None
    console.print(f"disabled {username}")
