"""Console users, sign-in and session cookies: hashed passwords, roles, disabling, cookie flags."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from hub.api.app import create_app
from hub.bootstrap import bootstrap
from hub.cli import app as cli
from hub.console.tables import ConsoleSession, ConsoleUser
from hub.console.users import Permission, Role, User, UserError, add_user
from hub.store.tables import AuditEntry
from tests.conftest import make_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def hub(tmp_path):
    wired = bootstrap(make_settings(tmp_path, "embedded"), migrate=True)
    with wired.database.transaction() as session:
        add_user(session, "olive", Role.OPERATOR, PASSWORD, "test")
    yield wired
    wired.close()


def login(client: TestClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    form = client.get("/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return client.post("/console/login", data={"username": username, "password": password,
                                                "csrf_token": token}, follow_redirects=False)


def test_roles_grant_what_each_needs_and_no_more():
    assert User("o", Role.OPERATOR).may(Permission.REPLAY)
    assert not User("o", Role.OPERATOR).may(Permission.GATEWAY)
    assert User("d", Role.DPO).may(Permission.GATEWAY) and User("d", Role.DPO).may(Permission.REVEAL)
    assert not any(User("r", Role.READ_ONLY).may(p) for p in Permission)


def test_a_password_is_kept_only_as_an_argon2_hash_and_rules_are_named(hub):
    with hub.database.read() as session:
        row = session.get(ConsoleUser, "olive")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    with hub.database.transaction() as session, pytest.raises(UserError, match="at least 12"):
        add_user(session, "short", Role.DPO, "too short", "test")
    with hub.database.transaction() as session, pytest.raises(UserError, match="lower-case"):
        add_user(session, "Not Valid", Role.DPO, PASSWORD, "test")


def test_over_https_the_session_cookie_is_secure_http_only_strict_and_scoped(hub):
    client = TestClient(create_app(hub), base_url="https://hub.example")

    reply = login(client, "olive")

    assert reply.status_code == 303 and reply.headers["location"] == "/console/"
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("hub_console="))
    assert all(flag in cookie for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/console"))
    token = cookie.split(";")[0].split("=", 1)[1]
    with hub.database.read() as session:
        [stored] = session.execute(select(ConsoleSession)).scalars().all()
    assert stored.token_sha256 != token, "only the cookie's digest is stored"


def test_over_plain_http_the_cookie_is_not_marked_secure(hub):
    reply = login(TestClient(create_app(hub), base_url="http://127.0.0.1"), "olive")
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("hub_console="))
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_a_wrong_password_or_unknown_user_is_refused_alike_and_audited(hub):
    client = TestClient(create_app(hub), base_url="https://hub.example")

    wrong = login(client, "olive", "not the password")
    unknown = login(client, "nobody")

    assert wrong.status_code == unknown.status_code == 401
    assert "unknown user or wrong password" in wrong.text and "unknown user or wrong password" in unknown.text
    with hub.database.read() as session:
        failed = session.execute(select(AuditEntry).where(AuditEntry.action == "console.sign-in-failed")
                                 ).scalars().all()
    assert len(failed) == 2


def test_a_sign_in_without_its_csrf_token_is_refused(hub):
    client = TestClient(create_app(hub), base_url="https://hub.example")
    reply = client.post("/console/login", data={"username": "olive", "password": PASSWORD})
    assert reply.status_code == 403 and "console.csrf" in reply.text


def test_pages_need_a_session_and_the_root_leads_to_the_console(hub):
    client = TestClient(create_app(hub), base_url="https://hub.example")

    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    reply = client.get("/console/dead-letters", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/console/login?next=/console/dead-letters"
    assert login(client, "olive", PASSWORD).status_code == 303
    assert client.get("/console/dead-letters").status_code == 200
    assert client.get("/console/login?next=https://evil.example/").text.count("evil") == 0


def test_the_cli_adds_lists_and_disables_users_and_disabling_ends_their_sessions(hub, monkeypatch):
    for key, value in {"HUB_DATABASE_URL": hub.settings.resolved_database_url,
                       "HUB_ENCRYPTION_KEYS": hub.settings.encryption_keys,
                       "HUB_DATA_DIR": str(hub.settings.data_dir)}.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    added = runner.invoke(cli, ["console", "users", "add", "dana", "--role", "dpo", "--password-stdin"],
                          input=f"{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    client = TestClient(create_app(hub), base_url="https://hub.example")
    assert login(client, "dana").status_code == 303
    listed = runner.invoke(cli, ["console", "users", "list"])
    assert "dana" in listed.output and "dpo" in listed.output and "olive" in listed.output

    disabled = runner.invoke(cli, ["console", "users", "disable", "dana"])

    assert disabled.exit_code == 0, disabled.output
    assert client.get("/console/", follow_redirects=False).status_code == 303, "the session ended"
    assert login(client, "dana").status_code == 401
    again = runner.invoke(cli, ["console", "users", "add", "olive", "--role", "dpo", "--password-stdin"],
                          input=f"{PASSWORD}\n")
    assert again.exit_code == 2 and "exists already" in again.output
