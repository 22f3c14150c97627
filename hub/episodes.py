"""The CAF episodes the hub has seen change hands: whose they are now, and which referral moved them.

Step-up marks an episode as social care's responsibility or closes it; the CAF system may close
it later (consent withdrawn, the family disengaged); step-down hands it back or asks for it to
be re-opened. Step-down asks this ledger whether the episode is still open, because that decides
what it asks the CAF system for. The CAF system never closes an episode by itself, so an episode
the hub has no word of closing is taken to be open.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.canonical import utcnow
from hub.store.tables import Base

SOCIAL_CARE_RESPONSIBLE = "social-care-responsible"
CLOSED = "closed"
# step-up closed it, "transfer to alternative holistic assessment"
CLOSED_FOR_TRANSFER = "closed-for-transfer"
HANDED_BACK = "handed-back"
REOPEN_REQUESTED = "reopen-requested"
REASSESSMENT_REQUESTED = "reassessment-requested"
OPEN_STATES = frozenset({SOCIAL_CARE_RESPONSIBLE, HANDED_BACK, REOPEN_REQUESTED})


class CafEpisodeRecord(Base):
    __tablename__ = "caf_episodes"
    caf_system: Mapped[str] = mapped_column(String(64), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    child_id: Mapped[str] = mapped_column(ForeignKey("children.child_id"), index=True)
    status: Mapped[str] = mapped_column(String(40))
    referral_id: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def record_episode(
    session: Session, caf_system: str, episode_id: str, child_id: str, status: str,
    referral_id: str | None = None,
) -> CafEpisodeRecord:
    row = session.get(CafEpisodeRecord, (caf_system, episode_id))
    if row is None:
        row = CafEpisodeRecord(caf_system=caf_system, episode_id=episode_id, child_id=child_id)
        session.add(row)
    row.status, row.updated_at = status, utcnow()
    if referral_id is not None:
        row.referral_id = referral_id
    return row


def episode(session: Session, caf_system: str, episode_id: str) -> CafEpisodeRecord | None:
    return session.get(CafEpisodeRecord, (caf_system, episode_id))


def episodes_of(session: Session, child_id: str) -> list[CafEpisodeRecord]:
    return list(session.execute(
        select(CafEpisodeRecord).where(CafEpisodeRecord.child_id == child_id)
        .order_by(CafEpisodeRecord.updated_at)
    ).scalars())


def is_open(row: CafEpisodeRecord | None) -> bool:
    return row is None or row.status in OPEN_STATES
