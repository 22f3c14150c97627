"""Console users and what each role may do. Passwords are kept only as Argon2id hashes.

Roles: an ``operator`` runs the hub (replays and discards dead letters, records consent, may
reveal personal data, audited); a ``dpo`` (data protection officer) oversees sharing (records
consent and gateway decisions, may reveal personal data, audited); ``read-only`` sees every page
with personal data masked and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import record
from hub.canonical import utcnow
from hub.console.tables import ConsoleSession, ConsoleUser

HASHER = PasswordHasher()
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
# verified against when the username is unknown, so a wrong name costs as long as a wrong password
_DUMMY_HASH = HASHER.hash("not a password of anyone's")


class Role(StrEnum):
    OPERATOR = "operator"
    DPO = "dpo"
    READ_ONLY = "read-only"


class Permission(StrEnum):
    REVEAL = "reveal personal data"
    REPLAY = "replay or discard dead letters"
    CONSENT = "record or withdraw consent"
    GATEWAY = "record a gateway decision"
    TRY_MAPPING = "try a message against a mapping"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset({Permission.REVEAL, Permission.REPLAY, Permission.CONSENT,
                              Permission.TRY_MAPPING}),
    Role.DPO: frozenset({Permission.REVEAL, Permission.CONSENT, Permission.GATEWAY,
                         Permission.TRY_MAPPING}),
    Role.READ_ONLY: frozenset(),
}

ROLE_NAMES = {Role.OPERATOR: "operator", Role.DPO: "data protection officer", Role.READ_ONLY: "read-only"}


class UserError(ValueError):
    """A user that cannot be created or changed as asked."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return f"console:{self.username}"

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]


def add_user(session: Session, username: str, role: Role, password: str, actor: str) -> ConsoleUser:
    if not USERNAME.match(username):
        raise UserError("a username is 2-64 characters: lower-case letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")
    if session.get(ConsoleUser, username) is not None:
        raise UserError(f"user {username} exists already")
    row = ConsoleUser(username=username, role=role.value, password_hash=HASHER.hash(password),
                      disabled=False, created_at=utcnow(), created_by=actor)
    session.add(row)
    record(session, "console.user-added", actor, None, username=username, role=role.value)
    return row


def disable_user(session: Session, username: str, actor: str) -> None:
    """Disable a user and end every session they have open."""
    row = session.get(ConsoleUser, username, with_for_update=True)
    if row is None:
        raise UserError(f"no user {username}")
    row.disabled = True
    for open_session in session.execute(
            select(ConsoleSession).where(ConsoleSession.username == username)).scalars():
        session.delete(open_session)
    record(session, "console.user-disabled", actor, None, username=username)


def all_users(session: Session) -> list[ConsoleUser]:
    return list(session.execute(select(ConsoleUser).order_by(ConsoleUser.username)).scalars())


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user, if the name is known, enabled and the password right; None otherwise."""
    row = session.get(ConsoleUser, username)
    try:
        HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    if HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = HASHER.hash(password)
    return User(row.username, Role(row.role))
