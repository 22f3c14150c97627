"""A child's whole picture across systems, found by a strong identifier.

The hub keeps a child's identifiers only as keyed hashes, so the picture is assembled from what
points at the child: the identity cross-reference (``child_links``), the audit entries carrying
the child's subject keys (which name the messages about the child), the referral ledger, the
consent register, and the messages themselves (opened to show identifiers, involvements, CAF
episodes, referrals and closures). Identifiers seen in those messages widen the search once, so
a child known by an NHS number in one system and a local id in another is one picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.explain import (
    Disclosure,
    LoggedDecision,
    consent_summary,
    decisions,
    disclosures,
    gateway_summary,
)
from consent.register import aware
from consent.sharing import Sharing
from consent.subjects import SCHEMES
from hub.canonical.people import Child, ChildIdentifiers, PersonName
from hub.console.masking import Field, fields_of, mask
from hub.crypto import KeyRing
from hub.identity import IdentityResolver
from hub.processing import open_envelope
from hub.store.tables import (
    AuditEntry,
    AuditSubject,
    ChildLink,
    ChildRecord,
    ConnectedSystem,
    InboxMessage,
    ReferralRecord,
)

MAX_MESSAGES = 200
SUMMARY_ENDINGS = ("event_type", "episode_id", "episode.episode_id", "service", "start", "end",
                   "lead_professional", "outcome", "action", "case_id", "referral_id", "reason",
                   "allocated_on", "decided_on", "closed_on", "reason_code", "outstanding_needs")


@dataclass(frozen=True)
class Happening:
    at: datetime
    kind: str  # message, referral, consent, gateway, disclosure
    what: str
    system: str | None = None
    link: str | None = None
    details: list[Field] = field(default_factory=list)


@dataclass
class ChildView:
    asked: dict[str, str]
    child_ids: list[str]
    shielded: bool
    links: list[ChildLink]
    identifiers: list[tuple[str, str, str]]  # (system, scheme, value as shown)
    timeline: list[Happening]
    consents: list[dict[str, Any]]
    gateways: list[dict[str, Any]]
    decisions: list[LoggedDecision]
    disclosures: list[Disclosure]
    more: bool = False

    @property
    def found(self) -> bool:
        return bool(self.child_ids or self.timeline or self.consents or self.gateways)


def parse_identifier(text: str) -> dict[str, str]:
    """``nhs-number:9434765919`` -> ``{"nhs_number": "9434765919"}``; ValueError naming the rule."""
    scheme, sep, value = text.strip().partition(":")
    scheme = scheme.strip().lower().replace("-", "_")
    if not sep or scheme not in SCHEMES or not value.strip():
        raise ValueError(f"write the child as scheme:value, the scheme one of "
                         f"{', '.join(s.replace('_', '-') for s in SCHEMES)}")
    return {scheme: value.strip()}


def _child_ids(session: Session, resolver: IdentityResolver, identifiers: dict[str, str]) -> list[str]:
    probe = Child(identifiers=ChildIdentifiers(**identifiers), name=PersonName(given="-", family="-"))
    systems = list(session.execute(select(ConnectedSystem.system_id)).scalars())
    keys = set()
    for system in systems or [""]:
        keys.update(resolver.link_keys(probe, system))
    return sorted(set(session.execute(select(ChildLink.child_id).where(
        ChildLink.link_key.in_(sorted(keys)))).scalars())) if keys else []


def _message_ids(session: Session, subjects: tuple[str, ...], child_ids: list[str]) -> list[str]:
    seqs = select(AuditSubject.seq).where(AuditSubject.subject_key.in_(subjects))
    ids = set(session.execute(select(AuditEntry.message_id).where(
        AuditEntry.seq.in_(seqs), AuditEntry.message_id.is_not(None)).distinct()).scalars()) \
        if subjects else set()
    if child_ids:
        ids.update(session.execute(select(ReferralRecord.referral_id).where(
            ReferralRecord.child_id.in_(child_ids))).scalars())
    return sorted(ids)


def load_child(
    session: Session, keyring: KeyRing, sharing: Sharing, identifiers: dict[str, str], revealed: bool,
) -> ChildView:
    resolver = IdentityResolver(sharing.subjects)
    subjects = sharing.subjects.keys_of(identifiers)
    child_ids = _child_ids(session, resolver, identifiers)
    message_ids = _message_ids(session, subjects, child_ids)
    messages = list(session.execute(select(InboxMessage).where(InboxMessage.message_id.in_(message_ids))
                                    .order_by(InboxMessage.received_at.desc()).limit(MAX_MESSAGES + 1)
                                    ).scalars()) if message_ids else []
    more = len(messages) > MAX_MESSAGES
    messages = messages[:MAX_MESSAGES]
    envelopes = [(row, open_envelope(keyring, row)) for row in messages]
    # widen once: every identifier the messages carry for this child
    seen: dict[tuple[str, str], str] = {}
    for row, envelope in envelopes:
        child = getattr(envelope.payload, "child", None)
        if child is None:
            continue
        for scheme in SCHEMES:
            value = getattr(child.identifiers, scheme)
            if value:
                seen.setdefault((row.source_system, scheme), value)
    wider = {sharing.subjects.key(scheme, value) for (_system, scheme), value in seen.items()}
    all_subjects = tuple(sorted(set(subjects) | set(wider)))
    if set(all_subjects) != set(subjects):
        extra = sorted(set(_message_ids(session, all_subjects, child_ids)) - set(message_ids))
        if extra:
            more_rows = list(session.execute(select(InboxMessage).where(InboxMessage.message_id.in_(extra))
                                             .limit(MAX_MESSAGES)).scalars())
            envelopes += [(row, open_envelope(keyring, row)) for row in more_rows]
    for scheme, value in identifiers.items():
        child_ids = sorted(set(child_ids) | set(_child_ids(session, resolver, {scheme: value})))
    links = list(session.execute(select(ChildLink).where(ChildLink.child_id.in_(child_ids))
                                 .order_by(ChildLink.linked_at)).scalars()) if child_ids else []
    shielded = any(session.execute(select(ChildRecord.shielded).where(
        ChildRecord.child_id.in_(child_ids))).scalars()) if child_ids else False

    register = sharing.register
    consents = [consent_summary(row) for row in register.consents_for(session, all_subjects)]
    gateways = [gateway_summary(row, register if revealed else None)
                for row in register.gateways_for(session, all_subjects)]
    found_disclosures = disclosures(session, all_subjects)
    referrals = list(session.execute(select(ReferralRecord).where(
        ReferralRecord.child_id.in_(child_ids))).scalars()) if child_ids else []

    timeline = [_happening(row, envelope, revealed) for row, envelope in envelopes]
    for referral in referrals:
        timeline.append(Happening(aware(referral.opened_at), "referral",
                                  f"referral from {referral.referrer_system} opened ({referral.status})",
                                  referral.referrer_system, f"messages/{referral.referral_id}"))
        if referral.decided_at:
            timeline.append(Happening(aware(referral.decided_at), "referral",
                                      f"referral decided: {referral.outcome or mask('x')}"
                                      if revealed else "referral decided", referral.referrer_system,
                                      f"messages/{referral.referral_id}"))
    for consent in consents:
        timeline.append(Happening(consent["given_at"], "consent",
                                  f"consent for {consent['purpose']} given by {consent['given_by']}"))
        if consent["withdrawn_at"]:
            timeline.append(Happening(consent["withdrawn_at"], "consent",
                                      f"consent for {consent['purpose']} withdrawn"))
    for gateway in gateways:
        timeline.append(Happening(gateway["decided_at"], "gateway",
                                  f"gateway {gateway['gateway']} decided by {gateway['decided_by_role']}"))
    for item in found_disclosures:
        timeline.append(Happening(item.disclosed_at, "disclosure",
                                  f"{item.message_type} disclosed to {item.destination} "
                                  f"({item.legal_basis or 'no basis recorded'})", item.destination))
    timeline.sort(key=lambda happening: happening.at, reverse=True)
    identifiers_shown = sorted(
        (system, scheme, value if revealed else mask(value)) for (system, scheme), value in seen.items())
    return ChildView(
        asked=identifiers, child_ids=child_ids, shielded=shielded, links=links,
        identifiers=identifiers_shown, timeline=timeline, consents=consents, gateways=gateways,
        decisions=decisions(session, all_subjects), disclosures=found_disclosures, more=more,
    )


def _happening(row: InboxMessage, envelope: Any, revealed: bool) -> Happening:
    shown = [f for f in fields_of(envelope.payload, revealed) if f.path != "event_type"
             and f.path.endswith(SUMMARY_ENDINGS) and not f.path.startswith("child.")]
    return Happening(aware(row.received_at), "message", f"{row.message_type} from {row.source_system} "
                     f"({row.status})", row.source_system, f"messages/{row.message_id}", shown)
