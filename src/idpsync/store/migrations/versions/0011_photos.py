"""Photo bytes, content-addressed (``photo_blobs``), and each user's photo (``user_photos``).

Revision ID: 0011_photos
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_photos"
down_revision = "0010_seat_budget"


def upgrade() -> None:
    op.create_table(
        "photo_blobs",
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_photo_blobs"),
    )
    op.create_table(
        "user_photos",
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("version", sa.String(255), nullable=True),
        sa.Column("digest", sa.String(80), nullable=True),
        sa.Column("wanted", sa.String(255), nullable=True),
        sa.Column("refused", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest"], ["photo_blobs.digest"], name="fk_user_photos_digest_photo_blobs"
        ),
        sa.PrimaryKeyConstraint("connector", "source_id", name="pk_user_photos"),
    )
    op.create_index("ix_user_photos_digest", "user_photos", ["digest"])
    op.create_index("ix_user_photos_source_id_version", "user_photos", ["source_id", "version"])


def downgrade() -> None:
    op.drop_table("user_photos")
    op.drop_table("photo_blobs")
