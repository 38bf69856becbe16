"""The wire bodies for Klaviyo, Postscript and Attentive, as pure functions of the records.

Properties copy Repeat's "Due To Replenish" event (docs.getrepeat.io), so a merchant moving
from Repeat keeps their flows and templates: `Repeat Cart URL`, `reorderableProducts` (numeric
Shopify ids, price as a decimal string), `reorderable_product_ids`, `reorderable_product_titles`;
`due_date` is ours, as are the About To Lapse event's `days_since_last_order`, the Primed
For Cross-sell event's `crossSellProduct`, and the Primed For Subscription event's
`subscriptionProduct`, `cadenceDays` and `sellingPlan`. Identifiers a
provider would refuse (a malformed phone or email) are dropped here, so one bad field never
sinks an event that has a good one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from services.messaging.base import DueEvent, DueProduct, EventKind, Recipient, SubscriptionOffer
from services.messaging.phone import is_e164

__all__ = [
    "ATTENTIVE_TYPES",
    "CART_URL_PROPERTY",
    "CADENCE_PROPERTY",
    "CROSS_SELL_PROPERTY",
    "SELLING_PLAN_PROPERTY",
    "SUBSCRIPTION_PROPERTY",
    "DAYS_SINCE_PROPERTY",
    "DISCOUNT_CODE_PROPERTY",
    "KLAVIYO_METRICS",
    "POSTSCRIPT_TYPES",
    "attentive_attributes_body",
    "attentive_event_body",
    "attentive_user",
    "event_properties",
    "klaviyo_event_body",
    "klaviyo_identifiers",
    "klaviyo_profile_import_body",
    "postscript_event_body",
    "postscript_identifiers",
    "postscript_occurred_at",
    "price_string",
]

CART_URL_PROPERTY = "Repeat Cart URL"
SUBSCRIPTION_CART_URL_PROPERTY = "Subscription Repeat Cart URL"
KLAVIYO_METRICS: dict[EventKind, str] = {
    "due": "Repeat - Due To Replenish",
    "late": "Repeat - Late Due To Replenish",
    "lapse": "Repeat - About To Lapse",
    "cross_sell": "Repeat - Primed For Cross-sell",
    "subscription": "Repeat - Primed For Subscription",
}
ATTENTIVE_TYPES = KLAVIYO_METRICS
# Postscript types allow only letters, digits and "_"; it shows them as "<shop> - <type>".
POSTSCRIPT_TYPES: dict[EventKind, str] = {
    "due": "DueToReplenish",
    "late": "LateDueToReplenish",
    "lapse": "AboutToLapse",
    "cross_sell": "PrimedForCrossSell",
    "subscription": "PrimedForSubscription",
}
DAYS_SINCE_PROPERTY = "days_since_last_order"
CROSS_SELL_PROPERTY = "crossSellProduct"
DISCOUNT_CODE_PROPERTY = "discount_code"
SUBSCRIPTION_PROPERTY = "subscriptionProduct"
CADENCE_PROPERTY = "cadenceDays"
SELLING_PLAN_PROPERTY = "sellingPlan"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def price_string(cents: int) -> str:
    """Integer hundredths → Repeat's `"24.00"` (money is always stored ×100)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _product(product: DueProduct) -> dict[str, Any]:
    return {
        "product": {
            "id": product.product_id_numeric,
            "title": product.title,
            "price": price_string(product.price_cents),
            "handle": product.handle,
            "images": [{"src": product.image_url}] if product.image_url else [],
            "variant": {"id": product.variant_id_numeric, "title": product.variant_title},
        }
    }


def event_properties(event: DueEvent) -> dict[str, Any]:
    """The Repeat-compatible properties, the same for every provider; an About To Lapse event
    also says how many days ago the customer last ordered, and a Primed For Cross-sell event
    names the product offered (the one its cart pre-selects) on its own."""
    properties: dict[str, Any] = {
        CART_URL_PROPERTY: event.cart_url,
        "reorderableProducts": [_product(product) for product in event.products],
        "reorderable_product_ids": [product.product_id_numeric for product in event.products],
        "reorderable_product_titles": [product.title for product in event.products],
        "due_date": event.due_date.isoformat(),
    }
    if event.days_since_last_order is not None:
        properties[DAYS_SINCE_PROPERTY] = event.days_since_last_order
    if event.discount_code:
        properties[DISCOUNT_CODE_PROPERTY] = event.discount_code
    if event.subscription_cart_url:
        properties[SUBSCRIPTION_CART_URL_PROPERTY] = event.subscription_cart_url
    if event.kind == "cross_sell" and event.products:
        properties[CROSS_SELL_PROPERTY] = _product(event.products[0])
    if event.kind == "subscription" and event.products and event.subscription is not None:
        properties[SUBSCRIPTION_PROPERTY] = _product(event.products[0])
        properties[CADENCE_PROPERTY] = round(event.subscription.cadence_days, 1)
        properties[SELLING_PLAN_PROPERTY] = _selling_plan(event.subscription)
    return properties


def _selling_plan(offer: SubscriptionOffer) -> dict[str, Any]:
    """The plan closest to the cadence: its GID (and numeric id), name, delivery interval, and
    discount (percent off, an amount off each item, or a fixed price; none when the plan has
    no pricing policy)."""
    discount: dict[str, Any] | None = None
    if offer.adjustment_type == "PERCENTAGE" and offer.adjustment_percent is not None:
        discount = {"type": "PERCENTAGE", "percentage": offer.adjustment_percent}
    elif offer.adjustment_type in ("FIXED_AMOUNT", "PRICE") and offer.adjustment_cents is not None:
        discount = {"type": offer.adjustment_type, "amount": price_string(offer.adjustment_cents)}
    tail = offer.plan_gid.rsplit("/", 1)[-1]
    return {
        "id": offer.plan_gid,
        "id_numeric": int(tail) if tail.isdigit() else None,
        "name": offer.plan_name,
        "interval": {
            "unit": offer.interval_unit,
            "count": offer.interval_count,
            "days": round(offer.interval_days, 2) if offer.interval_days is not None else None,
        },
        "discount": discount,
    }


def _email(recipient: Recipient) -> str | None:
    email = (recipient.email or "").strip()
    return email if _EMAIL.match(email) else None


def _phone(recipient: Recipient) -> str | None:
    return recipient.phone if is_e164(recipient.phone) else None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    return moment.astimezone(UTC)


# --- Klaviyo -------------------------------------------------------------------------------


def klaviyo_identifiers(recipient: Recipient) -> dict[str, str]:
    """Profile attributes that identify the person: email, phone_number, external_id."""
    found = {
        "email": _email(recipient),
        "phone_number": _phone(recipient),
        "external_id": recipient.external_id or None,
    }
    return {key: value for key, value in found.items() if value}


def klaviyo_event_body(event: DueEvent) -> dict[str, Any]:
    """`POST /api/events`: JSON:API event; `unique_id` de-duplicates per profile and metric."""
    return {
        "data": {
            "type": "event",
            "attributes": {
                "properties": event_properties(event),
                "time": _utc(event.occurred_at).isoformat(timespec="seconds"),
                "value": event.value_cents / 100,
                "value_currency": event.currency,
                "unique_id": event.idempotency_key,
                "metric": {
                    "data": {"type": "metric", "attributes": {"name": KLAVIYO_METRICS[event.kind]}}
                },
                "profile": {
                    "data": {"type": "profile", "attributes": klaviyo_identifiers(event.recipient)}
                },
            },
        }
    }


def klaviyo_profile_import_body(recipient: Recipient, cart_url: str) -> dict[str, Any]:
    """`POST /api/profile-import`: creates or updates the profile with the cart link."""
    return {
        "data": {
            "type": "profile",
            "attributes": {
                **klaviyo_identifiers(recipient),
                "properties": {CART_URL_PROPERTY: cart_url},
            },
        }
    }


# --- Postscript ----------------------------------------------------------------------------


def postscript_identifiers(recipient: Recipient) -> dict[str, str]:
    """Email and phone only: `subscriber_id` is Postscript's own id, which we never learn, and
    our external id is not one."""
    found = {"email": _email(recipient), "phone": _phone(recipient)}
    return {key: value for key, value in found.items() if value}


def postscript_occurred_at(moment: datetime) -> str:
    """UTC `%Y-%m-%d %H:%M:%S.%f` cut to milliseconds, as the contract's example shows."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def postscript_event_body(event: DueEvent) -> dict[str, Any]:
    """`POST /api/v2/events`; `external_id` carries our key (their dedupe is unconfirmed)."""
    return {
        "type": POSTSCRIPT_TYPES[event.kind],
        **postscript_identifiers(event.recipient),
        "occurred_at": postscript_occurred_at(event.occurred_at),
        "external_id": event.idempotency_key,
        "properties": event_properties(event),
    }


# --- Attentive -----------------------------------------------------------------------------


def attentive_user(recipient: Recipient) -> dict[str, Any]:
    """`user` holds phone, email, externalIdentifiers and nothing else (else 400)."""
    user: dict[str, Any] = {}
    if phone := _phone(recipient):
        user["phone"] = phone
    if email := _email(recipient):
        user["email"] = email
    if recipient.external_id:
        user["externalIdentifiers"] = {"clientUserId": recipient.external_id}
    return user


def attentive_event_body(event: DueEvent) -> dict[str, Any]:
    """`POST /v1/events/custom`. Attentive ignores events older than 12 hours for journeys,
    so `occurredAt` is the event's own time and the caller decides whether a late one is worth
    sending."""
    return {
        "type": ATTENTIVE_TYPES[event.kind],
        "properties": event_properties(event),
        "externalEventId": event.idempotency_key,
        "occurredAt": _utc(event.occurred_at).isoformat(timespec="seconds"),
        "user": attentive_user(event.recipient),
    }


def attentive_attributes_body(recipient: Recipient, cart_url: str) -> dict[str, Any]:
    """`POST /v1/attributes/custom`: flat values only (arrays are refused)."""
    return {"properties": {CART_URL_PROPERTY: cart_url}, "user": attentive_user(recipient)}
