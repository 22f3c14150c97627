"""The audit log: an append-only, hash-chained record of what the hub received, decided and disclosed.

Each entry's hash covers its content and the previous entry's hash, so any edit or deletion
breaks the chain at that point and ``verify_chain`` names it. Entries carry identifiers, field
names and legal bases, never personal data values. A transaction's entries are chained as it
commits, under a row lock on the chain head, so the chain stays linear with any number of
workers and the lock is held only from then to the commit.

Entries about a child carry ``subjects``: keyed hashes of the child's strong identifiers
(``consent.subjects``), the only thing in the chain that points at a person, there so a subject
access request can find every disclosure. ``audit_subjects`` indexes them for that look-up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Dialect, TypeDecorator, bindparam, event, insert, select, update
from sqlalchemy.orm import Session

from hub.canonical import utcnow
from hub.store.tables import AuditChainHead, AuditEntry, AuditSubject

GENESIS = "0" * 64
CHAIN = "main"


def _utc_stamp(moment: datetime) -> str:
    # SQLite hands timestamps back without their zone; the hub writes only UTC.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


def _entry_hash(
    prev_hash: str, seq: int, recorded_at: datetime, action: str, actor: str,
    message_id: str | None, detail: dict[str, Any],
) -> str:
    body = json.dumps(
        [prev_hash, seq, _utc_stamp(recorded_at), action, actor, message_id, detail],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _canonical(detail: dict[str, Any]) -> str:
    """The detail as the chain hashes it and the store keeps it: JSON, keys sorted, compact, with
    values JSON cannot carry written as text. Serialised once when the entry is recorded; an
    entry read back from the store serialises to the same text (``_entry_hash``)."""
    if not all(type(value) in _SCALARS or _plain(value) for value in detail.values()):
        detail = json.loads(json.dumps(detail, default=str))  # as the store would hand it back
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> bool:
    """Serialises as it would once read back: every dict in it keyed by text only."""
    if type(value) in _SCALARS:
        return True
    if isinstance(value, dict):
        return all(type(key) is str and _plain(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(type(item) in _SCALARS or _plain(item) for item in value)
    return True


def _text_hash(prev_hash: str, seq: int, stamp: str, action: str, actor: str, message_id: str | None,
               detail: str) -> str:
    """``_entry_hash`` of an entry whose detail is already serialised (``_canonical``): the same
    text, put together rather than serialised again."""
    if type(action) is str and type(actor) is str and (message_id is None or type(message_id) is str):
        head = f"[{_quoted(prev_hash)},{seq:d},{_quoted(stamp)},{_quoted(action)},{_quoted(actor)}," \
               f"{'null' if message_id is None else _quoted(message_id)}"
    else:
        head = json.dumps([prev_hash, seq, stamp, action, actor, message_id], separators=(",", ":"),
                          default=str)[:-1]
    return hashlib.sha256(f"{head},{detail}]".encode()).hexdigest()


_quoted = json.encoder.encode_basestring_ascii  # a string as ``json.dumps`` writes it


class _SerialisedJSON(TypeDecorator[Any]):
    """The JSON column, bound with text already serialised (``_canonical``): stored as it is."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


@dataclass
class _Pending:
    recorded_at: datetime
    action: str
    actor: str
    message_id: str | None
    detail: str  # serialised (``_canonical``)
    subjects: list[str]


def record(
    session: Session, action: str, actor: str, message_id: str | None = None,
    *, subjects: Sequence[str] = (), **detail: Any,
) -> None:
    """Record an entry in the caller's transaction: it commits or rolls back with the work.

    The entry is chained when the transaction commits (``_chain_pending``), so the chain head's
    row lock is held from then to the commit, not for the whole of the work: audited
    transactions of any number of workers queue only for that moment."""
    if subjects:
        detail["subjects"] = sorted(set(subjects))
    pending = session.info.setdefault(PENDING, [])
    pending.append(_Pending(utcnow(), action, actor, message_id, _canonical(detail), sorted(set(subjects))))


PENDING = "hub.audit.pending"


ENTRIES = AuditEntry.__table__
HEADS = AuditChainHead.__table__
# written as statements on the tables on the transaction's connection, not through the unit of
# work or the ORM's bulk insert: one statement per table, at commit
_HEAD = select(HEADS.c.last_seq, HEADS.c.last_hash).where(HEADS.c.chain == CHAIN).with_for_update()
_ADD_ENTRIES = insert(ENTRIES).values(detail=bindparam("detail_text", type_=_SerialisedJSON()))
_ADD_SUBJECTS = insert(AuditSubject.__table__)
_NEW_HEAD = insert(HEADS).values(chain=CHAIN)
_MOVE_HEAD = update(HEADS).where(HEADS.c.chain == CHAIN)


@event.listens_for(Session, "before_commit")
def _chain_pending(session: Session) -> None:
    """Append the transaction's recorded entries to the chain, in the order they were recorded.

    The transaction's own changes are flushed first, so the chain head's lock is taken last and
    held only while the entries are written and the transaction commits."""
    if not session.info.get(PENDING):
        session.info.pop(PENDING, None)
        return
    session.flush()
    pending = session.info.pop(PENDING)
    connection = session.connection()
    head = connection.execute(_HEAD).one_or_none()
    seq, last_hash = head if head is not None else (0, GENESIS)
    entries, subjects = [], []
    for item in pending:
        seq += 1
        digest = _text_hash(last_hash, seq, _utc_stamp(item.recorded_at), item.action, item.actor,
                            item.message_id, item.detail)
        entries.append(dict(
            seq=seq, recorded_at=item.recorded_at, action=item.action, actor=item.actor,
            message_id=item.message_id, detail_text=item.detail, prev_hash=last_hash, entry_hash=digest,
        ))
        subjects.extend(dict(seq=seq, subject_key=subject) for subject in item.subjects)
        last_hash = digest
    connection.execute(_ADD_ENTRIES, entries)
    if subjects:
        connection.execute(_ADD_SUBJECTS, subjects)
    connection.execute(_NEW_HEAD if head is None else _MOVE_HEAD, {"last_seq": seq, "last_hash": last_hash})


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop(PENDING, None)


def entry_intact(entry: AuditEntry) -> bool:
    """The entry's own hash still matches its content (its place in the chain is ``verify_chain``'s)."""
    return _entry_hash(
        entry.prev_hash, entry.seq, entry.recorded_at, entry.action, entry.actor, entry.message_id,
        entry.detail,
    ) == entry.entry_hash


@dataclass(frozen=True)
class ChainStatus:
    entries: int
    intact: bool
    broken_at: int | None = None
    problem: str | None = None


def _check_head(session: Session, count: int, last_seq: int, last_hash: str) -> ChainStatus:
    """The head row remembers the newest entry, so deleting the newest entries is seen too."""
    head = session.get(AuditChainHead, CHAIN)
    if head is None:
        return ChainStatus(count, count == 0, None if count == 0 else 1,
                           None if count == 0 else "the chain head is missing")
    if (head.last_seq, head.last_hash) != (last_seq, last_hash):
        return ChainStatus(count, False, last_seq + 1, "the newest entries are missing or altered")
    return ChainStatus(entries=count, intact=True)


def verify_chain(session: Session, batch: int = 5000) -> ChainStatus:
    """Walk the whole chain in sequence order and check every link and every hash."""
    prev_hash, expected_seq, count, last_seq = GENESIS, 1, 0, 0
    while True:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.seq > last_seq).order_by(AuditEntry.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return _check_head(session, count, last_seq, prev_hash)
        for entry in rows:
            if entry.seq != expected_seq:
                return ChainStatus(count, False, expected_seq, "an entry is missing")
            if entry.prev_hash != prev_hash:
                return ChainStatus(count, False, entry.seq, "the link to the previous entry is broken")
            digest = _entry_hash(
                entry.prev_hash, entry.seq, entry.recorded_at, entry.action, entry.actor,
                entry.message_id, entry.detail,
            )
            if digest != entry.entry_hash:
                return ChainStatus(count, False, entry.seq, "the entry was altered")
            prev_hash, expected_seq, count, last_seq = entry.entry_hash, entry.seq + 1, count + 1, entry.seq
