"""consent register, legal gateways, decision contexts, audit subject index, hub secrets

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("consent_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("given_by", sa.String(length=10), nullable=False),
        sa.Column("competent", sa.Boolean(), nullable=True),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=10), nullable=True),
        sa.Column("withdrawal_recorded_by", sa.String(length=100), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("details_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("withdrawal_sealed", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("consent_id", name=op.f("pk_consents")),
        sa.UniqueConstraint("source", name=op.f("uq_consents_source")),
    )
    op.create_table(
        "legal_gateways",
        sa.Column("gateway_id", sa.String(length=36), nullable=False),
        sa.Column("gateway", sa.String(length=40), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_by_role", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("reason_digest", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", name=op.f("pk_legal_gateways")),
    )
    op.create_table(
        "register_subjects",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("record_kind", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "subject_key", name=op.f("pk_register_subjects")),
    )
    op.create_index(
        op.f("ix_register_subjects_subject_key"), "register_subjects", ["subject_key"], unique=False
    )
    op.create_table(
        "audit_subjects",
        sa.Column("seq", BIG_ID, nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", "subject_key", name=op.f("pk_audit_subjects")),
    )
    op.create_index(
        op.f("ix_audit_subjects_subject_key"), "audit_subjects", ["subject_key"], unique=False
    )
    op.create_table(
        "decision_contexts",
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("basis_kind", sa.String(length=10), nullable=True),
        sa.Column("basis_refs", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("envelope_sealed", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.decision_id"],
            name=op.f("fk_decision_contexts_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decision_contexts")),
    )
    op.create_table(
        "hub_secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_hub_secrets")),
    )


def downgrade() -> None:
    op.drop_table("hub_secrets")
    op.drop_table("decision_contexts")
    op.drop_index(op.f("ix_audit_subjects_subject_key"), table_name="audit_subjects")
    op.drop_table("audit_subjects")
    op.drop_index(op.f("ix_register_subjects_subject_key"), table_name="register_subjects")
    op.drop_table("register_subjects")
    op.drop_table("legal_gateways")
    op.drop_table("consents")
