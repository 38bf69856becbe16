"""products waiting to be relearned; indexes for the hot paths

An order now re-dates only its own customer and queues its products in `pending_relearn`; the
worker's relearn job relearns their intervals and re-dates their buyers in chunks. The indexes
make range and lookup queries that scanned a whole table use an index: customers due per day
ahead (`due_item.due_at`), a customer's cart events (privacy requests, deleting a customer) and
the due scan's "snoozes that ended" (`snooze.until`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.core.tables


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pending_relearn',
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('queued_at', services.core.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('product_id')
    )

    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.create_index('ix_due_item_due_at', ['due_at'], unique=False)

    with op.batch_alter_table('cart_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_event_customer_id'), ['customer_id'], unique=False)

    with op.batch_alter_table('snooze', schema=None) as batch_op:
        batch_op.create_index('ix_snooze_until', ['until'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('snooze', schema=None) as batch_op:
        batch_op.drop_index('ix_snooze_until')

    with op.batch_alter_table('cart_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_event_customer_id'))

    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.drop_index('ix_due_item_due_at')

    op.drop_table('pending_relearn')
