"""leases and attempt counts: an inbound message's processing attempts (a message that keeps
failing is set aside as poison) and its re-announcement lease; a delivery's lease, held by the
worker sending it, so a dead worker's work is taken over when the lease runs out

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("leased_by", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("leased_by")
        batch_op.drop_column("lease_until")
    with op.batch_alter_table("inbox") as batch_op:
        batch_op.drop_column("failure_reason")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("attempts")
