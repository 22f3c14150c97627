"""Console sessions: an opaque random cookie, its SHA-256 in the store, and a CSRF token per session.

The cookie is HttpOnly, SameSite=Strict, scoped to the console's path, and Secure whenever the
console is served over https. A session ends after ``IDLE`` without use, after ``LIFETIME`` in
any case, at sign-out, and when its user is disabled. Every state-changing form carries the
session's CSRF token (the synchronizer token pattern); the sign-in form, before there is a
session, carries a token matched against a short-lived cookie of its own (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from hub.canonical import utcnow
from hub.console.tables import ConsoleSession, ConsoleUser
from hub.console.users import Role, User

COOKIE = "hub_console"
LOGIN_COOKIE = "hub_console_login"
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int,
               path: str) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="strict",
                        secure=is_secure(request))


def start(session: Session, user: User) -> tuple[str, ConsoleSession]:
    """A new session for a signed-in user; returns the cookie value (never stored) and the row."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = ConsoleSession(token_sha256=_digest(token), username=user.username,
                         csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now,
                         expires_at=now + LIFETIME)
    session.add(row)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    return token, row


@dataclass(frozen=True)
class Signed:
    """What a cookie stands for: the user and the session's CSRF token, or a session that ended."""

    user: User | None
    csrf_token: str = ""
    stale: bool = False  # in use, but last seen long enough ago to note it


def lookup(session: Session, token: str | None) -> Signed | None:
    """Read-only: None for no session; ``Signed(None)`` for one that has ended (to remove)."""
    if not token:
        return None
    row = session.get(ConsoleSession, _digest(token))
    if row is None:
        return None
    now = utcnow()
    if _aware(row.expires_at) < now or _aware(row.last_seen_at) + IDLE < now:
        return Signed(None)
    user = session.get(ConsoleUser, row.username)
    if user is None or user.disabled:
        return Signed(None)
    stale = _aware(row.last_seen_at) + TOUCH_EVERY < now
    return Signed(User(user.username, Role(user.role)), row.csrf_token, stale)


def touch(session: Session, token: str) -> None:
    row = session.get(ConsoleSession, _digest(token), with_for_update=True)
    if row is not None:
        row.last_seen_at = utcnow()


def end(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_sha256 == _digest(token)))


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(expected.encode(), given.encode())
