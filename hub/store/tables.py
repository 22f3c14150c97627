"""The store's tables. Columns holding personal data are sealed blobs with their key id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def when() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True))


class ConnectedSystem(Base):
    """A registered system: what it is, what it may send and receive, how it authenticates."""

    __tablename__ = "connected_systems"
    system_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    profile: Mapped[str] = mapped_column(String(64), default="standard")
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    allowed_in: Mapped[list[str]] = mapped_column(JSON)
    allowed_out: Mapped[list[str]] = mapped_column(JSON)
    endpoint_url: Mapped[str | None] = mapped_column(String(500))
    registered_at: Mapped[datetime] = when()


class InboxMessage(Base):
    """Every accepted inbound message, once: the idempotent consumer's memory."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("source_system", "source_message_id", name="uq_inbox_source"),)
    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_system: Mapped[str] = mapped_column(ForeignKey("connected_systems.system_id"))
    source_message_id: Mapped[str] = mapped_column(String(200))
    correlation_id: Mapped[str] = mapped_column(String(200), index=True)
    message_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = when()
    processed_at: Mapped[datetime | None] = when()
    key_id: Mapped[str] = mapped_column(String(64))
    envelope_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    raw_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # processing attempts started (counted before each, so a crash counts too), the time before
    # which the message is not announced again, and why it was set aside (failed or poison)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_until: Mapped[datetime | None] = when()
    failure_reason: Mapped[str | None] = mapped_column(Text)


class OutboxEntry(Base):
    """A publish owed to the broker, written in the same transaction as the state it announces.

    The row is deleted once the broker has confirmed it, so the table holds only what is owed.
    """

    __tablename__ = "outbox"
    entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    routing_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Decision(Base):
    """A sharing decision for one message and one destination, with its reason and basis."""

    __tablename__ = "decisions"
    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("inbox.message_id"), index=True)
    destination: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(10))
    legal_basis: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    fields_shared: Mapped[list[str]] = mapped_column(JSON)
    fields_withheld: Mapped[list[str]] = mapped_column(JSON)
    decided_at: Mapped[datetime] = when()


class Delivery(Base):
    """One rendered message for one destination, and how its delivery is going."""

    __tablename__ = "deliveries"
    # Not unique: a held message released later may send the same kind of message to the same
    # destination again (a second acknowledgement). Each message is planned once per release,
    # under the inbox row's lock, which is what stops duplicates.
    __table_args__ = (Index("ix_deliveries_message_destination", "message_id", "destination"),)
    delivery_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("inbox.message_id"), index=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.decision_id"))
    destination: Mapped[str] = mapped_column(ForeignKey("connected_systems.system_id"))
    message_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = when()
    completed_at: Mapped[datetime | None] = when()
    key_id: Mapped[str] = mapped_column(String(64))
    payload_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # the worker sending it holds it until lease_until; past that, another worker takes it over
    lease_until: Mapped[datetime | None] = when()
    leased_by: Mapped[str | None] = mapped_column(String(100))
    # Never loaded ("raise"); declared so that the unit of work inserts a row after the row it
    # refers to when both are written in one flush (otherwise it orders tables by class name).
    decision: Mapped[Decision] = relationship(lazy="raise")


class DeliveryAttempt(Base):
    """One try at handing a delivery to its destination, with the response or error."""

    __tablename__ = "delivery_attempts"
    attempt_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.delivery_id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = when()
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    """A delivery given up on: the original message, the reason and the attempts made."""

    __tablename__ = "dead_letters"
    dead_letter_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.delivery_id"), unique=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("inbox.message_id"), index=True)
    destination: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    dead_at: Mapped[datetime] = when()
    # Never loaded ("raise"); declared so that the unit of work inserts a row after the row it
    # refers to when both are written in one flush (otherwise it orders tables by class name).
    delivery: Mapped[Delivery] = relationship(lazy="raise")


class QuarantinedMessage(Base):
    """Rejected input, kept sealed for inspection: nothing a partner sends is silently dropped."""

    __tablename__ = "quarantine"
    quarantine_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_system: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = when()
    status_code: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(200))
    field: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(200))
    body_bytes: Mapped[int] = mapped_column(Integer)
    truncated: Mapped[bool] = mapped_column(default=False)
    key_id: Mapped[str] = mapped_column(String(64))
    raw_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEntry(Base):
    """Append-only, hash-chained record of receipts, decisions and disclosures. No personal data."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    recorded_at: Mapped[datetime] = when()
    action: Mapped[str] = mapped_column(String(50), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str | None] = mapped_column(String(36), index=True)
    detail: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The single row that serialises appends to the audit chain across processes."""

    __tablename__ = "audit_chain_head"
    chain: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class ConsentRecord(Base):
    """A consent for one child and one purpose: who gave it, to whom, for what data, until when.

    The names of the people involved and the free-text notes are sealed; the child is found
    through ``register_subjects`` (keyed hashes of strong identifiers), never by name.
    """

    __tablename__ = "consents"
    consent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40))
    given_by: Mapped[str] = mapped_column(String(10))
    competent: Mapped[bool | None] = mapped_column()
    scope: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(40))
    given_at: Mapped[datetime] = when()
    expires_at: Mapped[datetime | None] = when()
    recorded_at: Mapped[datetime] = when()
    recorded_by: Mapped[str] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(64), unique=True)
    withdrawn_at: Mapped[datetime | None] = when()
    withdrawn_by: Mapped[str | None] = mapped_column(String(10))
    withdrawal_recorded_by: Mapped[str | None] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(64))
    details_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    withdrawal_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class LegalGatewayRecord(Base):
    """A decision to share without consent under a legal gateway, with its decision maker and reason."""

    __tablename__ = "legal_gateways"
    gateway_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(40))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_by_role: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = when()
    expires_at: Mapped[datetime | None] = when()
    recorded_at: Mapped[datetime] = when()
    recorded_by: Mapped[str] = mapped_column(String(100))
    reason_digest: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class RegisterSubject(Base):
    """Which child a consent or gateway is about: one keyed hash per strong identifier."""

    __tablename__ = "register_subjects"
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    record_kind: Mapped[str] = mapped_column(String(10))


class AuditSubject(Base):
    """Index from a child's keyed identifier hash to the audit entries about that child.

    The hashes are inside the chained entries too; this table only makes the subject access
    request a look-up instead of a scan, and the report re-checks each entry it finds.
    """

    __tablename__ = "audit_subjects"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class DecisionContext(Base):
    """What a sharing decision was made on and why, so it can be explained and re-run at delivery."""

    __tablename__ = "decision_contexts"
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.decision_id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str | None] = mapped_column(String(200))
    basis_kind: Mapped[str | None] = mapped_column(String(10))
    basis_refs: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    checks: Mapped[list[dict]] = mapped_column(JSON)
    recipients: Mapped[list[dict]] = mapped_column(JSON)
    key_id: Mapped[str | None] = mapped_column(String(64))
    envelope_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # never loaded; tells the unit of work to insert the decision first (see Delivery.decision)
    decision: Mapped[Decision] = relationship(lazy="raise")


class HubSecret(Base):
    """Secrets the hub makes for itself (the subject-key secret), sealed with the key ring."""

    __tablename__ = "hub_secrets"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = when()
    key_id: Mapped[str] = mapped_column(String(64))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class ChildRecord(Base):
    """The hub's own id for a child, to which every system's identifiers are linked."""

    __tablename__ = "children"
    child_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = when()
    created_from: Mapped[str | None] = mapped_column(String(36))
    shielded: Mapped[bool] = mapped_column(default=False)


class ChildLink(Base):
    """One identifier of a child in one system, as a keyed hash: the cross-reference."""

    __tablename__ = "child_links"
    link_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    child_id: Mapped[str] = mapped_column(ForeignKey("children.child_id"), index=True)
    scheme: Mapped[str] = mapped_column(String(40))
    source_system: Mapped[str] = mapped_column(String(64))
    basis: Mapped[str] = mapped_column(String(20))
    linked_at: Mapped[datetime] = when()


class ChildDemographic(Base):
    """Keyed hashes of a child's name, date of birth, gender and postcode, for matching."""

    __tablename__ = "child_demographics"
    child_id: Mapped[str] = mapped_column(ForeignKey("children.child_id"), primary_key=True)
    full_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    partial_key: Mapped[str] = mapped_column(String(64), index=True)


class IdentityReview(Base):
    """A match the hub could not justify, waiting for a person to decide."""

    __tablename__ = "identity_reviews"
    review_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("inbox.message_id"), index=True)
    source_system: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    candidates: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = when()
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = when()
    child_id: Mapped[str | None] = mapped_column(String(36))


class ReferralRecord(Base):
    """A referral into children's social care, from receipt to decision: the step-up's ledger."""

    __tablename__ = "referrals"
    referral_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(200), index=True)
    child_id: Mapped[str | None] = mapped_column(ForeignKey("children.child_id"), index=True)
    referrer_system: Mapped[str] = mapped_column(String(64))
    referrer_reference: Mapped[str] = mapped_column(String(200))
    caf_system: Mapped[str | None] = mapped_column(String(64))
    episode_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    outcome: Mapped[str | None] = mapped_column(String(30))
    previous_referral_id: Mapped[str | None] = mapped_column(String(36))
    opened_at: Mapped[datetime] = when()
    decided_at: Mapped[datetime | None] = when()
