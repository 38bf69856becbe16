"""profile fingerprints: what each integration last accepted on a customer's profile

Klaviyo profile properties are sent only when they change; the hash of what was accepted is
kept per (customer, integration).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.core.tables


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('profile_fingerprint',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('integration', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('accepted_at', services.core.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('customer_id', 'integration')
    )


def downgrade() -> None:
    op.drop_table('profile_fingerprint')
