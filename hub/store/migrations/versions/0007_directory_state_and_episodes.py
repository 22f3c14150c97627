"""what each directory should show per child, in order (a per-child version and one row per
subject: lead professional, CAF indicator, each involvement); and the CAF episodes the hub has
seen change hands, for step-down

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_children",
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["children.child_id"],
                                name=op.f("fk_directory_children_child_id_children")),
        sa.PrimaryKeyConstraint("child_id", name=op.f("pk_directory_children")),
    )
    op.create_table(
        "directory_entries",
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.Column("child_version", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("message_type", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("envelope_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["directory_children.child_id"],
                                name=op.f("fk_directory_entries_child_id_directory_children")),
        sa.ForeignKeyConstraint(["message_id"], ["inbox.message_id"],
                                name=op.f("fk_directory_entries_message_id_inbox")),
        sa.PrimaryKeyConstraint("child_id", "subject", name=op.f("pk_directory_entries")),
    )
    op.create_index(op.f("ix_directory_entries_message_id"), "directory_entries", ["message_id"])
    op.create_table(
        "caf_episodes",
        sa.Column("caf_system", sa.String(64), nullable=False),
        sa.Column("episode_id", sa.String(200), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["children.child_id"],
                                name=op.f("fk_caf_episodes_child_id_children")),
        sa.PrimaryKeyConstraint("caf_system", "episode_id", name=op.f("pk_caf_episodes")),
    )
    op.create_index(op.f("ix_caf_episodes_child_id"), "caf_episodes", ["child_id"])


def downgrade() -> None:
    op.drop_table("caf_episodes")
    op.drop_table("directory_entries")
    op.drop_table("directory_children")
