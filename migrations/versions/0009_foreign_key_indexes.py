"""indexes on the foreign keys to products and variants

Deleting a product or variant (the merge of order-export placeholders deletes thousands) makes
SQLite and PostgreSQL look up every row that points at it; without an index each lookup scans
the whole table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.core.tables


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_line_variant_id'), ['variant_id'], unique=False)

    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.create_index('ix_due_item_product_id', ['product_id'], unique=False)
        batch_op.create_index('ix_due_item_variant_id', ['variant_id'], unique=False)

    with op.batch_alter_table('snooze', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_snooze_product_id'), ['product_id'], unique=False)

    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_replacement_product_id'), ['replacement_product_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_replacement_product_id'))

    with op.batch_alter_table('snooze', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snooze_product_id'))

    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.drop_index('ix_due_item_variant_id')
        batch_op.drop_index('ix_due_item_product_id')

    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_line_variant_id'))
