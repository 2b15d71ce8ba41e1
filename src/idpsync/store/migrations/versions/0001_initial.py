"""Initial schema: connectors, directory, stage, runs and change log.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("source_type", sa.String(32), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_connectors"),
    )
    op.create_table(
        "users",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("connector", sa.String(64), nullable=True),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("login", sa.String(512), nullable=False),
        sa.Column("login_key", sa.String(512), nullable=False),
        sa.Column("email", sa.String(512), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("given_name", sa.Text(), nullable=True),
        sa.Column("family_name", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("manager_id", sa.String(255), nullable=True),
        sa.Column("photo_ref", sa.String(255), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("deactivated_at", TS, nullable=True),
        sa.Column("missing_since", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["connector"], ["connectors.name"], name="fk_users_connector_connectors"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("connector", "source_id", name="uq_users_connector_source_id"),
    )
    op.create_index("ix_users_login_key", "users", ["login_key"])
    op.create_table(
        "groups",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("connector", sa.String(64), nullable=True),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("name_key", sa.String(512), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["connector"], ["connectors.name"], name="fk_groups_connector_connectors"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("connector", "source_id", name="uq_groups_connector_source_id"),
    )
    op.create_index("ix_groups_name_key", "groups", ["name_key"])
    op.create_table(
        "memberships",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("connector", sa.String(64), nullable=True),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("member_kind", sa.String(8), nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["connector"], ["connectors.name"], name="fk_memberships_connector_connectors"
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_memberships_group_id_groups", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.UniqueConstraint(
            "connector",
            "group_id",
            "member_kind",
            "member_id",
            name="uq_memberships_connector_group_id_member_kind_member_id",
        ),
    )
    op.create_index(
        "ix_memberships_member_kind_member_id", "memberships", ["member_kind", "member_id"]
    )
    for table in ("source_users", "source_groups"):
        op.create_table(
            table,
            sa.Column("connector", sa.String(64), nullable=False),
            sa.Column("source_id", sa.String(255), nullable=False),
            sa.Column("data", sa.JSON(), nullable=False),
            sa.Column("run_id", ID, nullable=False),
            sa.ForeignKeyConstraint(
                ["connector"], ["connectors.name"], name=f"fk_{table}_connector_connectors"
            ),
            sa.PrimaryKeyConstraint("connector", "source_id", name=f"pk_{table}"),
        )
    op.create_table(
        "source_memberships",
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("group_id", sa.String(255), nullable=False),
        sa.Column("member_kind", sa.String(8), nullable=False),
        sa.Column("member_id", sa.String(255), nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["connector"], ["connectors.name"], name="fk_source_memberships_connector_connectors"
        ),
        sa.PrimaryKeyConstraint(
            "connector", "group_id", "member_kind", "member_id", name="pk_source_memberships"
        ),
    )
    op.create_table(
        "runs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_connector_id", "runs", ["connector", "id"])
    op.create_table(
        "changes",
        sa.Column("seq", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("op", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(8), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_changes_run_id_runs"),
        sa.PrimaryKeyConstraint("seq", name="pk_changes"),
    )
    op.create_index("ix_changes_run_id", "changes", ["run_id"])


def downgrade() -> None:
    for table in (
        "changes",
        "runs",
        "source_memberships",
        "source_groups",
        "source_users",
        "memberships",
        "groups",
        "users",
        "connectors",
    ):
        op.drop_table(table)
