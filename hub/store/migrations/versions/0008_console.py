"""the operations console: users, sessions, discarded dead letters; indexes for its pages

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_console_users"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_username", "console_sessions", ["username"])
    op.create_table(
        "dead_letter_discards",
        sa.Column("dead_letter_id", sa.String(36), nullable=False),
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("dead_reason", sa.Text(), nullable=False),
        sa.Column("discarded_by", sa.String(100), nullable=False),
        sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("dead_letter_id", name="pk_dead_letter_discards"),
    )
    op.create_index("ix_dead_letter_discards_delivery_id", "dead_letter_discards", ["delivery_id"])
    op.create_index("ix_dead_letter_discards_message_id", "dead_letter_discards", ["message_id"])
    op.create_index("ix_inbox_received_traffic", "inbox",
                    ["received_at", "source_system", "message_type", "status"])
    op.create_index("ix_inbox_status", "inbox", ["status"])
    op.create_index("ix_deliveries_created_traffic", "deliveries",
                    ["created_at", "destination", "message_type", "status"])
    op.create_index("ix_deliveries_status_destination", "deliveries", ["status", "destination"])
    op.create_index("ix_dead_letters_dead_at", "dead_letters", ["dead_at"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_dead_at", "dead_letters")
    op.drop_index("ix_deliveries_status_destination", "deliveries")
    op.drop_index("ix_deliveries_created_traffic", "deliveries")
    op.drop_index("ix_inbox_status", "inbox")
    op.drop_index("ix_inbox_received_traffic", "inbox")
    op.drop_table("dead_letter_discards")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
