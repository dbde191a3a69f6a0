"""ETSI GS QKD 004 key streams: the streams and the keys of their indices (:mod:`qinternet.kms.streams`).

The keys of a stream live in a table of their own, never in ``keys``: ETSI GS QKD 014's Get key with key
IDs reads ``keys`` only, so it cannot hand out a key a stream holds. Their state column takes the new state
``VOIDED`` (a plain string, as ``keys.state``: no CHECK constraint).

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_STATES = ("RESERVED", "DELIVERED", "EXPIRED", "VOIDED")


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "key_streams",
        sa.Column("ksid", sa.String(36), primary_key=True),
        sa.Column("sae_a", sa.String(100), nullable=False),
        sa.Column("kme_a", sa.String(100), nullable=False),
        sa.Column("sae_b", sa.String(100), nullable=False),
        sa.Column("kme_b", sa.String(100), nullable=False),
        sa.Column("end_a", sa.String(8), nullable=False),
        sa.Column("end_b", sa.String(8), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("qos", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
    )
    op.create_table(
        "stream_keys",
        sa.Column("ksid", sa.String(36), primary_key=True),
        sa.Column("idx", sa.BigInteger(), primary_key=True),
        sa.Column("sae_id", sa.String(100), primary_key=True),
        sa.Column("kme_id", sa.String(100), nullable=False),
        sa.Column("state", sa.Enum(*_STATES, name="keystate", native_enum=False, length=16), nullable=False),
        sa.Column("material", sa.LargeBinary(), nullable=True),
        sa.Column("hops", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("stream_keys")
    op.drop_table("key_streams")
