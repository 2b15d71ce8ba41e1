"""Per-run object lists for the run browser (``run_objects``).

Planned changes of dry and guarded runs, and the users and groups a run left out (skipped,
collided, out of scope, dropped, waiting), each with its reason, so the run page can page
through them instead of one JSON blob.

Revision ID: 0008_run_objects
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_run_objects"
down_revision = "0007_outcomes_alerts"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "run_objects",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("op", sa.String(32), nullable=True),
        sa.Column("object_type", sa.String(8), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_objects_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_run_objects"),
    )
    op.create_index("ix_run_objects_run_id_outcome", "run_objects", ["run_id", "outcome"])


def downgrade() -> None:
    op.drop_index("ix_run_objects_run_id_outcome", table_name="run_objects")
    op.drop_table("run_objects")
