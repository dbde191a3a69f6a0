"""One KME per process (``qinternet kme``, :mod:`qinternet.kms.relay`): the link key each KME holds by stream
and index, split by the direction it may be sent in, and the relays each KME took part in.

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "link_keys",
        sa.Column("ksid", sa.String(36), primary_key=True),
        sa.Column("idx", sa.BigInteger(), primary_key=True),
        sa.Column("kme_id", sa.String(100), primary_key=True),
        sa.Column("peer_kme", sa.String(100), nullable=False),
        sa.Column("sender", sa.String(100), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("material", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_link_keys_ready", "link_keys", ["kme_id", "peer_kme", "sender", "state", "created_at"])
    op.create_table(
        "relays",
        sa.Column("relay_id", sa.String(36), primary_key=True),
        sa.Column("kme_id", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("path", sa.String(4000), nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=True),
        sa.Column("outgoing", sa.Text(), nullable=True),
        sa.Column("master_sae", sa.String(100), nullable=False),
        sa.Column("slave_sae", sa.String(100), nullable=False),
        sa.Column("key_ids", sa.Text(), nullable=False),
        sa.Column("material", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_relays_state", "relays", ["kme_id", "role", "state"])


def downgrade() -> None:
    """Drop them."""
    op.drop_table("relays")
    op.drop_table("link_keys")
