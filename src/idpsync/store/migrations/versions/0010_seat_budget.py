"""Seat budget of targets: whether a target user is active (``target_objects.active``) and the
users held back for want of a seat (``target_held``).

Revision ID: 0010_seat_budget
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_seat_budget"
down_revision = "0009_access_audit"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("target_objects", sa.Column("active", sa.Boolean(), nullable=True))
    op.create_table(
        "target_held",
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("login", sa.String(320), nullable=False),
        sa.Column("seq", ID, nullable=False),
        sa.Column("op", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["target"],
            ["targets.name"],
            name="fk_target_held_target_targets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("target", "connector", "source_id", name="pk_target_held"),
    )


def downgrade() -> None:
    op.drop_table("target_held")
    with op.batch_alter_table("target_objects") as batch:
        batch.drop_column("active")
