"""Primed For Cross-sell: learned pairs, the merchant's pinned pairs, and who ordered when

The nightly recompute rewrites `cross_sell_pair` (a product's best partners by lift, with their
support); `cross_sell_pin` holds the partners the merchant chose on the Products page. The scan
finds who ordered N days ago by a range scan of the new `ix_due_item_last_purchased_at`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.core.tables


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'cross_sell_pair',
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('paired_product_id', sa.Integer(), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('lift', sa.Float(), nullable=False),
        sa.Column('support', sa.Integer(), nullable=False),
        sa.Column(
            'computed_at', services.core.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(['paired_product_id'], ['product.id']),
        sa.ForeignKeyConstraint(['product_id'], ['product.id']),
        sa.PrimaryKeyConstraint('product_id', 'paired_product_id'),
    )
    op.create_index('ix_cross_sell_pair_paired', 'cross_sell_pair', ['paired_product_id'])
    op.create_table(
        'cross_sell_pin',
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('paired_product_id', sa.Integer(), nullable=False),
        sa.Column('pinned_at', services.core.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['paired_product_id'], ['product.id']),
        sa.ForeignKeyConstraint(['product_id'], ['product.id']),
        sa.PrimaryKeyConstraint('product_id'),
    )
    op.create_index('ix_cross_sell_pin_paired', 'cross_sell_pin', ['paired_product_id'])
    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.create_index(
            'ix_due_item_last_purchased_at', ['last_purchased_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.drop_index('ix_due_item_last_purchased_at')
    op.drop_index('ix_cross_sell_pin_paired', table_name='cross_sell_pin')
    op.drop_table('cross_sell_pin')
    op.drop_index('ix_cross_sell_pair_paired', table_name='cross_sell_pair')
    op.drop_table('cross_sell_pair')
