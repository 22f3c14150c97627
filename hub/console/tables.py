"""The console's tables: its users, their sessions, and dead letters discarded by a person.

Also the indexes the console's pages need on the message path's tables (newest first, per
status), declared here so the metadata matches migration 0008.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.tables import Base, DeadLetter, Delivery, InboxMessage


def when() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True))


class ConsoleUser(Base):
    """A person who may use the console, with one role and an Argon2 password hash."""

    __tablename__ = "console_users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = when()
    created_by: Mapped[str] = mapped_column(String(100))


class ConsoleSession(Base):
    """A signed-in browser: only the SHA-256 of its cookie is kept, with its CSRF token."""

    __tablename__ = "console_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = when()
    last_seen_at: Mapped[datetime] = when()
    expires_at: Mapped[datetime] = when()


class DeadLetterDiscard(Base):
    """A dead letter a person decided not to send: who, when, and why (the reason kept sealed)."""

    __tablename__ = "dead_letter_discards"
    dead_letter_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(36), index=True)
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    destination: Mapped[str] = mapped_column(String(64))
    dead_reason: Mapped[str] = mapped_column(Text)
    discarded_by: Mapped[str] = mapped_column(String(100))
    discarded_at: Mapped[datetime] = when()
    key_id: Mapped[str] = mapped_column(String(64))
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)


# what the dashboard, the trace and the lists read, so that they stay fast with volume
# covering: the dashboard counts a window of traffic from the index alone
Index("ix_inbox_received_traffic", InboxMessage.received_at, InboxMessage.source_system,
      InboxMessage.message_type, InboxMessage.status)
Index("ix_inbox_status", InboxMessage.status)
Index("ix_deliveries_created_traffic", Delivery.created_at, Delivery.destination, Delivery.message_type,
      Delivery.status)
Index("ix_deliveries_status_destination", Delivery.status, Delivery.destination)
Index("ix_dead_letters_dead_at", DeadLetter.dead_at)
