"""The console's fixtures: the step-up hub with simulated systems, three users, a signed-in client."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from hub.console.users import Role, add_user
from tests.integration.test_step_up import step_up_hub  # noqa: F401  (the hub every console test uses)

PASSWORD = "correct horse battery"
USERS = {"olive": Role.OPERATOR, "dana": Role.DPO, "rory": Role.READ_ONLY}


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(base_url: str, username: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=True)
    form = client.get("/console/login")
    reply = client.post("/console/login", data={"username": username, "password": password,
                                                 "csrf_token": csrf(form.text), "next": "/console/"})
    assert reply.status_code == 200 and "Sign out" in reply.text, reply.text[:500]
    return client


@pytest.fixture
def console_hub(step_up_hub):  # noqa: F811
    with step_up_hub.hub.database.transaction() as session:
        for username, role in USERS.items():
            add_user(session, username, role, PASSWORD, "test")
    return step_up_hub


@pytest.fixture
def operator(console_hub) -> Iterator[httpx.Client]:
    client = sign_in(console_hub.url, "olive")
    yield client
    client.close()


@pytest.fixture
def reader(console_hub) -> Iterator[httpx.Client]:
    client = sign_in(console_hub.url, "rory")
    yield client
    client.close()
