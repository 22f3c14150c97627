"""Bearer-token authentication of connected systems and operators.

A system's token is looked up in the registry, and the answer kept in this process for at most
``RECENT_TOKEN_SECONDS``, keyed by the token's SHA-256 (the token itself is not kept): requests
in a burst from one system cost one store read, not one each. So a token revoked or rotated, or a
system removed from the registry or changed (what it may send, its profile), is refused or seen
as changed by every API process at most ``RECENT_TOKEN_SECONDS`` after the change is committed.
A token the registry does not know is never kept: it goes to the store on every request, and a
newly registered system is answered at once.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from weakref import WeakKeyDictionary

from fastapi import Request

from hub.bootstrap import Hub
from hub.registry import authenticate, token_digest
from hub.store.database import Database
from hub.store.tables import ConnectedSystem

OPERATOR = "operator"
RECENT_TOKEN_SECONDS = 5.0
RECENT_TOKEN_LIMIT = 1024


class RecentTokens:
    """Systems recently authenticated, by their token's digest, each for ``lifetime`` seconds
    counted from before the store was read (so an answer is never older than that)."""

    def __init__(self, lifetime: float = RECENT_TOKEN_SECONDS, limit: int = RECENT_TOKEN_LIMIT,
                 clock: Callable[[], float] = time.monotonic):
        self.lifetime = lifetime
        self.limit = limit
        self.clock = clock
        self._systems: dict[str, tuple[float, ConnectedSystem]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> ConnectedSystem | None:
        kept = self._systems.get(digest)
        if kept is None:
            return None
        if self.clock() >= kept[0]:
            with self._lock:
                if self._systems.get(digest) is kept:
                    del self._systems[digest]
            return None
        return kept[1]

    def keep(self, digest: str, system: ConnectedSystem, read_at: float) -> None:
        with self._lock:
            if len(self._systems) >= self.limit:
                now = self.clock()
                for stale in [d for d, (until, _) in self._systems.items() if now >= until]:
                    del self._systems[stale]
                while len(self._systems) >= self.limit:  # the oldest kept goes first
                    del self._systems[next(iter(self._systems))]
            self._systems.pop(digest, None)
            self._systems[digest] = (read_at + self.lifetime, system)

    def __len__(self) -> int:
        return len(self._systems)

    def digests(self) -> list[str]:
        return list(self._systems)


_recent: WeakKeyDictionary[Database, RecentTokens] = WeakKeyDictionary()
_recent_lock = threading.Lock()


def recent_tokens(hub: Hub) -> RecentTokens:
    """The tokens this process recently authenticated against ``hub``'s store."""
    recent = _recent.get(hub.database)
    if recent is None:
        with _recent_lock:
            recent = _recent.setdefault(hub.database, RecentTokens())
    return recent


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def caller(hub: Hub, request: Request) -> ConnectedSystem | str | None:
    """The registered system the token belongs to, ``OPERATOR``, or None for an unknown caller.
    A system is read-only here: the same instance may answer several requests at once."""
    token = bearer(request)
    if token is None:
        return None
    operator = hub.settings.operator_token
    if operator and hmac.compare_digest(token.encode(), operator.encode()):
        return OPERATOR
    digest = token_digest(token)
    recent = recent_tokens(hub)
    system = recent.get(digest)
    if system is not None:
        return system
    read_at = recent.clock()
    with hub.database.read() as session:
        system = authenticate(session, token)
        if system is None:
            return None
        session.expunge(system)
    recent.keep(digest, system, read_at)
    return system
