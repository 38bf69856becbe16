"""selling plans per product: one plan gid may sell many products

A selling plan group usually applies to several products, so the same plan gid belongs to each
of them: `selling_plan` is unique on (product, plan) instead of on the plan. The table only
mirrors Shopify's catalog (the next catalog sync fills it again), so it is made anew.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create(per_product: bool) -> None:
    unique = (
        sa.UniqueConstraint("product_id", "shopify_gid", name="uq_selling_plan_product_plan")
        if per_product
        else sa.UniqueConstraint("shopify_gid")
    )
    op.create_table(
        "selling_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopify_gid", sa.String(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("interval_unit", sa.String(), nullable=True),
        sa.Column("interval_count", sa.Integer(), nullable=True),
        sa.Column("interval_days", sa.Float(), nullable=True),
        sa.Column("adjustment_type", sa.String(), nullable=True),
        sa.Column("adjustment_percent", sa.Float(), nullable=True),
        sa.Column("adjustment_cents", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.PrimaryKeyConstraint("id"),
        unique,
    )
    op.create_index("ix_selling_plan_product_id", "selling_plan", ["product_id"], unique=False)
    if per_product:
        op.create_index(
            "ix_selling_plan_shopify_gid", "selling_plan", ["shopify_gid"], unique=False
        )


def _drop(per_product: bool) -> None:
    if per_product:
        op.drop_index("ix_selling_plan_shopify_gid", table_name="selling_plan")
    op.drop_index("ix_selling_plan_product_id", table_name="selling_plan")
    op.drop_table("selling_plan")


def upgrade() -> None:
    _drop(False)
    _create(True)


def downgrade() -> None:
    _drop(True)
    _create(False)
