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
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

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
        child = self._lock_child(session, child_id)
        entry = session.get(DirectoryEntry, (child_id, subject))
        if entry is not None and (entry.version, entry.stamp) >= (version, stamp):
            if (entry.version, entry.stamp) == (version, stamp) and self.envelope(entry).payload == event:
                reason = f"a duplicate of version {version}, already recorded"
            else:
                reason = f"version {version} is not newer than version {entry.version} already recorded"
            return Applied(False, reason, subject, version, child.version)
        child.version += 1
        child.updated_at = utcnow()
        sealed = seal_json(self.keyring, envelope.model_dump(mode="json"),
                           f"directory-entry:{child_id}:{subject}")
        if entry is None:
            entry = DirectoryEntry(child_id=child_id, subject=subject, kind=kind)
            session.add(entry)
        entry.version, entry.stamp, entry.child_version = version, stamp, child.version
        entry.message_id, entry.message_type = message_id, envelope.message_type
        entry.updated_at, entry.key_id, entry.envelope_sealed = utcnow(), sealed.key_id, sealed.blob
        session.flush()
        return Applied(True, f"version {version} recorded", subject, version, child.version)

    def current(self, session: Session, child_id: str, event: DirectoryEvent) -> Envelope | None:
        """The update held now for the same subject as ``event``, if any."""
        _, subject = self.subject(event)
        entry = session.get(DirectoryEntry, (child_id, subject))
        return self.envelope(entry) if entry is not None else None

    def entries(self, session: Session, child_ids: list[str] | None = None) -> list[DirectoryEntry]:
        query = select(DirectoryEntry).order_by(DirectoryEntry.child_id, DirectoryEntry.child_version)
        if child_ids is not None:
            query = query.where(DirectoryEntry.child_id.in_(child_ids))
        return list(session.execute(query).scalars())

    def envelope(self, entry: DirectoryEntry) -> Envelope:
        return Envelope.model_validate(open_json(
            self.keyring, entry.key_id, entry.envelope_sealed,
            f"directory-entry:{entry.child_id}:{entry.subject}",
        ))

    @staticmethod
    def _lock_child(session: Session, child_id: str) -> DirectoryChild:
        """The child's row, created if new, locked until the transaction ends."""
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(DirectoryChild).values(child_id=child_id, version=0, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["child_id"])
        )
        return session.execute(
            select(DirectoryChild).where(DirectoryChild.child_id == child_id)
            .with_for_update().execution_options(populate_existing=True)
        ).scalar_one()
