"""An outbox row's payload: the event as JSON, written by the scan and read back by delivery.

The payload holds the plain records (`DueEvent`, `Recipient`) the messaging clients take, not a
provider's wire body, so one row format serves every provider; `wire_body` shows the body a
provider would receive (for `--dry-run`).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from typing import Any

from services.dispatch.outbox import CART_URL
from services.messaging import (
    DueEvent,
    DueProduct,
    Recipient,
    SubscriptionOffer,
    provider,
    to_e164,
)

PRODUCT_FIELDS = tuple(f.name for f in fields(DueProduct))
RECIPIENT_FIELDS = tuple(f.name for f in fields(Recipient))
OFFER_FIELDS = tuple(f.name for f in fields(SubscriptionOffer))


def plain(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """A record's fields as a dict, values as they are."""
    # `dataclasses.asdict` deep-copies every value: a third of a large scan's time
    return {name: getattr(record, name) for name in names}


def event_json(
    event: DueEvent, products: list[dict[str, Any]], recipient: dict[str, Any]
) -> dict[str, Any]:
    """The event as JSON, with its products and recipient already made plain (the scan makes
    them once per customer, for every integration's row)."""
    data: dict[str, Any] = {
        "kind": event.kind,
        "idempotency_key": event.idempotency_key,
        "occurred_at": event.occurred_at.isoformat(),
        "cart_url": event.cart_url,
        "due_date": event.due_date.isoformat(),
        "products": products,
        "value_cents": event.value_cents,
        "currency": event.currency,
        "recipient": recipient,
    }
    if event.days_since_last_order is not None:
        data["days_since_last_order"] = event.days_since_last_order
    if event.discount_code:
        data["discount_code"] = event.discount_code
    if event.subscription_cart_url:
        data["subscription_cart_url"] = event.subscription_cart_url
    if event.subscription is not None:
        data["subscription"] = plain(event.subscription, OFFER_FIELDS)
    return data


def event_to_payload(event: DueEvent) -> dict[str, Any]:
    """A `DueEvent` as JSON for the outbox (and back with `event_from_payload`)."""
    products = [plain(product, PRODUCT_FIELDS) for product in event.products]
    return event_json(event, products, plain(event.recipient, RECIPIENT_FIELDS))


def event_from_payload(data: dict[str, Any]) -> DueEvent:
    return DueEvent(
        kind=data["kind"],
        idempotency_key=data["idempotency_key"],
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        cart_url=data["cart_url"],
        due_date=date.fromisoformat(data["due_date"]),
        products=tuple(DueProduct(**product) for product in data["products"]),
        value_cents=int(data["value_cents"]),
        currency=data["currency"],
        recipient=Recipient(**data["recipient"]),
        days_since_last_order=data.get("days_since_last_order"),
        discount_code=data.get("discount_code") or "",
        subscription_cart_url=data.get("subscription_cart_url"),
        subscription=SubscriptionOffer(**data["subscription"])
        if data.get("subscription")
        else None,
    )


def recipient_from(data: dict[str, Any]) -> Recipient:
    return Recipient(**data)


def wire_body(integration: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The exact JSON body the provider will receive for an outbox row (for `--dry-run`)."""
    sender = provider(integration)
    if kind == CART_URL:
        if sender.profile_body is None:
            raise ValueError(f"{integration} has no profile to store a cart link on")
        return sender.profile_body(recipient_from(payload["recipient"]), payload["cart_url"])
    return sender.event_body(event_from_payload(payload["event"]))


def recipient(customer: tuple[Any, ...]) -> Recipient:
    """Email as stored, phone made E.164 (dropped when invalid), Shopify's numeric customer id,
    from a (id, email, phone, shopify_gid) row."""
    _id, email, phone, gid = customer
    external = gid.rsplit("/", 1)[-1] if gid else None
    return Recipient(
        email=(email or "").strip() or None, phone=to_e164(phone), external_id=external or None
    )
