"""A digest of each member's staged edges: ``source_edge_digests``.

Per connector and member id, the digest of the edges staged with that member
(``store/edge_digests.py``). A complete read compares its members' digests with these and
diffs only the edges of the members whose digest differs. A stage without rows here (staged
before this revision, or after a write that drops them) is diffed whole once, as before, and
gets its digests.

Revision ID: 0015_stage_edge_digests
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_stage_edge_digests"
down_revision = "0014_stage_digests"


def upgrade() -> None:
    op.create_table(
        "source_edge_digests",
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector"],
            ["connectors.name"],
            name="fk_source_edge_digests_connector_connectors",
        ),
        sa.PrimaryKeyConstraint("connector", "member_id", name="pk_source_edge_digests"),
        sqlite_with_rowid=False,  # read whole by connector: the rows in their key's order
    )


def downgrade() -> None:
    op.drop_table("source_edge_digests")
