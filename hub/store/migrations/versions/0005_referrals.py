"""the referral ledger, and why a message is held

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch_op:
        batch_op.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
    op.create_table(
        "referrals",
        sa.Column("referral_id", sa.String(36), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=True),
        sa.Column("referrer_system", sa.String(64), nullable=False),
        sa.Column("referrer_reference", sa.String(200), nullable=False),
        sa.Column("caf_system", sa.String(64), nullable=True),
        sa.Column("episode_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=True),
        sa.Column("previous_referral_id", sa.String(36), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["child_id"], ["children.child_id"],
                                name=op.f("fk_referrals_child_id_children")),
        sa.PrimaryKeyConstraint("referral_id", name=op.f("pk_referrals")),
    )
    op.create_index(op.f("ix_referrals_correlation_id"), "referrals", ["correlation_id"])
    op.create_index(op.f("ix_referrals_child_id"), "referrals", ["child_id"])
    op.create_index(op.f("ix_referrals_status"), "referrals", ["status"])


def downgrade() -> None:
    op.drop_table("referrals")
    with op.batch_alter_table("inbox") as batch_op:
        batch_op.drop_column("hold_reason")
