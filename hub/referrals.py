"""The referral ledger: every referral into social care, its child, referrer, episode and outcome.

Lets the hub link a re-referral to the open referral instead of duplicating it, route the case
system's allocation and decision back to the CAF episode and the referrer, and read a referral's
whole story back under its correlation id.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.canonical import utcnow
from hub.store.tables import ReferralRecord

OPEN = "open"


def open_referral(session: Session, child_id: str) -> ReferralRecord | None:
    return session.execute(
        select(ReferralRecord).where(ReferralRecord.child_id == child_id,
                                     ReferralRecord.status == OPEN)
        .order_by(ReferralRecord.opened_at)
    ).scalars().first()


def by_reference(session: Session, child_id: str | None, reference: str) -> ReferralRecord | None:
    """The referral a case system's answer is about, by the referrer's own referral id."""
    query = select(ReferralRecord).where(ReferralRecord.referrer_reference == reference)
    if child_id is not None:
        query = query.where(ReferralRecord.child_id == child_id)
    return session.execute(query.order_by(ReferralRecord.opened_at.desc())).scalars().first()


def record_referral(
    session: Session, referral_id: str, correlation_id: str, child_id: str | None,
    referrer_system: str, referrer_reference: str, status: str, caf_system: str | None = None,
    episode_id: str | None = None, previous: str | None = None,
) -> ReferralRecord:
    row = session.get(ReferralRecord, referral_id)
    if row is None:
        row = ReferralRecord(referral_id=referral_id, opened_at=utcnow())
        session.add(row)
    row.correlation_id, row.child_id, row.status = correlation_id, child_id, status
    row.referrer_system, row.referrer_reference = referrer_system, referrer_reference
    row.caf_system, row.episode_id, row.previous_referral_id = caf_system, episode_id, previous
    return row
