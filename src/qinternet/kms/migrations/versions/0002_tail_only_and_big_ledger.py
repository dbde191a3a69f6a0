"""Pool blocks keep only their unused tail; ledger bits as 64-bit integers.

Revision 0001 kept a block's whole material and an offset; from 0002 the taken bytes leave the row as
they are taken (``material`` is the tail from ``used_bytes``), so that delivered key does not linger in
the database. A ledger event can also count more than 2^31 bits (a long block of a fast link).

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Cut every block's used prefix; widen ``ledger.bits``."""
    op.execute("UPDATE pool_blocks SET material = substr(material, used_bytes + 1) WHERE used_bytes > 0")
    with op.batch_alter_table("ledger") as batch:
        batch.alter_column("bits", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    """Pad every block's material back to its full size (the taken bytes are gone: zeros)."""
    with op.batch_alter_table("ledger") as batch:
        batch.alter_column("bits", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
    zeros = (
        "zeroblob(used_bytes)" if op.get_bind().dialect.name == "sqlite" else "decode(repeat('00', used_bytes), 'hex')"
    )
    op.execute(f"UPDATE pool_blocks SET material = {zeros} || material WHERE used_bytes > 0")
