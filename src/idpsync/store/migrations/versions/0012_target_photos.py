"""Photos delivered to targets: the digest each target user holds and whether it is due a check
(``target_objects.photo_digest``, ``target_objects.photo_pending``).

Users already in a target whose directory entry has a photo are marked due, so the first
delivery after the upgrade sends the photos they never received.

Revision ID: 0012_target_photos
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_target_photos"
down_revision = "0011_photos"

INDEX = "ix_target_objects_target_photo_pending"


def upgrade() -> None:
    op.add_column("target_objects", sa.Column("photo_digest", sa.String(80), nullable=True))
    op.add_column(
        "target_objects",
        sa.Column("photo_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(INDEX, "target_objects", ["target", "photo_pending"])
    op.execute(
        "UPDATE target_objects SET photo_pending = TRUE WHERE object_type = 'user' AND EXISTS ("
        "SELECT 1 FROM users WHERE users.connector = target_objects.connector"
        " AND users.source_id = target_objects.source_id AND users.photo_ref IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="target_objects")
    with op.batch_alter_table("target_objects") as batch:
        batch.drop_column("photo_pending")
        batch.drop_column("photo_digest")
