"""Key streams from QKD devices (the southbound interface, :mod:`qinternet.kms.southbound`).

A link's two devices push the same keys, by index, each to its own KME; the halves wait in ``device_keys``
until both came and agree, and then go into the link's pool once.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "device_streams",
        sa.Column("ksid", sa.String(36), primary_key=True),
        sa.Column("link", sa.String(100), nullable=False),
        sa.Column("kme_a", sa.String(100), nullable=False),
        sa.Column("kme_b", sa.String(100), nullable=False),
        sa.Column("end_a", sa.String(8), nullable=False),
        sa.Column("end_b", sa.String(8), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "device_keys",
        sa.Column("ksid", sa.String(36), primary_key=True),
        sa.Column("idx", sa.BigInteger(), primary_key=True),
        sa.Column("kme_id", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("material", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("device_keys")
    op.drop_table("device_streams")
