"""Targets: delivery cursors, object map and rejected changes.

Revision ID: 0002_targets
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_targets"
down_revision = "0002_tokens"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("cursor", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_delivery_at", TS, nullable=True),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_targets"),
    )
    op.create_table(
        "target_objects",
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(8), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=False),
        sa.Column("adopted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["target"],
            ["targets.name"],
            name="fk_target_objects_target_targets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "target", "object_type", "connector", "source_id", name="pk_target_objects"
        ),
    )
    op.create_table(
        "target_failures",
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(8), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("member_kind", sa.String(8), nullable=False),
        sa.Column("member_id", sa.String(255), nullable=False),
        sa.Column("seq", ID, nullable=False),
        sa.Column("op", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["target"],
            ["targets.name"],
            name="fk_target_failures_target_targets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "target",
            "object_type",
            "connector",
            "source_id",
            "member_kind",
            "member_id",
            name="pk_target_failures",
        ),
    )


def downgrade() -> None:
    for table in ("target_failures", "target_objects", "targets"):
        op.drop_table(table)
