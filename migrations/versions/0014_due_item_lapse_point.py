"""the About To Lapse point on a customer's most reordered due row, indexed

The due scan finds customers whose lapse point passed with an index range scan, as it finds
who is due (`remind_at`) and late (`late_at`); only the row of the product that sets a
customer's lapse point holds one, the others stay NULL. Rows stored before hold NULL until the
next recompute.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.core.tables


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('lapse_at', services.core.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index('ix_due_item_lapse_at', ['lapse_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.drop_index('ix_due_item_lapse_at')
        batch_op.drop_column('lapse_at')
