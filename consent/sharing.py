"""Sharing in the message path: ask the policy with the child's register state, and keep the answer.

Owns the glue between the pure policy (``consent.policy``), the register and the store: it looks
up the child's consents and gateway decisions by subject key, decides, and stores every decision
with its context (purpose, rule, basis, checks, the canonical envelope it was made on) and an
audit entry. The courier calls ``recheck`` just before delivering, so a consent withdrawn while
a message waited in a queue stops it, and a replayed dead letter is decided again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.policy import Check, Destination, Recipient, SharingDecision, decide, deny
from consent.register import ConsentRegister
from consent.subjects import SubjectKeys
from hub import metrics
from hub.audit import record
from hub.canonical import Envelope, new_id, utcnow
from hub.canonical.people import Practitioner
from hub.crypto import KeyRing
from hub.planned import plan_row
from hub.sealing import open_model, seal_model
from hub.store.tables import ConnectedSystem, Decision, DecisionContext, Delivery

DECISIONS = Decision.__table__
CONTEXTS = DecisionContext.__table__
PLANNING = "planning"
DELIVERY = "delivery"
PLANNED = "consent.sharing.planned"  # planned envelopes a transaction opened (``preload``)


@dataclass(frozen=True)
class Stored:
    decision: SharingDecision
    decision_id: str
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class Recheck:
    """A delivery decided again just before sending; not stored until the courier acts on it."""

    decision: SharingDecision
    destination: Destination | None
    subjects: tuple[str, ...]
    delivery: Delivery
    confirms: bool = False  # same outcome, basis and fields as the stored planning decision


def destination_of(system: ConnectedSystem, recipients: tuple[Recipient, ...] = ()) -> Destination:
    return Destination(
        system_id=system.system_id, kind=system.kind, allowed_out=frozenset(system.allowed_out),
        name=system.name, recipients=recipients,
    )


def recipients_of(practitioners: tuple[Practitioner, ...]) -> tuple[Recipient, ...]:
    return tuple(Recipient(p.practitioner_id, p.role) for p in practitioners)


class Sharing:
    def __init__(self, keyring: KeyRing, subjects: SubjectKeys, register: ConsentRegister):
        self.keyring = keyring
        self.subjects = subjects
        self.register = register

    def observe(self, session: Session, envelope: Envelope) -> None:
        """Register what an inbound event says about consent before anything is shared from it."""
        self.register.observe(session, envelope)

    def subjects_of(self, envelope: Envelope) -> tuple[str, ...]:
        child = getattr(envelope.payload, "child", None)
        return self.subjects.keys_for(child.identifiers) if child is not None else ()

    def decide(
        self, session: Session, message_id: str, system: ConnectedSystem, envelope: Envelope,
        recipients: tuple[Practitioner, ...] = (),
    ) -> Stored:
        """Decide one disclosure at planning time and store the decision with its context."""
        subjects = self.subjects_of(envelope)
        destination = destination_of(system, recipients_of(recipients))
        decision = decide(envelope, destination, self.register.state_for(session, subjects))
        decision_id = self._store(session, message_id, destination, decision, subjects, PLANNING,
                                  envelope=envelope)
        return Stored(decision, decision_id, subjects)

    def preview(
        self, session: Session, system: ConnectedSystem, envelope: Envelope,
        recipients: tuple[Practitioner, ...] = (),
    ) -> SharingDecision:
        """What the decision would be now, without storing it: for a flow that must know whether
        the heart of a piece of work may go before it sends what follows from it."""
        subjects = self.subjects_of(envelope)
        destination = destination_of(system, recipients_of(recipients))
        return decide(envelope, destination, self.register.state_for(session, subjects))

    def recheck(self, session: Session, delivery: Delivery) -> Recheck:
        """Decide a delivery again, now, on the envelope and destination it was planned for.

        It may go ahead only if there is a stored permit for it, the policy still permits it, and
        every field it carries is still permitted (the rendered body cannot shrink after the fact).
        Nothing is stored here: ``keep`` stores the decision the courier acts on.
        """
        original = session.get(Decision, delivery.decision_id)
        context = session.get(DecisionContext, delivery.decision_id)
        if (original is None or original.outcome != "permit" or context is None
                or context.envelope_sealed is None or context.key_id is None):
            reason = "no stored permit decision for this delivery"
            decision = deny(reason, [Check("stored-permit", False, reason)])
            return Recheck(decision, None, (), delivery)
        envelope = session.info.get(PLANNED, {}).get(context.decision_id) or self._planned_envelope(context)
        system = session.get(ConnectedSystem, delivery.destination)
        recipients = tuple(Recipient(r["practitioner_id"], r.get("role")) for r in context.recipients)
        destination = destination_of(system, recipients)
        subjects = self.subjects_of(envelope)
        decision = decide(envelope, destination, self.register.state_for(session, subjects))
        narrowed = sorted(set(original.fields_shared) - set(decision.shared)) if decision.permitted else []
        if narrowed:
            reason = (f"fields permitted when this delivery was planned are no longer permitted: "
                      f"{', '.join(narrowed)}")
            decision = replace(decision, permitted=False, reason=reason, legal_basis=None, data={},
                               shared=[], checks=(*decision.checks, Check("unchanged-fields", False, reason)))
        confirms = (
            decision.permitted and decision.legal_basis == original.legal_basis
            and list(decision.basis_refs) == list(context.basis_refs)
            and set(decision.shared) == set(original.fields_shared)
        )
        return Recheck(decision, destination, subjects, delivery, confirms)

    def preload(self, session: Session, deliveries: Iterable[Delivery]) -> list[Any]:
        """Read what ``recheck`` reads for these deliveries in a statement per table (their
        planning decisions, those decisions' contexts, their destinations, their children's
        register states), and open their planned envelopes once, so that a batch of re-checks
        finds it all in the transaction instead of reading it one by one. The caller keeps
        what is returned while it re-checks: the session holds only weak references."""
        deliveries = list(deliveries)
        decision_ids = [delivery.decision_id for delivery in deliveries]
        if not decision_ids:
            return []
        destinations = {delivery.destination for delivery in deliveries}
        contexts = session.execute(select(DecisionContext)
                                   .where(DecisionContext.decision_id.in_(decision_ids))).scalars().all()
        opened: dict[str, Envelope] = session.info.setdefault(PLANNED, {})
        for context in contexts:
            if context.envelope_sealed is not None and context.key_id is not None:
                opened[context.decision_id] = self._planned_envelope(context)
        self.register.read_states(session, (self.subjects_of(envelope) for envelope in opened.values()))
        return [
            *session.execute(select(Decision).where(Decision.decision_id.in_(decision_ids))).scalars(),
            *contexts,
            *session.execute(select(ConnectedSystem)
                             .where(ConnectedSystem.system_id.in_(destinations))).scalars(),
        ]

    def _planned_envelope(self, context: DecisionContext) -> Envelope:
        return open_model(self.keyring, Envelope, context.key_id, context.envelope_sealed,
                          f"decision:{context.decision_id}")

    def subjects_of_delivery(self, session: Session, delivery: Delivery) -> tuple[str, ...]:
        context = session.get(DecisionContext, delivery.decision_id)
        if context is None or context.envelope_sealed is None:
            return ()
        return self.subjects_of(self._planned_envelope(context))

    def keep(self, session: Session, recheck: Recheck, audit: bool = True) -> str:
        """The id of the decision the courier acts on.

        A re-check that confirms the stored planning decision (same outcome, basis and fields)
        is that decision, and its id is returned; one that differs (a refusal, another basis) is
        a decision of its own and is stored, audited unless the caller's own entry (the
        disclosure, the dead letter) names it.
        """
        delivery = recheck.delivery
        if recheck.confirms:
            return delivery.decision_id
        decision_id = new_id()
        self._decision_row(session, decision_id, delivery.message_id, delivery.destination, recheck.decision)
        if recheck.destination is not None:
            self._context(session, decision_id, DELIVERY, recheck.destination, recheck.decision, None)
        if audit:
            self._audit(session, delivery.message_id, delivery.destination, decision_id, recheck.decision,
                        recheck.subjects, DELIVERY, delivery.decision_id)
        return decision_id

    def _store(
        self, session: Session, message_id: str, destination: Destination, decision: SharingDecision,
        subjects: tuple[str, ...], stage: str, envelope: Envelope,
    ) -> str:
        decision_id = new_id()
        # nothing in the planning transaction reads them back: written at its commit, with the
        # transaction's other decisions, a statement per table (``hub.planned``)
        self._decision_row(session, decision_id, message_id, destination.system_id, decision, planned=True)
        self._context(session, decision_id, stage, destination, decision, envelope, planned=True)
        self._audit(session, message_id, destination.system_id, decision_id, decision, subjects, stage, None)
        return decision_id

    def _context(
        self, session: Session, decision_id: str, stage: str, destination: Destination,
        decision: SharingDecision, envelope: Envelope | None, planned: bool = False,
    ) -> None:
        """The decision's context: added to the session, or ``planned`` (``hub.planned``)."""
        sealed = None
        if envelope is not None and decision.permitted:
            sealed = seal_model(self.keyring, envelope, f"decision:{decision_id}")
        values = dict(
            decision_id=decision_id, stage=stage, purpose=decision.purpose or "",
            rule=decision.rule, basis_kind=decision.basis_kind, basis_refs=list(decision.basis_refs),
            categories=list(decision.categories), checks=[c.as_dict() for c in decision.checks],
            recipients=[{"practitioner_id": r.practitioner_id, "role": r.role}
                        for r in destination.recipients],
            key_id=sealed.key_id if sealed else None, envelope_sealed=sealed.blob if sealed else None,
        )
        if planned:
            plan_row(session, CONTEXTS, values)
        else:
            session.add(DecisionContext(**values))

    @staticmethod
    def _decision_row(
        session: Session, decision_id: str, message_id: str, destination: str, decision: SharingDecision,
        planned: bool = False,
    ) -> None:
        """The decision: added to the session, or ``planned`` (``hub.planned``)."""
        values = dict(
            decision_id=decision_id, message_id=message_id, destination=destination,
            outcome="permit" if decision.permitted else "deny", legal_basis=decision.legal_basis,
            reason=decision.reason, fields_shared=decision.shared, fields_withheld=decision.withheld,
            decided_at=utcnow(),
        )
        if planned:
            plan_row(session, DECISIONS, values)
        else:
            session.add(Decision(**values))

    @staticmethod
    def _audit(
        session: Session, message_id: str, destination: str, decision_id: str, decision: SharingDecision,
        subjects: tuple[str, ...], stage: str, previous: str | None,
    ) -> None:
        outcome = "permit" if decision.permitted else "deny"
        detail: dict[str, Any] = dict(
            destination=destination, decision_id=decision_id, stage=stage, purpose=decision.purpose,
            rule=decision.rule, basis_kind=decision.basis_kind, basis_refs=list(decision.basis_refs),
            legal_basis=decision.legal_basis, reason=decision.reason,
            categories=list(decision.categories), fields_shared=decision.shared,
            fields_withheld=decision.withheld,
        )
        if previous is not None:
            detail["previous_decision_id"] = previous
        record(session, f"decision.{outcome}", "hub", message_id, subjects=subjects, **detail)
        metrics.DECISIONS.labels(destination, outcome).inc()
        if not decision.permitted:
            metrics.CONSENT_DENIALS.labels(destination, decision.purpose or "none", stage).inc()
