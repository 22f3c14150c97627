"""connected systems name the mapping profile their format follows

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connected_systems") as batch_op:
        batch_op.add_column(
            sa.Column("profile", sa.String(length=64), nullable=False, server_default="standard")
        )


def downgrade() -> None:
    with op.batch_alter_table("connected_systems") as batch_op:
        batch_op.drop_column("profile")
