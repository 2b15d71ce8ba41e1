"""Encrypted refresh tokens from ``idpsync authorize``.

Revision ID: 0002_tokens
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_tokens"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "oauth_tokens",
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connector", name="pk_oauth_tokens"),
    )


def downgrade() -> None:
    op.drop_table("oauth_tokens")
