"""Service mode: scheduled slots claimed once across instances.

Revision ID: 0005_service
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_service"
down_revision = "0003_policy"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedule_slots",
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("connector", "kind", "slot_at", name="pk_schedule_slots"),
    )


def downgrade() -> None:
    op.drop_table("schedule_slots")
