"""A message's whole path, and the messages correlated with it, read back from the store.

Received (the inbox and its audit entry), validated (accepted, or held with the reason),
identity decision (the audit's identity entries and any review), each sharing decision with its
explanation and basis (``consent.explain``), each delivery with every field it carried and where
that field came from, each attempt with the destination's response, and dead letters. Each table
is read once for all the correlated messages (``IN`` on indexed columns), never once per row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.explain import Explanation, consent_summary, explanation_of, gateway_summary
from consent.register import ConsentRegister
from hub.console.tables import DeadLetterDiscard
from hub.crypto import KeyRing
from hub.processing import open_envelope
from hub.sealing import open_json
from hub.store.tables import (
    AuditEntry,
    ConsentRecord,
    DeadLetter,
    Decision,
    DecisionContext,
    Delivery,
    DeliveryAttempt,
    IdentityReview,
    InboxMessage,
    LegalGatewayRecord,
    ReferralRecord,
)

MAX_CORRELATED = 50
IDENTITY_ACTIONS = ("identity.new-child", "identity.review-opened", "identity.review-decided")


@dataclass
class DeliveryTrace:
    delivery: Delivery
    fields: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    attempts: list[DeliveryAttempt]
    dead_letter: DeadLetter | None
    discard: DeadLetterDiscard | None


@dataclass
class MessageTrace:
    message: InboxMessage
    audit: list[AuditEntry]
    identity: list[AuditEntry]
    reviews: list[IdentityReview]
    decisions: list[Explanation]
    deliveries: list[DeliveryTrace]


@dataclass
class Trace:
    tracking_id: str
    correlation_id: str
    messages: list[MessageTrace] = field(default_factory=list)
    referrals: list[ReferralRecord] = field(default_factory=list)
    more: bool = False

    @property
    def focus(self) -> MessageTrace:
        return next(m for m in self.messages if m.message.message_id == self.tracking_id)


def _grouped(rows: list[Any], key: str) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


def _explanations(
    session: Session, register: ConsentRegister, ids: list[str],
) -> dict[str, list[Explanation]]:
    """``consent.explain.explain`` for many messages' decisions, in four queries."""
    decisions = list(session.execute(select(Decision).where(Decision.message_id.in_(ids))
                                     .order_by(Decision.decided_at)).scalars())
    contexts = {c.decision_id: c for c in session.execute(select(DecisionContext).where(
        DecisionContext.decision_id.in_([d.decision_id for d in decisions]))).scalars()} if decisions else {}
    refs = sorted({ref for c in contexts.values() for ref in c.basis_refs})
    consents = {row.consent_id: consent_summary(row) for row in session.execute(
        select(ConsentRecord).where(ConsentRecord.consent_id.in_(refs))).scalars()} if refs else {}
    gateways = {row.gateway_id: gateway_summary(row, register) for row in session.execute(
        select(LegalGatewayRecord).where(LegalGatewayRecord.gateway_id.in_(refs))).scalars()} if refs else {}
    found: dict[str, list[Explanation]] = defaultdict(list)
    for decision in decisions:
        context = contexts.get(decision.decision_id)
        basis = list(context.basis_refs) if context else []
        found[decision.message_id].append(explanation_of(
            decision, context, [consents[r] for r in basis if r in consents],
            [gateways[r] for r in basis if r in gateways],
        ))
    return found


def load_trace(
    session: Session, keyring: KeyRing, register: ConsentRegister, tracking_id: str,
) -> Trace | None:
    focus = session.get(InboxMessage, tracking_id)
    if focus is None:
        return None
    trace = Trace(tracking_id, focus.correlation_id)
    rows = list(session.execute(
        select(InboxMessage).where(InboxMessage.correlation_id == focus.correlation_id)
        .order_by(InboxMessage.received_at).limit(MAX_CORRELATED + 1)).scalars())
    trace.more = len(rows) > MAX_CORRELATED
    rows = rows[:MAX_CORRELATED]
    if focus not in rows:
        rows[-1:] = [focus]
    ids = [row.message_id for row in rows]
    audit = _grouped(list(session.execute(select(AuditEntry).where(AuditEntry.message_id.in_(ids))
                                          .order_by(AuditEntry.seq)).scalars()), "message_id")
    reviews = _grouped(list(session.execute(select(IdentityReview).where(
        IdentityReview.message_id.in_(ids)).order_by(IdentityReview.created_at)).scalars()), "message_id")
    deliveries = list(session.execute(select(Delivery).where(Delivery.message_id.in_(ids))
                                      .order_by(Delivery.created_at, Delivery.destination)).scalars())
    delivery_ids = [d.delivery_id for d in deliveries]
    attempts = _grouped(list(session.execute(select(DeliveryAttempt).where(
        DeliveryAttempt.delivery_id.in_(delivery_ids)).order_by(DeliveryAttempt.number)).scalars()),
        "delivery_id") if delivery_ids else {}
    dead = {d.delivery_id: d for d in session.execute(
        select(DeadLetter).where(DeadLetter.message_id.in_(ids))).scalars()}
    discards = {d.delivery_id: d for d in session.execute(
        select(DeadLetterDiscard).where(DeadLetterDiscard.message_id.in_(ids))).scalars()}
    explanations = _explanations(session, register, ids)
    by_message = _grouped(deliveries, "message_id")
    for row in rows:
        entries = audit.get(row.message_id, [])
        trace.messages.append(MessageTrace(
            message=row, audit=entries,
            identity=[e for e in entries if e.action in IDENTITY_ACTIONS],
            reviews=reviews.get(row.message_id, []),
            decisions=explanations.get(row.message_id, []),
            deliveries=[_delivery(keyring, d, attempts.get(d.delivery_id, []), dead.get(d.delivery_id),
                                  discards.get(d.delivery_id)) for d in by_message.get(row.message_id, [])],
        ))
    trace.referrals = list(session.execute(select(ReferralRecord).where(
        ReferralRecord.correlation_id == focus.correlation_id).order_by(ReferralRecord.opened_at)).scalars())
    return trace


def _delivery(
    keyring: KeyRing, delivery: Delivery, attempts: list[DeliveryAttempt], dead: DeadLetter | None,
    discard: DeadLetterDiscard | None,
) -> DeliveryTrace:
    """The rendered fields' provenance is names and paths only; the body itself is not shown."""
    payload = open_json(keyring, delivery.key_id, delivery.payload_sealed, f"delivery:{delivery.delivery_id}")
    return DeliveryTrace(delivery, payload.get("provenance", []), payload.get("skipped", []), attempts,
                         dead, discard)


def envelope_of(keyring: KeyRing, message: InboxMessage):  # type: ignore[no-untyped-def]
    return open_envelope(keyring, message)
