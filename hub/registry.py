"""The connected-system registry: who may call the hub, with what, and where the hub delivers to them.

Tokens are 256-bit random values shown once at registration; only their SHA-256 is stored (a
slow password hash buys nothing for a random secret of that length and would cost every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.registry import KINDS, default_message_types
from hub.audit import record
from hub.canonical import utcnow
from hub.store.tables import ConnectedSystem


class RegistryError(ValueError):
    """A registration that cannot be made as asked."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Registration:
    system: ConnectedSystem
    token: str


def register(
    session: Session, system_id: str, name: str, kind: str, endpoint_url: str | None = None,
    allowed_in: list[str] | None = None, allowed_out: list[str] | None = None, actor: str = "cli",
    profile: str = "standard",
) -> Registration:
    if kind not in KINDS:
        raise RegistryError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if session.get(ConnectedSystem, system_id) is not None:
        raise RegistryError(f"a system {system_id!r} is already registered")
    can_read, can_render = default_message_types(kind)
    for wanted, possible, direction in ((allowed_in, can_read, "in"), (allowed_out, can_render, "out")):
        unknown = set(wanted or ()) - set(possible)
        if unknown:
            raise RegistryError(
                f"a {kind} cannot {'send' if direction == 'in' else 'receive'} "
                f"{', '.join(sorted(unknown))}"
            )
    if not endpoint_url:
        if allowed_out or not can_read:
            raise RegistryError(f"a {kind} that receives messages needs an endpoint URL")
        allowed_out = []  # registered without an endpoint: it only sends
    token = secrets.token_urlsafe(32)
    system = ConnectedSystem(
        system_id=system_id, name=name, kind=kind, profile=profile,
        token_sha256=token_digest(token),
        allowed_in=sorted(allowed_in if allowed_in is not None else can_read),
        allowed_out=sorted(allowed_out if allowed_out is not None else can_render),
        endpoint_url=endpoint_url.rstrip("/") if endpoint_url else None, registered_at=utcnow(),
    )
    session.add(system)
    session.info.pop(SYSTEMS_READ, None)
    record(session, "system.registered", actor, system=system_id, kind=kind, profile=profile)
    return Registration(system=system, token=token)


def authenticate(session: Session, token: str) -> ConnectedSystem | None:
    digest = token_digest(token)
    system = session.execute(
        select(ConnectedSystem).where(ConnectedSystem.token_sha256 == digest)
    ).scalar_one_or_none()
    if system is not None and hmac.compare_digest(system.token_sha256, digest):
        return system
    return None


SYSTEMS_READ = "registry.systems"


def receivers(session: Session, message_type: str) -> list[ConnectedSystem]:
    """The systems that receive ``message_type``, read once per transaction: a message's flow
    asks for several message types, and the registry does not change under one transaction."""
    systems = session.info.get(SYSTEMS_READ)
    if systems is None:
        systems = session.info[SYSTEMS_READ] = all_systems(session)
    return [s for s in systems if message_type in s.allowed_out]


def all_systems(session: Session) -> list[ConnectedSystem]:
    return list(session.execute(select(ConnectedSystem).order_by(ConnectedSystem.system_id)).scalars())
