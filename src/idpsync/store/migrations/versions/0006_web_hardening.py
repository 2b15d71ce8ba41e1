"""Admin sign-in: server-side sessions (revoked at logout) and failed sign-ins (throttling);
confusables skeletons of logins, e-mails and group names (look-alike names collide).

Revision ID: 0006_web_hardening
"""

import sqlalchemy as sa
from alembic import op

from idpsync.engine.skeleton import skeleton

revision = "0006_web_hardening"
down_revision = "0005_service"


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_web_sessions"),
    )
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_login_failures"),
    )
    for table, kinds in (("users", ("login", "email")), ("groups", ("name",))):
        for kind in kinds:
            op.add_column(table, sa.Column(f"{kind}_skeleton", sa.String(1024), nullable=True))
            op.create_index(f"ix_{table}_{kind}_skeleton", table, [f"{kind}_skeleton"])
            _backfill(table, kind)


def _backfill(table: str, kind: str) -> None:
    """The skeleton of every folded key already stored (``{kind}_key``)."""
    rows = sa.table(
        table,
        sa.column("id", sa.Integer()),
        sa.column(f"{kind}_key", sa.String()),
        sa.column(f"{kind}_skeleton", sa.String()),
    )
    conn = op.get_bind()
    key = rows.c[f"{kind}_key"]
    found = conn.execute(sa.select(rows.c.id, key).where(key.is_not(None))).all()
    updates = [{"i": row[0], "s": skeleton(row[1])} for row in found]
    if updates:
        conn.execute(
            rows.update()
            .where(rows.c.id == sa.bindparam("i"))
            .values({f"{kind}_skeleton": sa.bindparam("s")}),
            updates,
        )


def downgrade() -> None:
    for table, kinds in (("users", ("login", "email")), ("groups", ("name",))):
        for kind in kinds:
            op.drop_index(f"ix_{table}_{kind}_skeleton", table)
            op.drop_column(table, f"{kind}_skeleton")
    op.drop_table("login_failures")
    op.drop_table("web_sessions")
