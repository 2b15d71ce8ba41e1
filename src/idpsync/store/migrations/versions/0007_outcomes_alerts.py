"""Alerts sent once per condition, connectors awaiting approval, consecutive target failures.

Revision ID: 0007_outcomes_alerts
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_outcomes_alerts"
down_revision = "0006_web_hardening"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("removals", sa.JSON(), nullable=False),
        sa.Column("check_run_id", ID, nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connector", name="pk_approvals"),
    )
    op.create_table(
        "open_alerts",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject", name="pk_open_alerts"),
    )
    op.add_column(
        "targets",
        sa.Column("failed_rounds", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("failed_rounds")
    op.drop_table("open_alerts")
    op.drop_table("approvals")
