"""Identity resolution for a batch of records at once (a migration's batch of episodes).

``BatchResolver`` gives each record the outcome ``IdentityResolver.resolve`` would give it if
the records were resolved one after another in the same transaction, with the look-ups made for
the whole batch: the batch's identifiers and demographic keys are read with a few queries, the
children and links the batch opens are kept in memory as well (so a later record of the batch
finds an earlier record's child) and written with one insert per table by ``write``.

Only the two plain cases are settled here: every identifier the store knows points at one child
whose national identifiers agree (identified), or nothing is known of the child at all (a new
child). Anything else (identifiers of two children, a national identifier that differs, a
demographic match, a shielded child, too little to identify) is handed to ``resolve`` itself,
after what the batch decided so far is written, and the batch's view is read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from hub.audit import record
from hub.canonical import new_id, utcnow
from hub.canonical.people import Child
from hub.identity import NATIONAL, IdentityResolver, Resolution
from hub.store.tables import ChildDemographic, ChildLink, ChildRecord

CHUNK = 500  # values per IN (...) look-up


@dataclass
class _Record:
    child: Child
    system: str
    message_id: str
    links: dict[str, tuple[str, str]]
    full: str | None
    partial: str | None


@dataclass
class _Known:
    """Children, links and demographic keys as the store and the batch so far know them."""

    links: dict[str, str] = field(default_factory=dict)  # link key -> child id
    schemes: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # child -> (scheme, link key)
    demographics: set[tuple[str, str]] = field(default_factory=set)  # (child id, full key)
    by_full: dict[str, set[str]] = field(default_factory=dict)  # full key -> child ids
    by_partial: dict[str, set[str]] = field(default_factory=dict)  # partial key -> child ids

    def link(self, key: str, child_id: str, scheme: str) -> None:
        self.links[key] = child_id
        self.schemes.setdefault(child_id, set()).add((scheme, key))

    def demographic(self, child_id: str, full: str, partial: str) -> None:
        self.demographics.add((child_id, full))
        self.by_full.setdefault(full, set()).add(child_id)
        self.by_partial.setdefault(partial, set()).add(child_id)


class BatchResolver:
    def __init__(self, resolver: IdentityResolver):
        self.resolver = resolver

    def resolve_many(self, session: Session, items: Sequence[tuple[Child, str, str]]) -> list[Resolution]:
        """(child, system, message id) -> the resolution of each, as ``resolve`` one after another.
        The batch's new rows are in the transaction when this returns."""
        records = [_Record(child, system, message_id, self.resolver.link_keys(child, system),
                           *self.resolver.demographic_keys(child))
                   for child, system, message_id in items]
        rows = _Rows()
        known = self._read(session, records)
        resolutions: list[Resolution] = []
        for position, item in enumerate(records):
            resolution = self._quick(session, item, known, rows)
            if resolution is None:
                rows.write(session)
                resolution = self.resolver.resolve(session, item.child, item.system, item.message_id)
                session.flush()
                known = self._read(session, records[position + 1:])
            resolutions.append(resolution)
        rows.write(session)
        return resolutions

    def _quick(self, session: Session, item: _Record, known: _Known, rows: _Rows) -> Resolution | None:
        """The plain cases, or None for ``resolve`` to settle."""
        if item.child.shielded:
            return None
        matched = {key: known.links[key] for key in item.links if key in known.links}
        children = set(matched.values())
        if len(children) > 1:
            return None
        now = utcnow()
        if children:
            child_id = children.pop()
            existing = known.schemes.get(child_id, set())
            for key, (scheme, _scope) in item.links.items():
                if scheme in NATIONAL and key not in matched and \
                        any(s == scheme and k != key for s, k in existing):
                    return None
            self._link(item, child_id, matched, "identifier", known, rows, now)
            return Resolution("identified", "matched on a strong identifier", child_id)
        if (item.full is not None and item.full in known.by_full) or \
                (item.partial is not None and item.partial in known.by_partial):
            return None
        if not item.links and item.full is None:
            return None
        child_id = new_id()
        rows.children.append(dict(child_id=child_id, created_at=now, created_from=item.message_id,
                                  shielded=False))
        record(session, "identity.new-child", "hub", item.message_id, child_id=child_id)
        self._link(item, child_id, {}, "new", known, rows, now)
        return Resolution("new", "no record of this child yet: a new one was opened", child_id)

    @staticmethod
    def _link(item: _Record, child_id: str, matched: dict[str, str], basis: str, known: _Known,
              rows: _Rows, now: Any) -> None:
        for key, (scheme, _scope) in item.links.items():
            if key not in matched:
                rows.links.append(dict(link_key=key, child_id=child_id, scheme=scheme,
                                       source_system=item.system, basis=basis, linked_at=now))
                known.link(key, child_id, scheme)
        if item.full and item.partial and (child_id, item.full) not in known.demographics:
            rows.demographics.append(dict(child_id=child_id, full_key=item.full, partial_key=item.partial))
            known.demographic(child_id, item.full, item.partial)

    @staticmethod
    def _read(session: Session, records: Sequence[_Record]) -> _Known:
        """What the store knows of the records' identifiers and demographic keys, and every link
        of the children they point at."""
        known = _Known()
        keys = sorted({key for item in records for key in item.links})
        for part in _chunks(keys):
            for key, child_id, scheme in session.execute(
                    select(ChildLink.link_key, ChildLink.child_id, ChildLink.scheme)
                    .where(ChildLink.link_key.in_(part))):
                known.link(key, child_id, scheme)
        for part in _chunks(sorted(set(known.links.values()))):
            for key, child_id, scheme in session.execute(
                    select(ChildLink.link_key, ChildLink.child_id, ChildLink.scheme)
                    .where(ChildLink.child_id.in_(part))):
                known.link(key, child_id, scheme)
        fulls = sorted({item.full for item in records if item.full})
        partials = sorted({item.partial for item in records if item.partial})
        for full_part, partial_part in _pairs(fulls, partials):
            for child_id, full, partial in session.execute(
                    select(ChildDemographic.child_id, ChildDemographic.full_key, ChildDemographic.partial_key)
                    .where(or_(ChildDemographic.full_key.in_(full_part),
                               ChildDemographic.partial_key.in_(partial_part)))):
                known.demographic(child_id, full, partial)
        return known


@dataclass
class _Rows:
    """The batch's new children, links and demographic keys, not yet written."""

    children: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    demographics: list[dict[str, Any]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        for table, rows in ((ChildRecord, self.children), (ChildLink, self.links),
                            (ChildDemographic, self.demographics)):
            if rows:
                session.execute(insert(table.__table__), rows)
            rows.clear()


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[start:start + CHUNK] for start in range(0, len(values), CHUNK)]


def _pairs(first: Sequence[str], second: Sequence[str]) -> list[tuple[Sequence[str], Sequence[str]]]:
    """The two lists cut into pieces side by side, for one query per pair of pieces."""
    a, b = _chunks(first), _chunks(second)
    count = max(len(a), len(b))
    return [(a[i] if i < len(a) else [], b[i] if i < len(b) else []) for i in range(count)]
