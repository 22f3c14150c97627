"""Through the API: a system's revoked token is refused within the documented bound
(``RECENT_TOKEN_SECONDS``), though its answers are kept in memory for that long."""

from __future__ import annotations

import time

from sqlalchemy import update

from hub.api.auth import RECENT_TOKEN_SECONDS
from hub.store.tables import ConnectedSystem
from simulators.hannah import melanie_agreed
from tests.integration.helpers import eventually, submit


def test_a_revoked_token_is_refused_within_the_bound(running_hub):
    token = running_hub.caf_token
    assert submit(running_hub.url, token, melanie_agreed("caf-msg-revoke-1")).status_code == 202

    with running_hub.database.transaction() as session:
        session.execute(update(ConnectedSystem).where(ConnectedSystem.system_id == "caf-national")
                        .values(token_sha256="0" * 64))
    revoked_at = time.monotonic()

    eventually(lambda: submit(running_hub.url, token, melanie_agreed("caf-msg-revoke-2"))
               .status_code == 401, RECENT_TOKEN_SECONDS + 10, "the revoked token to be refused")
    assert time.monotonic() - revoked_at <= RECENT_TOKEN_SECONDS + 2.0
