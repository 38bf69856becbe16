"""the Moment a cart visit and an order came from, for the Analytics page's per-Moment figures

A Moment's event links its cart with `&m=<moment>`; the cart records it on its events and passes
it to checkout as a cart attribute, which comes back on the order. Both columns stay NULL for
visits and orders that came from anything else (a profile's link, a direct visit).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cart_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moment', sa.String(), nullable=True))
        batch_op.create_index(
            'ix_cart_event_moment_time', ['moment', 'occurred_at', 'kind', 'cart_link_id'],
            unique=False,
        )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributed_moment', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('attributed_moment')
    with op.batch_alter_table('cart_event', schema=None) as batch_op:
        batch_op.drop_index('ix_cart_event_moment_time')
        batch_op.drop_column('moment')
