"""The staged edges by member: ``source_memberships (connector, member_id, group_id, member_kind)``.

The stage's key starts with the group, so a read of the edges of some members (OneLogin's and
Okta's incremental reads, ``StagedMirror.edges_of_members``) scanned every staged edge of the
connector once per batch of ids. The index holds every column the read selects, so the read
never visits the table. A connector's first load builds this index after its rows
(``store/deferred.py``), as it does the directory's own membership index.

Revision ID: 0013_stage_member_index
"""

from alembic import op

revision = "0013_stage_member_index"
down_revision = "0012_target_photos"

INDEX = "ix_source_memberships_member"


def upgrade() -> None:
    op.create_index(
        INDEX, "source_memberships", ["connector", "member_id", "group_id", "member_kind"]
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="source_memberships")
