"""a digest of each webhook body, unique

Shopify signs the body only: a captured body resent with a new event id (or under another
topic) must be recognised as the same delivery. Rows stored before keep no digest (NULL).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f('ix_webhook_event_body_sha256'), ['body_sha256'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_event_body_sha256'))
        batch_op.drop_column('body_sha256')
