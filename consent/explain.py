"""Explanations: "why did X receive Y?", "why was Z refused?", "who has seen my information?".

Reads only: a stored decision with its context and the register records it rested on; a
child's decisions and disclosures found through the audit chain by subject key. Every audit
entry a report quotes is re-hashed on the way out, so an entry altered in the database shows as
not intact rather than as a fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.register import ConsentRegister, aware
from hub.audit import entry_intact
from hub.store.tables import (
    AuditEntry,
    AuditSubject,
    ConnectedSystem,
    ConsentRecord,
    Decision,
    DecisionContext,
    LegalGatewayRecord,
)

DISCLOSURE = "disclosure"
DECISION_ACTIONS = ("decision.permit", "decision.deny", "delivery.withheld")


@dataclass(frozen=True)
class Explanation:
    decision_id: str
    message_id: str
    destination: str
    outcome: str
    stage: str | None
    purpose: str | None
    rule: str | None
    legal_basis: str | None
    basis_kind: str | None
    reason: str
    categories: list[str]
    fields_shared: list[str]
    fields_withheld: list[str]
    checks: list[dict[str, Any]]
    decided_at: datetime
    consents: list[dict[str, Any]] = field(default_factory=list)
    gateways: list[dict[str, Any]] = field(default_factory=list)


def consent_summary(row: ConsentRecord) -> dict[str, Any]:
    """A consent record without the people's names: what it allows, from when, until when."""
    return {
        "consent_id": row.consent_id, "purpose": row.purpose, "given_by": row.given_by,
        "competent": row.competent, "scope": row.scope, "categories": row.categories,
        "method": row.method, "given_at": aware(row.given_at), "expires_at": aware(row.expires_at),
        "withdrawn_at": aware(row.withdrawn_at), "withdrawn_by": row.withdrawn_by,
        "recorded_by": row.recorded_by,
    }


def gateway_summary(row: LegalGatewayRecord, register: ConsentRegister | None = None) -> dict[str, Any]:
    """A gateway decision: who decided, when, under which gateway; the reason for those entitled."""
    summary: dict[str, Any] = {
        "gateway_id": row.gateway_id, "gateway": row.gateway, "purposes": row.purposes,
        "scope": row.scope, "categories": row.categories, "decided_by": row.decided_by,
        "decided_by_role": row.decided_by_role, "decided_at": aware(row.decided_at),
        "expires_at": aware(row.expires_at), "recorded_by": row.recorded_by,
    }
    if register is not None:
        summary["reason"] = register.reason(row)
    return summary


def explain(session: Session, register: ConsentRegister, decision_id: str) -> Explanation | None:
    decision = session.get(Decision, decision_id)
    if decision is None:
        return None
    context = session.get(DecisionContext, decision_id)
    refs = list(context.basis_refs) if context else []
    consents = [consent_summary(row) for row in session.execute(
        select(ConsentRecord).where(ConsentRecord.consent_id.in_(refs))).scalars()] if refs else []
    gateways = [gateway_summary(row, register) for row in session.execute(
        select(LegalGatewayRecord).where(LegalGatewayRecord.gateway_id.in_(refs))).scalars()] if refs else []
    return explanation_of(decision, context, consents, gateways)


def explanation_of(decision: Any, context: Any, consents: list[Any], gateways: list[Any]) -> Explanation:
    """A stored decision and its context (None for decisions stored without one) as an
    explanation, with the summaries of the consents and gateways it rested on."""
    return Explanation(
        decision_id=decision.decision_id, message_id=decision.message_id,
        destination=decision.destination, outcome=decision.outcome,
        stage=context.stage if context else None, purpose=context.purpose if context else None,
        rule=context.rule if context else None, legal_basis=decision.legal_basis,
        basis_kind=context.basis_kind if context else None, reason=decision.reason,
        categories=list(context.categories) if context else [],
        fields_shared=decision.fields_shared, fields_withheld=decision.fields_withheld,
        checks=list(context.checks) if context else [], decided_at=aware(decision.decided_at),
        consents=consents, gateways=gateways,
    )


@dataclass(frozen=True)
class Disclosure:
    """One delivery of the child's data: to whom, what kinds of data, when, on what basis."""

    seq: int
    disclosed_at: datetime
    destination: str
    destination_name: str | None
    message_type: str | None
    purpose: str | None
    categories: list[str]
    legal_basis: str | None
    basis_kind: str | None
    basis_refs: list[str]
    decision_id: str | None
    delivery_id: str | None
    intact: bool


@dataclass(frozen=True)
class LoggedDecision:
    seq: int
    action: str
    recorded_at: datetime
    message_id: str | None
    destination: str | None
    decision_id: str | None
    legal_basis: str | None
    reason: str | None
    intact: bool


def _entries(session: Session, subjects: tuple[str, ...], actions: tuple[str, ...]) -> list[AuditEntry]:
    if not subjects:
        return []
    seqs = select(AuditSubject.seq).where(AuditSubject.subject_key.in_(subjects))
    return list(session.execute(
        select(AuditEntry).where(AuditEntry.seq.in_(seqs), AuditEntry.action.in_(actions))
        .order_by(AuditEntry.seq)
    ).scalars())


def _about(entry: AuditEntry, subjects: tuple[str, ...]) -> bool:
    """The entry itself (not only the index) names one of the subjects, and is unaltered."""
    named = entry.detail.get("subjects") or []
    return entry_intact(entry) and any(subject in named for subject in subjects)


def disclosures(session: Session, subjects: tuple[str, ...]) -> list[Disclosure]:
    names = dict(session.execute(select(ConnectedSystem.system_id, ConnectedSystem.name)).all())
    found = []
    for entry in _entries(session, subjects, (DISCLOSURE,)):
        detail = entry.detail
        found.append(Disclosure(
            seq=entry.seq, disclosed_at=aware(entry.recorded_at), destination=detail.get("destination", ""),
            destination_name=names.get(detail.get("destination")), message_type=detail.get("message_type"),
            purpose=detail.get("purpose"), categories=list(detail.get("categories") or []),
            legal_basis=detail.get("legal_basis"), basis_kind=detail.get("basis_kind"),
            basis_refs=list(detail.get("basis_refs") or []), decision_id=detail.get("decision_id"),
            delivery_id=detail.get("delivery_id"), intact=_about(entry, subjects),
        ))
    return found


def decisions(session: Session, subjects: tuple[str, ...]) -> list[LoggedDecision]:
    return [
        LoggedDecision(
            seq=entry.seq, action=entry.action, recorded_at=aware(entry.recorded_at),
            message_id=entry.message_id, destination=entry.detail.get("destination"),
            decision_id=entry.detail.get("decision_id"), legal_basis=entry.detail.get("legal_basis"),
            reason=entry.detail.get("reason"), intact=_about(entry, subjects),
        )
        for entry in _entries(session, subjects, DECISION_ACTIONS)
    ]
