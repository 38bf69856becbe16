"""cart events of featured product links: no cart link, no customer, a visit id instead

A featured link (`/replenish?v=...`) opens a cart for anyone, so its events name no cart link
and no customer; `featured_visit` (one per page opened) is what groups them into sessions.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cart_event', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'featured_visit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True
            )
        )
        batch_op.alter_column('cart_link_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('customer_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM cart_event WHERE cart_link_id IS NULL OR customer_id IS NULL")
    with op.batch_alter_table('cart_event', schema=None) as batch_op:
        batch_op.alter_column('customer_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('cart_link_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('featured_visit')
