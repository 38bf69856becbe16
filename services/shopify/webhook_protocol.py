"""Shopify webhooks, as a protocol: the HMAC signature and the REST payloads of the topics we use.

A pure adapter: it checks bytes and turns JSON objects into the same plain records the CSV import
and the GraphQL sync produce, so one piece of orchestration (`services.ingest.orders`,
`services.ingest.catalog`) writes every source. It knows nothing of tables or queues.

The signature covers the body only, not the `X-Shopify-Topic` header: a captured signed body can
be resent under another topic. `shape_problem` tells each topic's body apart before anything
acts on it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.core.money import parse_money
from services.shopify.records import LineItemRecord, OrderRecord, ProductRecord, VariantRecord

__all__ = [
    "WebhookPayloadError",
    "customer_gid",
    "order_record",
    "product_record",
    "shape_problem",
    "shopify_gid",
    "sign",
    "verify_hmac",
]


class WebhookPayloadError(ValueError):
    """A payload that cannot be read as the topic's object; retrying it will not help."""


def sign(secret: str, raw_body: bytes) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends for a body (tests and fakes sign with it)."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_hmac(secret: str, raw_body: bytes, header: str | None) -> bool:
    """Whether the header signs these exact bytes; compared in constant time.

    The raw bytes, never re-serialised JSON: any re-encoding changes the digest. No secret
    configured means nothing can be trusted, so everything is refused.
    """
    if not secret or not header:
        return False
    expected = sign(secret, raw_body).encode("ascii")
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


def _is_id(value: object) -> bool:
    try:
        _numeric_id(value, "id")
    except WebhookPayloadError:
        return False
    return True


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


_FIELD_CHECKS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "id": ("a positive integer", _is_id),
    "shop_id": ("a positive integer", _is_id),
    "shop_domain": ("a domain", _is_text),
    "created_at": ("a time", _is_text),
    "title": ("a string", lambda value: isinstance(value, str)),
    "line_items": ("a list", lambda value: isinstance(value, list)),
    "variants": ("a list", lambda value: isinstance(value, list)),
    "orders_to_redact": ("a list", lambda value: isinstance(value, list)),
    "orders_requested": ("a list", lambda value: isinstance(value, list)),
    "customer": ("an object", lambda value: isinstance(value, Mapping)),
    "data_request": ("an object", lambda value: isinstance(value, Mapping)),
}
_ORDER_FIELDS = ("id", "line_items", "created_at")
_PRIVACY_FIELDS = ("shop_id", "shop_domain")
_TOPIC_FIELDS: dict[str, tuple[str, ...]] = {
    "orders/create": _ORDER_FIELDS,
    "orders/updated": _ORDER_FIELDS,
    "products/update": ("id", "title", "variants"),
    "customers/data_request": (
        *_PRIVACY_FIELDS,
        "customer",
        "orders_requested",
        "data_request",
    ),
    "customers/redact": (*_PRIVACY_FIELDS, "customer", "orders_to_redact"),
    "shop/redact": _PRIVACY_FIELDS,
}
"""The fields each topic's body must carry (CONTRACTS.md), each of its kind."""
_MARKS = ("line_items", "variants", "orders_requested", "data_request", "orders_to_redact")
"""Fields that only one topic's body carries: a body with one its topic does not require is
another topic's body."""
_SHOP_REDACT_REFUSES = ("customer", "id")
"""`shop/redact` names the shop alone: a customer or an object id means another topic's body."""


def shape_problem(topic: str, payload: Mapping[str, Any]) -> str | None:
    """Why `payload` is not a body of `topic`, or None when it is.

    Checked before a body is queued: its required fields are there and of their kind, and it
    carries no field that marks another topic's body.
    """
    required = _TOPIC_FIELDS.get(topic)
    if required is None:
        return f"{topic} is an unsupported topic"
    for name in required:
        kind, check = _FIELD_CHECKS[name]
        if name not in payload or not check(payload[name]):
            return f"{topic} body has no {name} ({kind})"
    refused = _MARKS + (_SHOP_REDACT_REFUSES if topic == "shop/redact" else ())
    for name in refused:
        if name in payload and name not in required:
            return f"{topic} body carries {name}, a field of another topic"
    return None


def shopify_gid(kind: str, numeric_id: object) -> str:
    """`("Order", 123)` → `gid://shopify/Order/123`; refuses anything but a positive integer id."""
    number = _numeric_id(numeric_id, f"{kind.lower()} id")
    return f"gid://shopify/{kind}/{number}"


def customer_gid(customer: object) -> str | None:
    """The GID of a payload's `customer` object (`admin_graphql_api_id`, else its numeric id)."""
    if not isinstance(customer, Mapping):
        return None
    given = customer.get("admin_graphql_api_id")
    if isinstance(given, str) and given.startswith("gid://"):
        return given
    if customer.get("id") is None:
        return None
    return shopify_gid("Customer", customer.get("id"))


def order_record(payload: object) -> OrderRecord:
    """An `orders/create` or `orders/updated` payload (REST snake_case) as an order record.

    A line's quantity is `current_quantity` when given (what is left after order edits and
    removals: what the customer actually kept), else `quantity`; lines left with nothing are
    dropped, as they say nothing about when the customer will run out.
    """
    order = _object(payload, "order")
    gid = _gid(order, "Order")
    created = _time(order, "created_at")
    processed = _time(order, "processed_at") or created
    if processed is None:
        raise WebhookPayloadError("order has neither processed_at nor created_at")
    updated = _time(order, "updated_at") or processed
    customer = order.get("customer")
    if customer is not None and not isinstance(customer, Mapping):
        raise WebhookPayloadError("order customer is not an object")
    customer = customer or {}
    items = order.get("line_items") or []
    if not isinstance(items, list):
        raise WebhookPayloadError("order line_items is not a list")
    lines = tuple(line for item in items if (line := _line_item(item)) is not None)
    total = order.get("total_price")
    return OrderRecord(
        gid=gid,
        name=_text(order.get("name")) or "",
        processed_at=processed,
        updated_at=updated,
        cancelled_at=_time(order, "cancelled_at"),
        financial_status=(_text(order.get("financial_status")) or "").lower() or None,
        test=order.get("test") is True,
        email=_text(order.get("email")) or _text(customer.get("email")),
        phone=_text(order.get("phone")) or _text(customer.get("phone")),
        customer_gid=customer_gid(customer),
        first_name=_text(customer.get("first_name")) or "",
        total_cents=_money(total, "total_price") if total not in (None, "") else 0,
        currency=(_text(order.get("currency")) or "").upper(),
        attributes=_attributes(order.get("note_attributes")),
        lines=lines,
        lines_carry_plans=False,
    )


def product_record(payload: object) -> ProductRecord:
    """A `products/update` payload as a product record (status lowercased).

    A variant is available when it can be sold now: its inventory is not tracked
    (`inventory_management` empty), it sells when out of stock (`inventory_policy` "continue"),
    or `inventory_quantity` > 0. A payload that says nothing about inventory counts as
    available: hiding a product on missing data would hurt more, and the catalog sync reads
    Shopify's own `availableForSale` later.
    """
    product = _object(payload, "product")
    gid = _gid(product, "Product")
    updated = _time(product, "updated_at") or _time(product, "created_at")
    if updated is None:
        raise WebhookPayloadError("product has no updated_at")
    variants = product.get("variants") or []
    if not isinstance(variants, list):
        raise WebhookPayloadError("product variants is not a list")
    return ProductRecord(
        gid=gid,
        title=_text(product.get("title")) or "",
        handle=_text(product.get("handle")) or "",
        status=(_text(product.get("status")) or "active").lower(),
        updated_at=updated,
        image_url=_image(product),
        variants=tuple(_variant(item) for item in variants),
    )


def _line_item(item: object) -> LineItemRecord | None:
    line = _object(item, "line item")
    quantity = _quantity(line.get("current_quantity"))
    if quantity is None:
        quantity = _quantity(line.get("quantity"))
    if quantity is None:
        raise WebhookPayloadError("line item has no quantity")
    if quantity < 0:
        raise WebhookPayloadError(f"negative line item quantity {quantity}")
    if quantity == 0:
        return None
    price = line.get("price")
    variant_id = line.get("variant_id")
    product_id = line.get("product_id")
    return LineItemRecord(
        title=_text(line.get("name")) or _text(line.get("title")) or "",
        sku=_text(line.get("sku")),
        quantity=quantity,
        unit_price_cents=_money(price, "line item price") if price not in (None, "") else None,
        variant_gid=shopify_gid("ProductVariant", variant_id) if variant_id is not None else None,
        product_gid=shopify_gid("Product", product_id) if product_id is not None else None,
    )


def _variant(item: object) -> VariantRecord:
    variant = _object(item, "variant")
    price = variant.get("price")
    return VariantRecord(
        gid=_gid(variant, "ProductVariant"),
        title=_text(variant.get("title")) or "Default Title",
        sku=_text(variant.get("sku")),
        price_cents=_money(price, "variant price") if price not in (None, "") else None,
        available=_available(variant),
    )


def _available(variant: Mapping[str, Any]) -> bool:
    if str(variant.get("inventory_policy") or "").lower() == "continue":
        return True
    if "inventory_management" in variant and not variant.get("inventory_management"):
        return True
    quantity = _quantity(variant.get("inventory_quantity"))
    return True if quantity is None else quantity > 0


def _image(product: Mapping[str, Any]) -> str | None:
    image = product.get("image")
    if isinstance(image, Mapping) and _text(image.get("src")):
        return _text(image.get("src"))
    images = product.get("images")
    if isinstance(images, list):
        for candidate in images:
            if isinstance(candidate, Mapping) and _text(candidate.get("src")):
                return _text(candidate.get("src"))
    return None


def _attributes(raw: object) -> dict[str, str]:
    """`note_attributes: [{name, value}]` → `{name: value}`; entries without a name are skipped."""
    if not isinstance(raw, list):
        return {}
    attributes: dict[str, str] = {}
    for entry in raw:
        if isinstance(entry, Mapping) and _text(entry.get("name")):
            value = entry.get("value")
            attributes[str(entry["name"]).strip()] = "" if value is None else str(value)
    return attributes


def _object(payload: object, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise WebhookPayloadError(f"{what} is not a JSON object")
    return payload


def _gid(payload: Mapping[str, Any], kind: str) -> str:
    given = payload.get("admin_graphql_api_id")
    if isinstance(given, str) and given.startswith(f"gid://shopify/{kind}/"):
        return given
    if payload.get("id") is None:
        raise WebhookPayloadError(f"{kind.lower()} has no id")
    return shopify_gid(kind, payload.get("id"))


def _numeric_id(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise WebhookPayloadError(f"bad {what} {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    raise WebhookPayloadError(f"bad {what} {str(value)[:40]!r}")


def _time(payload: Mapping[str, Any], key: str) -> datetime | None:
    """An ISO 8601 time with an offset → aware UTC; a time without one is refused, not guessed."""
    value = payload.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise WebhookPayloadError(f"bad {key}: not a string")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise WebhookPayloadError(f"bad {key} {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise WebhookPayloadError(f"{key} {value[:40]!r} has no UTC offset")
    return moment.astimezone(UTC)


def _money(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise WebhookPayloadError(f"bad {what}: not an amount")
    try:
        return parse_money(str(value))
    except ValueError:
        raise WebhookPayloadError(f"bad {what} {str(value)[:40]!r}") from None


def _quantity(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise WebhookPayloadError(f"bad quantity {str(value)[:40]!r}")


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
