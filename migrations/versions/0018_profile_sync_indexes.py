"""indexes for the Klaviyo profile sync's ticks: who changed since the last run

Between its daily full sweeps the profile sync looks only at customers whose due rows were
recomputed, whose snooze started, or whose cart link was made or revoked since its last run.
Without these, each tick read the whole of `due_item` and `cart_link`; each holds the customer
id too, so the range alone answers the query.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 21:25:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.create_index('ix_due_item_computed_at', ['computed_at', 'customer_id'], unique=False)
    with op.batch_alter_table('snooze', schema=None) as batch_op:
        batch_op.create_index('ix_snooze_created_at', ['created_at', 'customer_id'], unique=False)
    with op.batch_alter_table('cart_link', schema=None) as batch_op:
        batch_op.create_index('ix_cart_link_created_at', ['created_at', 'customer_id'], unique=False)
        batch_op.create_index('ix_cart_link_revoked_at', ['revoked_at', 'customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cart_link', schema=None) as batch_op:
        batch_op.drop_index('ix_cart_link_revoked_at')
        batch_op.drop_index('ix_cart_link_created_at')
    with op.batch_alter_table('snooze', schema=None) as batch_op:
        batch_op.drop_index('ix_snooze_created_at')
    with op.batch_alter_table('due_item', schema=None) as batch_op:
        batch_op.drop_index('ix_due_item_computed_at')
