"""GraphQL order and product nodes (paged replies or bulk JSONL lines) to plain records.

A paged reply and a bulk export carry the same fields; only the line items arrive differently
(nested `lineItems.nodes` or separate `__parentId` lines), so both end here as the same records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.core.money import parse_money
from services.shopify.records import (
    LineItemRecord,
    OrderRecord,
    ProductRecord,
    SellingPlanRecord,
    VariantRecord,
)

__all__ = [
    "ShopifyDataError",
    "line_item_record",
    "order_record",
    "parse_time",
    "product_record",
    "selling_plan_records",
    "variant_record",
]


class ShopifyDataError(ValueError):
    """A node lacks what every order or product has (an id, a date): the data is not usable."""


def parse_time(value: str | None) -> datetime | None:
    """Shopify's ISO-8601 times (`Z` or an offset) to aware UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ShopifyDataError(f"not a date: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def line_item_record(node: Mapping[str, Any]) -> LineItemRecord:
    price = _dig(node, "originalUnitPriceSet", "shopMoney", "amount")
    return LineItemRecord(
        title=str(node.get("title") or ""),
        sku=(node.get("sku") or None),
        quantity=int(node.get("quantity") or 0),
        unit_price_cents=parse_money(price) if price is not None else None,
        variant_gid=_dig(node, "variant", "id"),
        product_gid=_dig(node, "product", "id"),
        selling_plan_gid=_dig(node, "sellingPlan", "sellingPlanId") or None,
    )


def order_record(node: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> OrderRecord:
    """An order node and all its line item nodes (however they were fetched) as a record."""
    gid = node.get("id")
    if not gid:
        raise ShopifyDataError("order without an id")
    created = parse_time(node.get("createdAt"))
    processed = parse_time(node.get("processedAt")) or created
    if processed is None:
        raise ShopifyDataError(f"order {gid} has no date")
    customer = node.get("customer") or {}
    email = node.get("email") or _dig(customer, "defaultEmailAddress", "emailAddress")
    phone = node.get("phone") or _dig(customer, "defaultPhoneNumber", "phoneNumber")
    money = _dig(node, "totalPriceSet", "shopMoney") or {}
    status = node.get("displayFinancialStatus")
    return OrderRecord(
        gid=gid,
        name=str(node.get("name") or ""),
        processed_at=processed,
        updated_at=parse_time(node.get("updatedAt")) or processed,
        cancelled_at=parse_time(node.get("cancelledAt")),
        financial_status=status.lower() if isinstance(status, str) else None,
        test=bool(node.get("test")),
        email=email or None,
        phone=phone or None,
        customer_gid=customer.get("id") or None,
        first_name=str(customer.get("firstName") or ""),
        total_cents=parse_money(money["amount"]) if money.get("amount") is not None else 0,
        currency=str(money.get("currencyCode") or ""),
        attributes={
            str(item.get("key")): str(item.get("value") or "")
            for item in node.get("customAttributes") or ()
            if item.get("key")
        },
        lines=tuple(line_item_record(line) for line in lines),
    )


def variant_record(node: Mapping[str, Any]) -> VariantRecord:
    price = node.get("price")
    return VariantRecord(
        gid=node["id"],
        title=str(node.get("title") or "Default Title"),
        sku=node.get("sku") or None,
        price_cents=parse_money(str(price)) if price is not None else None,
        available=bool(node.get("availableForSale")),
    )


def selling_plan_records(groups: Iterable[Mapping[str, Any]]) -> tuple[SellingPlanRecord, ...]:
    """The plans of `sellingPlanGroups` nodes, groups then plans in the shop's order. A plan
    whose delivery is not recurring has no interval; only the first pricing policy is kept."""
    plans: list[SellingPlanRecord] = []
    for group in groups:
        for plan in _dig(group, "sellingPlans", "nodes") or ():
            if not plan.get("id"):
                continue
            delivery = plan.get("deliveryPolicy") or {}
            policy = next(iter(plan.get("pricingPolicies") or ()), None) or {}
            value = policy.get("adjustmentValue") or {}
            kind = policy.get("adjustmentType")
            percent = value.get("percentage")
            amount = value.get("amount")
            count = delivery.get("intervalCount")
            plans.append(
                SellingPlanRecord(
                    gid=plan["id"],
                    group_name=str(group.get("name") or ""),
                    name=str(plan.get("name") or ""),
                    interval_unit=delivery.get("interval") or None,
                    interval_count=int(count) if count is not None else None,
                    adjustment_type=kind or None,
                    adjustment_percent=float(percent) if percent is not None else None,
                    adjustment_cents=parse_money(str(amount)) if amount is not None else None,
                )
            )
    return tuple(plans)


def product_record(
    node: Mapping[str, Any],
    variants: Iterable[Mapping[str, Any]],
    plan_groups: Iterable[Mapping[str, Any]] | None = None,
) -> ProductRecord:
    """A product node, all its variant nodes and (when fetched) all its selling plan group
    nodes; a missing image is tolerated (unconfirmed path)."""
    gid = node.get("id")
    if not gid:
        raise ShopifyDataError("product without an id")
    updated = parse_time(node.get("updatedAt"))
    if updated is None:
        raise ShopifyDataError(f"product {gid} has no updatedAt")
    return ProductRecord(
        gid=gid,
        title=str(node.get("title") or ""),
        handle=str(node.get("handle") or ""),
        status=str(node.get("status") or "active").lower(),
        updated_at=updated,
        image_url=_dig(node, "featuredMedia", "preview", "image", "url"),
        variants=tuple(variant_record(v) for v in variants),
        subscription_only=(
            bool(node["requiresSellingPlan"]) if "requiresSellingPlan" in node else None
        ),
        selling_plans=selling_plan_records(plan_groups) if plan_groups is not None else None,
    )


def _dig(node: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = node
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
