"""A digest of each staged record: ``source_users.digest``, ``source_groups.digest``.

The BLAKE2b digest (32 hex digits) of the record's staged JSON text, written with the row. A
complete read compares the digests of its records with the staged ones and writes only the
records whose digest differs, instead of loading every record into a temporary table and
comparing the JSON texts there (``store/stage.py``). Rows staged before this revision have no
digest (``NULL``): the next write compares their JSON as before and fills the digests in.

Revision ID: 0014_stage_digests
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_stage_digests"
down_revision = "0013_stage_member_index"

TABLES = ("source_users", "source_groups")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("digest", sa.String(32), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("digest")
