"""What each directory should show about each child, kept by the hub, applied strictly in order.

One row per child (``DirectoryChild``) carries the child's own version, raised by one at every
change the hub accepts; one row per subject (``DirectoryEntry``: the lead professional, the CAF
indicator, each involvement) holds the newest update for it, sealed, with the version the update
carried. An update whose version is not newer than the one held for its subject changes nothing:
an older update arriving after a newer one never overwrites it, and a duplicate is recognised.
Concurrent workers take the child's row lock first, so two updates about one child are decided
one after the other, never both against the same old state.

These rows are the hub's own record for ``hub directory resync``: what the directories should
show is recomputed from them, never read back from a directory (the feed is one-way).

A transaction reads a child's entries once (``held``) and keeps them up to date as it applies
updates. Every accepted change raises the child's version and stamps the entry with it, so the
highest entry version read is the child's version then: once the child's row is locked, the
entries read before are known current when the locked version is that same version, and are
read again when it is not.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    bindparam,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.util import identity_key

from hub.canonical import Envelope, utcnow
from hub.canonical.events import (
    CafIndicatorChanged,
    InvolvementChanged,
    LeadProfessionalChanged,
)
from hub.crypto import KeyRing
from hub.sealing import open_json, seal_json
from hub.store.tables import Base

LEAD_PROFESSIONAL = "lead-professional"
CAF_INDICATOR = "caf-indicator"
INVOLVEMENT = "involvement"


class DirectoryChild(Base):
    """A child the directories are told about: the child's version, raised at every change."""

    __tablename__ = "directory_children"
    child_id: Mapped[str] = mapped_column(ForeignKey("children.child_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DirectoryEntry(Base):
    """The newest update about one subject of one child's directory record, sealed."""

    __tablename__ = "directory_entries"
    child_id: Mapped[str] = mapped_column(ForeignKey("directory_children.child_id"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(BigInteger)
    stamp: Mapped[int] = mapped_column(BigInteger)  # breaks a tie between equal versions
    child_version: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(ForeignKey("inbox.message_id"), index=True)
    message_type: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str] = mapped_column(String(64))
    envelope_sealed: Mapped[bytes] = mapped_column(LargeBinary)


DirectoryEvent = LeadProfessionalChanged | InvolvementChanged | CafIndicatorChanged


@dataclass(frozen=True)
class Applied:
    """What became of one update: ``applied`` when it is now what the directory should show."""

    applied: bool
    reason: str
    subject: str
    version: int
    child_version: int


def order_of(event: DirectoryEvent) -> tuple[int, int]:
    """(version, stamp): the version the update carries (a lead professional change, its CAF
    episode's version) and, for two agreements at the same episode version, when it was agreed."""
    if isinstance(event, LeadProfessionalChanged):
        return event.episode_version, int(event.agreed_at.timestamp() * 1000)
    return event.version, 0


@dataclass
class HeldEntry:
    """One subject's newest update as a transaction read or wrote it (``DirectoryEntry``'s columns)."""

    child_id: str
    subject: str
    kind: str
    version: int
    stamp: int
    child_version: int
    message_id: str
    message_type: str
    key_id: str
    envelope_sealed: bytes
    opened: Envelope | None = field(default=None, compare=False)


@dataclass
class Held:
    """A child's entries, by subject, and the child's version they make up (0: none yet)."""

    entries: dict[str, HeldEntry]
    version: int

    def newest(self) -> HeldEntry | None:
        """The entry of the child's latest change."""
        return max(self.entries.values(), key=lambda entry: entry.child_version, default=None)


ENTRIES = DirectoryEntry.__table__
CHILDREN = DirectoryChild.__table__
HELD = "hub.directory_state.held"
_ENTRY_COLUMNS = [column for column in ENTRIES.c if column.name != "updated_at"]
_READ = select(*_ENTRY_COLUMNS).where(ENTRIES.c.child_id == bindparam("child"))
_LOCK = select(CHILDREN.c.version).where(CHILDREN.c.child_id == bindparam("child")).with_for_update()
_NEW_CHILD = {
    dialect: module.insert(CHILDREN).values(
        child_id=bindparam("child"), version=0, updated_at=bindparam("at"),
    ).on_conflict_do_nothing(index_elements=["child_id"]).returning(CHILDREN.c.version)
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}
_RAISE = update(CHILDREN).where(CHILDREN.c.child_id == bindparam("child")).values(
    version=bindparam("to"), updated_at=bindparam("at"))
_WRITTEN = ("version", "stamp", "child_version", "message_id", "message_type", "updated_at", "key_id",
            "envelope_sealed")
_ADD_ENTRY = insert(ENTRIES)
_CHANGE_ENTRY = update(ENTRIES).where(
    ENTRIES.c.child_id == bindparam("child"), ENTRIES.c.subject == bindparam("about"),
).values({name: bindparam(name) for name in _WRITTEN})


class DirectoryState:
    def __init__(self, keyring: KeyRing, secret: bytes):
        self.keyring = keyring
        self.secret = secret

    def subject(self, event: DirectoryEvent) -> tuple[str, str]:
        """(kind, subject key). An involvement is one per service; its key is a keyed hash, so
        the store never names the service (a sensitive service's name is sensitive data)."""
        if isinstance(event, LeadProfessionalChanged):
            return LEAD_PROFESSIONAL, LEAD_PROFESSIONAL
        if isinstance(event, CafIndicatorChanged):
            return CAF_INDICATOR, CAF_INDICATOR
        service = event.involvement.service.strip().casefold()
        digest = hmac.new(self.secret, f"directory-involvement:{service}".encode(), hashlib.sha256)
        return INVOLVEMENT, f"{INVOLVEMENT}:{digest.hexdigest()}"

    def apply(self, session: Session, child_id: str, envelope: Envelope, message_id: str) -> Applied:
        """Make ``envelope`` what the directory should show for its subject, if it is newer."""
        event = envelope.payload
        assert isinstance(event, DirectoryEvent)
        kind, subject = self.subject(event)
        version, stamp = order_of(event)
        connection = session.connection()
        held = self.held(session, child_id)
        child_version = self._lock_child(connection, child_id, held.version > 0)
        if child_version != held.version:  # changed since it was read: read again, under the lock
            held = self._read(session, child_id)
        entry = held.entries.get(subject)
        if entry is not None and (entry.version, entry.stamp) >= (version, stamp):
            if (entry.version, entry.stamp) == (version, stamp) and self.envelope(entry).payload == event:
                reason = f"a duplicate of version {version}, already recorded"
            else:
                reason = f"version {version} is not newer than version {entry.version} already recorded"
            return Applied(False, reason, subject, version, child_version)
        child_version += 1
        now = utcnow()
        connection.execute(_RAISE, {"child": child_id, "to": child_version, "at": now})
        sealed = seal_json(self.keyring, envelope.model_dump(mode="json"),
                           f"directory-entry:{child_id}:{subject}")
        written = HeldEntry(child_id, subject, kind, version, stamp, child_version, message_id,
                            envelope.message_type, sealed.key_id, sealed.blob)
        values = {name: getattr(written, name) for name in _WRITTEN if name != "updated_at"}
        if entry is None:
            connection.execute(_ADD_ENTRY, {**values, "child_id": child_id, "subject": subject,
                                            "kind": kind, "updated_at": now})
        else:
            connection.execute(_CHANGE_ENTRY, {**values, "child": child_id, "about": subject,
                                               "updated_at": now})
        held.entries[subject], held.version = written, child_version
        _forget_loaded(session, child_id, subject)
        return Applied(True, f"version {version} recorded", subject, version, child_version)

    def current(self, session: Session, child_id: str, event: DirectoryEvent) -> Envelope | None:
        """The update held now for the same subject as ``event``, if any."""
        _, subject = self.subject(event)
        entry = self.held(session, child_id).entries.get(subject)
        return self.envelope(entry) if entry is not None else None

    def newest(self, session: Session, child_id: str) -> Envelope | None:
        """The update of the child's latest change, if any."""
        entry = self.held(session, child_id).newest()
        return self.envelope(entry) if entry is not None else None

    def held(self, session: Session, child_id: str) -> Held:
        """The child's entries as this transaction knows them: read once, kept up to date by
        ``apply``, forgotten when the transaction ends."""
        known: dict[str, Held] | None = session.info.get(HELD)
        if known is not None and child_id in known:
            return known[child_id]
        return self._read(session, child_id)

    def _read(self, session: Session, child_id: str) -> Held:
        rows = session.connection().execute(_READ, {"child": child_id})
        entries = {row.subject: HeldEntry(**row._mapping) for row in rows}
        held = Held(entries, max((entry.child_version for entry in entries.values()), default=0))
        session.info.setdefault(HELD, {})[child_id] = held
        return held

    def entries(self, session: Session, child_ids: list[str] | None = None) -> list[DirectoryEntry]:
        query = select(DirectoryEntry).order_by(DirectoryEntry.child_id, DirectoryEntry.child_version)
        if child_ids is not None:
            query = query.where(DirectoryEntry.child_id.in_(child_ids))
        return list(session.execute(query).scalars())

    def envelope(self, entry: DirectoryEntry | HeldEntry) -> Envelope:
        if isinstance(entry, HeldEntry):
            if entry.opened is None:
                entry.opened = self._open(entry)
            return entry.opened
        return self._open(entry)

    def _open(self, entry: DirectoryEntry | HeldEntry) -> Envelope:
        return Envelope.model_validate(open_json(
            self.keyring, entry.key_id, entry.envelope_sealed,
            f"directory-entry:{entry.child_id}:{entry.subject}",
        ))

    @staticmethod
    def _lock_child(connection: Any, child_id: str, known: bool) -> int:
        """The child's version, its row created if new and locked until the transaction ends.
        A row this transaction creates is locked by its insert; one known to be there is only
        locked."""
        if not known:
            created = connection.execute(_NEW_CHILD[connection.dialect.name],
                                         {"child": child_id, "at": utcnow()}).scalar_one_or_none()
            if created is not None:
                return created
        return connection.execute(_LOCK, {"child": child_id}).scalar_one()


def _forget_loaded(session: Session, child_id: str, subject: str) -> None:
    """Rows written here as statements: a copy the session loaded before is read again if used."""
    for key in (identity_key(DirectoryEntry, (child_id, subject)), identity_key(DirectoryChild, child_id)):
        loaded = session.identity_map.get(key)
        if loaded is not None:
            session.expire(loaded)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_over(session: Session) -> None:
    session.info.pop(HELD, None)
