"""unique discount codes: one live code per customer, reserved by the due scan

`unique_code` holds each customer's own code (pending until created in Shopify, or failed
with the reason); a partial unique index keeps one live (not retired) code per customer.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-04 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.core.tables

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text('retired_at IS NULL')
UTC = services.core.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'unique_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(), nullable=False),
        sa.Column('state', sa.String(), nullable=False),
        sa.Column('error', sa.String(), nullable=False),
        sa.Column('discount_gid', sa.String(), nullable=False),
        sa.Column('ends_at', UTC, nullable=True),
        sa.Column('reserved_at', UTC, nullable=False),
        sa.Column('settled_at', UTC, nullable=True),
        sa.Column('retired_at', UTC, nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
    )
    op.create_index(
        'ux_unique_code_live_customer', 'unique_code', ['customer_id'], unique=True,
        sqlite_where=LIVE, postgresql_where=LIVE,
    )
    op.create_index('ix_unique_code_state', 'unique_code', ['state', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_unique_code_state', table_name='unique_code')
    op.drop_index('ux_unique_code_live_customer', table_name='unique_code')
    op.drop_table('unique_code')
