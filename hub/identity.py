"""Identity resolution: which child is this, across systems, and never a guessed link.

Strong identifiers first (NHS number, UPN, directory id; a system's own LA child id or CAF child
id, scoped to that system). Only when none is known does the hub compare name, date of birth,
gender and postcode, and only an exact match on all four links without a person. Everything
else the hub cannot justify (identifiers pointing at two children, a record whose NHS number
differs from the one already known, a near match, a shielded child with no strong match) goes
to a review queue for a person to decide.

Identifiers and demographics are kept only as keyed hashes (HMAC with the hub's secret), so the
cross-reference cannot be read back or searched by anyone without that secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from consent.subjects import SubjectKeys, normalise
from hub.audit import record
from hub.canonical import new_id, utcnow
from hub.canonical.people import Child
from hub.store.tables import ChildDemographic, ChildLink, ChildRecord, IdentityReview

NATIONAL = ("nhs_number", "upn", "directory_id")
LOCAL = ("la_child_id", "caf_child_id")

Outcome = Literal["identified", "matched-demographics", "new", "review"]


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
        links = self.link_keys(child, system)
        known = {row.link_key: row for row in session.execute(
            select(ChildLink).where(ChildLink.link_key.in_(list(links)))).scalars()} if links else {}
        children = {row.child_id for row in known.values()}
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
        wanted = [column == key for column, key in ((ChildDemographic.full_key, full),
                                                    (ChildDemographic.partial_key, partial)) if key]
        found = session.execute(select(ChildDemographic).where(or_(*wanted))).scalars().all() \
            if wanted else []
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

    def _conflicting_scheme(
        self, session: Session, child_id: str, links: dict[str, tuple[str, str]],
        known: dict[str, ChildLink],
    ) -> str | None:
        """A national identifier of the record that differs from the one the child already has."""
        existing = {(row.scheme, row.link_key) for row in session.execute(
            select(ChildLink).where(ChildLink.child_id == child_id)).scalars()}
        for key, (scheme, _scope) in links.items():
            if scheme in NATIONAL and key not in known and \
                    any(s == scheme and k != key for s, k in existing):
                return scheme.replace("_", " ")
        return None

    def _link(
        self, session: Session, child_id: str, child: Child, system: str,
        links: dict[str, tuple[str, str]], known: dict[str, ChildLink], basis: str,
    ) -> None:
        for key, (scheme, _scope) in links.items():
            if key not in known:
                session.add(ChildLink(link_key=key, child_id=child_id, scheme=scheme,
                                      source_system=system, basis=basis, linked_at=utcnow()))
        full, partial = self.demographic_keys(child)
        if full and partial and (basis == "new" or session.get(ChildDemographic, (child_id, full)) is None):
            session.add(ChildDemographic(child_id=child_id, full_key=full, partial_key=partial))
        if child.shielded:
            session.get(ChildRecord, child_id).shielded = True

    def _new_child(self, session: Session, child: Child, message_id: str) -> str:
        child_id = new_id()
        session.add(ChildRecord(child_id=child_id, created_at=utcnow(), created_from=message_id,
                                shielded=child.shielded))
        session.flush()
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
        taken = {row.link_key: row for row in session.execute(
            select(ChildLink).where(ChildLink.link_key.in_(list(links)))).scalars()} if links else {}
        elsewhere = sorted({row.child_id for row in taken.values()} - {child_id})
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
