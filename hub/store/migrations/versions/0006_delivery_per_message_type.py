"""one inbound message may cause several messages to one destination (and a released message
more than once): deliveries are indexed by message and destination, not unique

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_constraint("uq_delivery_destination", type_="unique")
        batch_op.create_index("ix_deliveries_message_destination", ["message_id", "destination"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_index("ix_deliveries_message_destination")
        batch_op.create_unique_constraint("uq_delivery_destination", ["message_id", "destination"])
