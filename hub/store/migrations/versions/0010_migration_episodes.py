"""episode transfers between authorities' CAF systems (sender, receiver, status), and migration runs: each episode of a local eCAF export and its outcome (imported, held back with
the reason, rejected, or being sent in a batch), keyed by export and episode so a re-run resumes

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migration_episodes",
        sa.Column("export_id", sa.String(200), primary_key=True),
        sa.Column("episode_id", sa.String(200), primary_key=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.String(36), nullable=True),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_migration_episodes_outcome", "migration_episodes", ["outcome"])
    op.create_index("ix_migration_episodes_batch_id", "migration_episodes", ["batch_id"])
    op.create_table(
        "episode_transfers",
        sa.Column("receiver", sa.String(64), primary_key=True),
        sa.Column("episode_id", sa.String(200), primary_key=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_episode_transfers_child_id", "episode_transfers", ["child_id"])


def downgrade() -> None:
    op.drop_index("ix_episode_transfers_child_id", "episode_transfers")
    op.drop_table("episode_transfers")
    op.drop_index("ix_migration_episodes_batch_id", "migration_episodes")
    op.drop_index("ix_migration_episodes_outcome", "migration_episodes")
    op.drop_table("migration_episodes")
