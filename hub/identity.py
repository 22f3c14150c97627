"""Identity resolution: which child is this, across systems, and never a guessed link.

Strong identifiers first (NHS number, UPN, directory id; a system's own LA child id or CAF child
id, scoped to that system). Only when none is known does the hub compare name, date of birth,
gender and postcode, and only an exact match on all four links without a person. Everything
else the hub cannot justify (identifiers pointing at two children, a record whose NHS number
differs from the one already known, a near match, a shielded child with no strong match) goes
to a review queue for a person to decide.

Identifiers and demographics are kept only as keyed hashes (HMAC with the hub's secret), so the
cross-reference cannot be read back or searched by anyone without that secret. They are read and
written as statements on their tables in the caller's transaction, not as mapped objects.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from consent.subjects import SubjectKeys, normalise
from hub.audit import record
from hub.canonical import new_id, utcnow
from hub.canonical.people import Child
from hub.store.tables import ChildDemographic, ChildLink, ChildRecord, IdentityReview

NATIONAL = ("nhs_number", "upn", "directory_id")
LOCAL = ("la_child_id", "caf_child_id")

Outcome = Literal["identified", "matched-demographics", "new", "review"]

LINKS = ChildLink.__table__
DEMOGRAPHICS = ChildDemographic.__table__
CHILDREN = ChildRecord.__table__
_LINKED = select(LINKS.c.link_key, LINKS.c.child_id).where(
    LINKS.c.link_key.in_(bindparam("keys", expanding=True)))
_CHILD_LINKS = select(LINKS.c.scheme, LINKS.c.link_key).where(LINKS.c.child_id == bindparam("child"))
_DEMOGRAPHIC_COLUMNS = (DEMOGRAPHICS.c.child_id, DEMOGRAPHICS.c.full_key, DEMOGRAPHICS.c.partial_key)
_MATCHING = {
    (True, True): select(*_DEMOGRAPHIC_COLUMNS).where(or_(
        DEMOGRAPHICS.c.full_key == bindparam("full"), DEMOGRAPHICS.c.partial_key == bindparam("partial"))),
    (True, False): select(*_DEMOGRAPHIC_COLUMNS).where(DEMOGRAPHICS.c.full_key == bindparam("full")),
    (False, True): select(*_DEMOGRAPHIC_COLUMNS).where(DEMOGRAPHICS.c.partial_key == bindparam("partial")),
}
_HAS_DEMOGRAPHIC = select(DEMOGRAPHICS.c.child_id).where(
    DEMOGRAPHICS.c.child_id == bindparam("child"), DEMOGRAPHICS.c.full_key == bindparam("full"))
_ADD_CHILD = insert(CHILDREN)
_ADD_LINKS = insert(LINKS)
_ADD_DEMOGRAPHIC = insert(DEMOGRAPHICS)
_SHIELD = update(CHILDREN).where(CHILDREN.c.child_id == bindparam("child")).values(shielded=True)


@dataclass(frozen=True)
class Resolution:
    outcome: Outcome
    reason: str
    child_id: str | None = None
    review_id: str | None = None


class IdentityResolver:
    def __init__(self, subjects: SubjectKeys):
        self.subjects = subjects

    def _hash(self, domain: str, text: str) -> str:
        return hmac.new(self.subjects.secret, f"{domain}:{text}".encode(), hashlib.sha256).hexdigest()

    def link_keys(self, child: Child, system: str) -> dict[str, tuple[str, str]]:
        """link key -> (scheme, scope) for each identifier the record carries."""
        keys = {}
        for scheme in NATIONAL + LOCAL:
            value = getattr(child.identifiers, scheme)
            if value is None or not value.strip():
                continue
            scope = "" if scheme in NATIONAL else system
            keys[self._hash("link", f"{scheme}:{scope}:{normalise(scheme, value)}")] = (scheme, scope)
        return keys

    def demographic_keys(self, child: Child) -> tuple[str | None, str | None]:
        """(full key on name + date of birth + gender + postcode, partial key on family name +
        date of birth), each None when the record lacks what it needs."""
        if child.date_of_birth is None:
            return None, None
        family, given = _fold(child.name.family), _fold(child.name.given)
        partial = self._hash("near", f"{family}|{child.date_of_birth.isoformat()}") if family else None
        postcode = re.sub(r"\s+", "", child.address.postcode).upper() \
            if child.address and child.address.postcode else None
        if not (family and given and postcode and child.gender.value != "0"):
            return None, partial
        full = self._hash("demo", "|".join(
            (family, given, child.date_of_birth.isoformat(), child.gender.value, postcode)))
        return full, partial

    def resolve(self, session: Session, child: Child, system: str, message_id: str) -> Resolution:
        connection = session.connection()
        links = self.link_keys(child, system)
        known = self._linked(session, links)
        children = set(known.values())
        if len(children) > 1:
            return self._review(session, child, system, message_id, sorted(children),
                                "the record's identifiers belong to different children")
        if children:
            child_id = children.pop()
            conflict = self._conflicting_scheme(session, child_id, links, known)
            if conflict:
                return self._review(session, child, system, message_id, [child_id],
                                    f"the record's {conflict} differs from the one already linked")
            self._link(session, child_id, child, system, links, known, "identifier")
            return Resolution("identified", "matched on a strong identifier", child_id)

        full, partial = self.demographic_keys(child)
        found = connection.execute(_MATCHING[full is not None, partial is not None], {
            "full": full, "partial": partial}).all() if full or partial else []
        exact = sorted({row.child_id for row in found if full is not None and row.full_key == full})
        near = sorted({row.child_id for row in found if partial is not None and row.partial_key == partial})
        if len(exact) == 1:
            child_id = exact[0]
            conflict = self._conflicting_scheme(session, child_id, links, {})
            if conflict:
                return self._review(session, child, system, message_id, exact,
                                    f"name, date of birth, gender and postcode match a child "
                                    f"whose {conflict} is different")
            self._link(session, child_id, child, system, links, {}, "demographics")
            return Resolution("matched-demographics",
                              "no strong identifier known; name, date of birth, gender and "
                              "postcode match exactly", child_id)
        if exact or near:
            return self._review(session, child, system, message_id, sorted(set(exact) | set(near)),
                                "a possible match the hub cannot justify on its own")
        if child.shielded:
            return self._review(session, child, system, message_id, [],
                                "a shielded child with no strong match: matched by hand, "
                                "never a new visible record")
        if not links and full is None:
            return self._review(session, child, system, message_id, [],
                                "too little to identify the child: no identifier, and not all "
                                "of name, date of birth, gender and postcode")
        child_id = self._new_child(session, child, message_id)
        self._link(session, child_id, child, system, links, {}, "new")
        return Resolution("new", "no record of this child yet: a new one was opened", child_id)

    @staticmethod
    def _linked(session: Session, links: dict[str, tuple[str, str]]) -> dict[str, str]:
        """link key -> child id, for the keys already linked."""
        if not links:
            return {}
        return dict(session.connection().execute(_LINKED, {"keys": list(links)}).all())

    def _conflicting_scheme(
        self, session: Session, child_id: str, links: dict[str, tuple[str, str]],
        known: dict[str, str],
    ) -> str | None:
        """A national identifier of the record that differs from the one the child already has."""
        if not any(scheme in NATIONAL and key not in known for key, (scheme, _scope) in links.items()):
            return None  # nothing to differ
        existing = set(session.connection().execute(_CHILD_LINKS, {"child": child_id}))
        for key, (scheme, _scope) in links.items():
            if scheme in NATIONAL and key not in known and \
                    any(s == scheme and k != key for s, k in existing):
                return scheme.replace("_", " ")
        return None

    def _link(
        self, session: Session, child_id: str, child: Child, system: str,
        links: dict[str, tuple[str, str]], known: dict[str, str], basis: str,
    ) -> None:
        connection = session.connection()
        now = utcnow()
        new = [dict(link_key=key, child_id=child_id, scheme=scheme, source_system=system, basis=basis,
                    linked_at=now) for key, (scheme, _scope) in links.items() if key not in known]
        if new:
            connection.execute(_ADD_LINKS, new)
        full, partial = self.demographic_keys(child)
        if full and partial and (basis == "new" or connection.execute(
                _HAS_DEMOGRAPHIC, {"child": child_id, "full": full}).first() is None):
            connection.execute(_ADD_DEMOGRAPHIC, {"child_id": child_id, "full_key": full,
                                                  "partial_key": partial})
        if child.shielded:
            connection.execute(_SHIELD, {"child": child_id})
            loaded = session.identity_map.get(identity_key(ChildRecord, child_id))
            if loaded is not None:
                session.expire(loaded)

    def _new_child(self, session: Session, child: Child, message_id: str) -> str:
        child_id = new_id()
        session.connection().execute(_ADD_CHILD, {
            "child_id": child_id, "created_at": utcnow(), "created_from": message_id,
            "shielded": child.shielded})
        record(session, "identity.new-child", "hub", message_id, child_id=child_id)
        return child_id

    def _review(
        self, session: Session, child: Child, system: str, message_id: str,
        candidates: list[str], reason: str,
    ) -> Resolution:
        review_id = new_id()
        session.add(IdentityReview(
            review_id=review_id, message_id=message_id, source_system=system, reason=reason,
            candidates=candidates, status="open", created_at=utcnow(),
        ))
        record(session, "identity.review-opened", "hub", message_id, review_id=review_id,
               reason=reason, candidates=candidates)
        return Resolution("review", reason, review_id=review_id)

    def decide(
        self, session: Session, review_id: str, child: Child, actor: str,
        link_to: str | None = None,
    ) -> str:
        """A person's decision on a review: link the record to ``link_to``, or open a new child.
        Returns the child id. The caller re-processes the held message."""
        review = session.get(IdentityReview, review_id, with_for_update=True)
        if review is None or review.status != "open":
            raise LookupError(f"no open identity review {review_id}")
        if link_to is not None:
            if session.get(ChildRecord, link_to) is None:
                raise LookupError(f"no child {link_to}")
            child_id, basis, status = link_to, "review", "linked"
        else:
            child_id, basis, status = self._new_child(session, child, review.message_id), "review", "new"
        links = self.link_keys(child, review.source_system)
        taken = self._linked(session, links)
        elsewhere = sorted(set(taken.values()) - {child_id})
        if elsewhere:
            raise ValueError("the record's identifiers are already linked to another child")
        self._link(session, child_id, child, review.source_system, links, taken, basis)
        review.status, review.child_id = status, child_id
        review.decided_by, review.decided_at = actor, utcnow()
        record(session, "identity.review-decided", actor, review.message_id, review_id=review_id,
               decision=status, child_id=child_id)
        return child_id


def _fold(name: str) -> str:
    """Compare names as people write them: no accents, case, spaces, hyphens or apostrophes."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if c.isalpha()).casefold()
