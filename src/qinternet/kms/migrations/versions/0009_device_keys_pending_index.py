"""One KME per process: an index to find a KME's own halves still ``pending`` (the relay sweep's query, every
second) without reading every half of the table, most of them long ``pooled`` or the partner's digests.

Revision ID: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the index."""
    op.create_index("ix_device_keys_state", "device_keys", ["kme_id", "state"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_device_keys_state", table_name="device_keys")
