"""Bearer-token authentication of connected systems and operators."""

from __future__ import annotations

import hmac

from fastapi import Request

from hub.bootstrap import Hub
from hub.registry import authenticate
from hub.store.tables import ConnectedSystem

OPERATOR = "operator"


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def caller(hub: Hub, request: Request) -> ConnectedSystem | str | None:
    """The registered system the token belongs to, ``OPERATOR``, or None for an unknown caller."""
    token = bearer(request)
    if token is None:
        return None
    operator = hub.settings.operator_token
    if operator and hmac.compare_digest(token.encode(), operator.encode()):
        return OPERATOR
    with hub.database.read() as session:
        system = authenticate(session, token)
        if system is not None:
            session.expunge(system)
        return system
