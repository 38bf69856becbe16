"""one live cart link per customer; a fencing token on job leases

A customer could end up with two live cart links (two processes creating one at once, or a
rotation that revoked only one of them). The partial unique index makes that impossible; links
that already doubled up keep only their newest live link (the others show "expired", as a
rotated link does).

`job_lease.token` counts acquisitions, so a job that lost its lease can be told apart from the
one that took it over, and its writes refused.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.core.clock
import services.core.tables


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text('revoked_at IS NULL')


def upgrade() -> None:
    cart_link = sa.table(
        'cart_link',
        sa.column('id', sa.Integer),
        sa.column('customer_id', sa.Integer),
        sa.column('revoked_at', services.core.tables.UTCDateTime(timezone=True)),
    )
    newest_live = (
        sa.select(sa.func.max(cart_link.c.id))
        .where(cart_link.c.revoked_at.is_(None))
        .group_by(cart_link.c.customer_id)
    )
    op.execute(
        cart_link.update()
        .where(cart_link.c.revoked_at.is_(None), cart_link.c.id.not_in(newest_live))
        .values(revoked_at=services.core.clock.utcnow())
    )
    op.create_index(
        'ux_cart_link_live_customer',
        'cart_link',
        ['customer_id'],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    with op.batch_alter_table('job_lease') as batch:
        batch.add_column(sa.Column('token', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('job_lease') as batch:
        batch.drop_column('token')
    op.drop_index('ux_cart_link_live_customer', table_name='cart_link')
