"""children, their cross-referenced identifiers, demographic match keys and identity reviews

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "children",
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_from", sa.String(36), nullable=True),
        sa.Column("shielded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("child_id", name=op.f("pk_children")),
    )
    op.create_table(
        "child_links",
        sa.Column("link_key", sa.String(64), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("scheme", sa.String(40), nullable=False),
        sa.Column("source_system", sa.String(64), nullable=False),
        sa.Column("basis", sa.String(20), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["children.child_id"],
                                name=op.f("fk_child_links_child_id_children")),
        sa.PrimaryKeyConstraint("link_key", name=op.f("pk_child_links")),
    )
    op.create_index(op.f("ix_child_links_child_id"), "child_links", ["child_id"])
    op.create_table(
        "child_demographics",
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("full_key", sa.String(64), nullable=False),
        sa.Column("partial_key", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["children.child_id"],
                                name=op.f("fk_child_demographics_child_id_children")),
        sa.PrimaryKeyConstraint("child_id", "full_key", name=op.f("pk_child_demographics")),
    )
    op.create_index(op.f("ix_child_demographics_partial_key"), "child_demographics", ["partial_key"])
    op.create_table(
        "identity_reviews",
        sa.Column("review_id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("source_system", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("child_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["inbox.message_id"],
                                name=op.f("fk_identity_reviews_message_id_inbox")),
        sa.PrimaryKeyConstraint("review_id", name=op.f("pk_identity_reviews")),
    )
    op.create_index(op.f("ix_identity_reviews_message_id"), "identity_reviews", ["message_id"])
    op.create_index(op.f("ix_identity_reviews_status"), "identity_reviews", ["status"])


def downgrade() -> None:
    op.drop_table("identity_reviews")
    op.drop_table("child_demographics")
    op.drop_table("child_links")
    op.drop_table("children")
