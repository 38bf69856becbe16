"""selling plans: each product's subscription options, and the order lines bought with one

`selling_plan` holds the plans of a product's `sellingPlanGroups` (synced with the catalog);
`product.subscription_only` is Shopify's `requiresSellingPlan`; `order_line.selling_plan_gid`
marks a line bought as a subscription (a customer known to be subscribed).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'selling_plan',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shopify_gid', sa.String(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('group_name', sa.String(), nullable=False),
        sa.Column('name', sa.String(), nullable=False),
        sa.Column('interval_unit', sa.String(), nullable=True),
        sa.Column('interval_count', sa.Integer(), nullable=True),
        sa.Column('interval_days', sa.Float(), nullable=True),
        sa.Column('adjustment_type', sa.String(), nullable=True),
        sa.Column('adjustment_percent', sa.Float(), nullable=True),
        sa.Column('adjustment_cents', sa.Integer(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['product_id'], ['product.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('shopify_gid'),
    )
    op.create_index('ix_selling_plan_product_id', 'selling_plan', ['product_id'], unique=False)
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('subscription_only', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('selling_plan_gid', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_column('selling_plan_gid')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_column('subscription_only')
    op.drop_index('ix_selling_plan_product_id', table_name='selling_plan')
    op.drop_table('selling_plan')
