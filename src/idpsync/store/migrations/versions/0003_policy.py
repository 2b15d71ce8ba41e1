"""Sync policy: e-mail keys, missing-run counters, local deactivation, run reports, reasons.

Revision ID: 0003_policy
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0003_policy"
down_revision = "0002_targets"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_key", sa.String(512), nullable=True))
        batch.add_column(
            sa.Column("missing_runs", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("locally_disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_users_email_key", ["email_key"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("report", sa.JSON(), nullable=True))
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
    users = sa.table(
        "users",
        sa.column("id", sa.Integer()),
        sa.column("email", sa.String()),
        sa.column("email_key", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.email).where(users.c.email.is_not(None)))
    updates = [{"i": r.id, "k": unicodedata.normalize("NFKC", r.email).casefold()} for r in rows]
    if updates:
        conn.execute(
            users.update()
            .where(users.c.id == sa.bindparam("i"))
            .values(email_key=sa.bindparam("k")),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("report")
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_email_key")
        batch.drop_column("locally_disabled")
        batch.drop_column("missing_runs")
        batch.drop_column("email_key")
