"""Shopify's mandatory privacy webhooks: export a customer's data, erase a customer, erase the shop.

Each runs inside the webhook queue's transaction for its event (`webhook_intake`). Receiving
checks a privacy body against this shop first (`privacy_problem`); processing checks again,
since the signature does not cover the topic header. `shop/redact` erases the store only once
the Admin API refuses the app's token, i.e. the app really was uninstalled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, update
from sqlmodel import Session, SQLModel, col, select

from services.core.config import Settings
from services.core.provider_http import ProviderError, RetryPolicy
from services.core.tables import (
    CartEvent,
    CartLink,
    Customer,
    DueItem,
    Order,
    OrderLine,
    PrivacyExport,
    Product,
    ProfileFingerprint,
    Snooze,
    UniqueCode,
    WebhookEvent,
)
from services.dispatch import erase_customer_messages
from services.settings.effective import effective_settings
from services.shopify.client import ShopifyClient
from services.shopify.webhook_protocol import WebhookPayloadError, customer_gid, shopify_gid
from services.sync.shop_record import erase_store, fetch_identity, stored_shop

__all__ = [
    "ERASING_TOPICS",
    "PRIVACY_TOPICS",
    "UninstallUnconfirmed",
    "handle_privacy_event",
    "privacy_export_json",
    "privacy_problem",
]

logger = logging.getLogger(__name__)

PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
ERASING_TOPICS = frozenset({"customers/redact", "shop/redact"})
UNINSTALL_CHECK = RetryPolicy(attempts=2)
"""Asking Shopify whether the app is gone: brief, as the queue waits meanwhile; an event that
could not ask is retried by a later run."""


class UninstallUnconfirmed(RuntimeError):
    """Shopify could not be asked whether the app was uninstalled; `shop/redact` waits."""


def handle_privacy_event(session: Session, event: WebhookEvent, now: datetime) -> str | None:
    """Do a privacy topic's work: None when done, else why it was ignored (for the merchant)."""
    if event.topic == "customers/data_request":
        _export_customer_data(session, event, now)
    elif event.topic == "customers/redact":
        _redact_customer(session, event)
    elif event.topic == "shop/redact":
        return _redact_shop(session, event, now)
    else:
        return "unsupported topic"
    return None


def privacy_problem(
    session: Session, configured_shop: str, topic: str, domain: str, payload: Mapping[str, Any]
) -> str | None:
    """Why a privacy body is not about this shop (None for other topics): it must name the
    shop the (known) header names; `shop/redact`, which empties the store, also the configured
    shop and the shop row."""
    if topic not in PRIVACY_TOPICS:
        return None
    named = str(payload.get("shop_domain") or "").strip().lower()
    if named != domain:
        return f"{topic} body names the shop {named!r}, the header {domain!r}"
    if topic == "shop/redact":
        return _shop_redact_refusal(session, configured_shop, named)
    return None


def _shop_redact_refusal(session: Session, configured_shop: str, named: str) -> str | None:
    configured = configured_shop.strip().lower()
    if not configured or named != configured:
        return f"shop/redact names {named!r}, not the configured shop {configured!r}"
    shop = stored_shop(session)
    if shop is not None and shop.shop_domain.strip().lower() != named:
        return f"shop/redact names {named!r}, but this database holds {shop.shop_domain!r}"
    return None


def privacy_export_json(session: Session, request_id: str) -> str | None:
    """The newest export for a `customers/data_request`, as pretty JSON for the merchant."""
    export = session.exec(
        select(PrivacyExport)
        .where(PrivacyExport.request_id == request_id)
        .order_by(col(PrivacyExport.id).desc())
    ).first()
    if export is None:
        return None
    document = {
        "request_id": export.request_id,
        "created_at": export.created_at.isoformat(),
        "customer_gid": export.customer_gid,
        "email": export.email,
        "found": export.found,
        "data": export.data,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class _Person:
    """Whom a privacy request is about: the identifiers Shopify gave."""

    gid: str | None
    email: str | None
    phone: str | None

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> _Person:
        info = payload.get("customer")
        if info is not None and not isinstance(info, Mapping):
            raise WebhookPayloadError("customer is not an object")
        info = info or {}
        email = str(info.get("email") or "").strip().lower() or None
        phone = str(info.get("phone") or "").strip() or None
        return cls(customer_gid(info), email, phone)

    def customers(self, session: Session) -> list[Customer]:
        """Stored customers with any of the identifiers, except ones with another Shopify id
        (two people can share a family e-mail; a different gid says it is someone else)."""
        conditions: list[ColumnElement[bool]] = []
        if self.gid:
            conditions.append(col(Customer.shopify_gid) == self.gid)
        if self.email:
            conditions.append(func.lower(Customer.email) == self.email)
        if self.phone:
            conditions.append(col(Customer.phone) == self.phone)
        if not conditions:
            return []
        rows = session.exec(select(Customer).where(or_(*conditions)).order_by(col(Customer.id)))
        return [c for c in rows if self.gid is None or c.shopify_gid in (None, self.gid)]

    def mentioned_in(self, payload: Mapping[str, Any]) -> bool:
        """Whether a queued payload (an order, a privacy request) is about this person."""
        info = payload.get("customer")
        info = info if isinstance(info, Mapping) else {}
        try:
            gid = customer_gid(info)
        except WebhookPayloadError:
            gid = None
        emails = {str(v).strip().lower() for v in (payload.get("email"), info.get("email")) if v}
        phones = {str(v).strip() for v in (payload.get("phone"), info.get("phone")) if v}
        return bool(
            (self.gid and gid == self.gid)
            or (self.email and self.email in emails)
            or (self.phone and self.phone in phones)
        )


def _order_gids(payload: Mapping[str, Any], key: str) -> list[str]:
    raw = payload.get(key) or []
    if not isinstance(raw, list):
        raise WebhookPayloadError(f"{key} is not a list")
    return [shopify_gid("Order", order_id) for order_id in raw]


def _export_customer_data(session: Session, event: WebhookEvent, now: datetime) -> None:
    """Gather everything stored about the customer into a `PrivacyExport` for the merchant.

    Cart tokens are included: the export goes to the merchant, whose data they are. A request
    received again replaces its earlier export, so there is one answer per request.
    """
    payload = event.payload
    person = _Person.of(payload)
    request = payload.get("data_request")
    request_id = str(request.get("id") or "") if isinstance(request, Mapping) else ""
    request_id = request_id or f"event:{event.event_id}"
    customers = person.customers(session)
    covered = {c.id for c in customers}
    requested = [
        order
        for order in _orders(session, gids=_order_gids(payload, "orders_requested"))
        if order.customer_id not in covered
    ]
    data: dict[str, Any] = {}
    if customers or requested:
        data = {
            "shop_domain": event.shop_domain,
            "customers": [_customer_data(session, customer) for customer in customers],
            "requested_orders": _orders_data(session, requested),
        }
    session.execute(delete(PrivacyExport).where(col(PrivacyExport.request_id) == request_id))
    session.add(
        PrivacyExport(
            request_id=request_id,
            customer_gid=person.gid,
            email=person.email,
            found=bool(customers),
            created_at=now,
            data=data,
        )
    )


def _customer_data(session: Session, customer: Customer) -> dict[str, Any]:
    assert customer.id is not None
    links = session.exec(select(CartLink).where(CartLink.customer_id == customer.id)).all()
    events = session.exec(
        select(CartEvent)
        .where(CartEvent.customer_id == customer.id)
        .order_by(col(CartEvent.occurred_at))
    ).all()
    due = session.exec(
        select(DueItem, Product.title, Product.shopify_gid)
        .join(Product, col(Product.id) == DueItem.product_id)
        .where(DueItem.customer_id == customer.id)
    ).all()
    return {
        "customer": _dump(customer),
        "orders": _orders_data(session, _orders(session, customer_id=customer.id)),
        "due_items": [
            {**_dump(item), "product_title": title, "product_gid": gid} for item, title, gid in due
        ],
        "cart_links": [_dump(link) for link in links],
        "cart_events": [_dump(event) for event in events],
    }


def _orders(
    session: Session, *, customer_id: int | None = None, gids: list[str] | None = None
) -> list[Order]:
    query = select(Order).order_by(col(Order.processed_at), col(Order.id))
    if customer_id is not None:
        return list(session.exec(query.where(Order.customer_id == customer_id)))
    if not gids:
        return []
    return list(session.exec(query.where(col(Order.shopify_gid).in_(gids))))


def _orders_data(session: Session, orders: list[Order]) -> list[dict[str, Any]]:
    ids = [order.id for order in orders]
    lines: dict[int, list[dict[str, Any]]] = {order_id: [] for order_id in ids if order_id}
    for start in range(0, len(ids), 500):
        for line in session.exec(
            select(OrderLine)
            .where(col(OrderLine.order_id).in_(ids[start : start + 500]))
            .order_by(col(OrderLine.id))
        ):
            lines[line.order_id].append(_dump(line))
    return [{**_dump(order), "lines": lines.get(order.id or 0, [])} for order in orders]


def _dump(row: SQLModel) -> dict[str, Any]:
    return row.model_dump(mode="json")


def _redact_customer(session: Session, event: WebhookEvent) -> None:
    """Erase a customer's personal data; keep their orders, anonymised, for the store's figures.

    Deleted: cart links (the old link then shows "expired"), cart events, due rows, unique
    discount codes, profile fingerprints, privacy exports about them and any failed queued
    webhook still holding their data. Blanked: e-mail, phone, names and Shopify id of the
    customer row, and the custom attributes of their orders (free text a storefront may fill
    with anything). Kept: order
    rows and lines linked to the now anonymous customer row. They hold no contact data, and
    the store's reorder intervals, revenue and attribution figures are learned from them
    (intervals need each customer's sequence of purchases, so the anonymous row stays as the
    thread that links them).
    A customer we never stored is not an error: there is nothing to erase.
    """
    payload = event.payload
    person = _Person.of(payload)
    customers = person.customers(session)
    ids = [customer.id for customer in customers if customer.id is not None]
    order_gids = _order_gids(payload, "orders_to_redact")
    if ids:
        link_ids = select(CartLink.id).where(col(CartLink.customer_id).in_(ids))
        session.execute(
            delete(CartEvent).where(
                or_(col(CartEvent.customer_id).in_(ids), col(CartEvent.cart_link_id).in_(link_ids))
            )
        )
        session.execute(delete(CartLink).where(col(CartLink.customer_id).in_(ids)))
        session.execute(delete(DueItem).where(col(DueItem.customer_id).in_(ids)))
        session.execute(delete(Snooze).where(col(Snooze.customer_id).in_(ids)))
        session.execute(delete(UniqueCode).where(col(UniqueCode.customer_id).in_(ids)))
        session.execute(
            delete(ProfileFingerprint).where(col(ProfileFingerprint.customer_id).in_(ids))
        )
        erase_customer_messages(session, ids)  # queued payloads hold the email and phone
        for customer in customers:
            customer.email = customer.phone = customer.shopify_gid = None
            customer.first_name = customer.last_name = ""
            session.add(customer)
    order_filter = []
    if ids:
        order_filter.append(col(Order.customer_id).in_(ids))
    if order_gids:
        order_filter.append(col(Order.shopify_gid).in_(order_gids))
    if order_filter:
        session.execute(
            update(Order)
            .where(or_(*order_filter))
            .values(custom_attributes={})
            .execution_options(synchronize_session=False)
        )
    export_filter = [col(PrivacyExport.email) == person.email] if person.email else []
    if person.gid:
        export_filter.append(col(PrivacyExport.customer_gid) == person.gid)
    if export_filter:
        session.execute(delete(PrivacyExport).where(or_(*export_filter)))
    _scrub_failed_events(session, event, [person])
    session.flush()


def _scrub_failed_events(
    session: Session, current: WebhookEvent, people: Iterable[_Person]
) -> None:
    """Failed events keep their payload for a retry; one about an erased person must not."""
    people = list(people)
    for queued in session.exec(
        select(WebhookEvent).where(WebhookEvent.status == "failed", WebhookEvent.id != current.id)
    ):
        if any(person.mentioned_in(queued.payload) for person in people):
            queued.payload = {}
            queued.status = "ignored"
            queued.error = "erased by customers/redact"
            session.add(queued)


def _redact_shop(session: Session, event: WebhookEvent, now: datetime) -> str | None:
    """Erase everything stored for the shop, 48 hours after it uninstalled the app.

    A signed body proves Shopify sent it once, not that it was sent as `shop/redact` nor that
    the app is gone: the request is checked again to name this shop, then the Admin API is
    asked. Only a refused token (401/403) erases, in this one transaction (`erase_store`, which
    also erases the saved settings with their tokens and keys). A token still accepted means
    the app is installed: nothing is erased and the operator is told. When Shopify cannot be
    asked, `UninstallUnconfirmed` leaves the event for a later run.
    """
    settings = effective_settings(session)
    named = str(event.payload.get("shop_domain") or "").strip().lower()
    refusal = privacy_problem(
        session, settings.shopify_shop, event.topic, event.shop_domain, event.payload
    )
    if refusal:
        logger.warning("shop/redact ignored: %s", refusal)
        return refusal
    installed = _still_installed(settings)
    if installed:
        logger.error(
            "shop/redact for %s not done, nothing erased: %s. Check whether the shop really "
            "uninstalled the app (event_id=%s).",
            named,
            installed,
            event.event_id,
        )
        return installed
    logger.warning("shop/redact: %s uninstalled the app, erasing its data", named)
    erase_store(session, now, keep_settings=False, keep_event_id=event.id)
    return None


def _still_installed(settings: Settings) -> str | None:
    """Why the app may still be installed, or None once Shopify refuses its token."""
    if not settings.secret("shopify_token"):
        return "no Admin API token is set to confirm with Shopify that the app was uninstalled"
    try:
        with ShopifyClient.from_settings(settings, timeout=10.0, policy=UNINSTALL_CHECK) as client:
            fetch_identity(client)
    except ProviderError as error:
        if error.auth_failed:
            return None
        raise UninstallUnconfirmed(
            f"could not ask Shopify whether the app is gone: {error}"
        ) from error
    return "Shopify still accepts the Admin API token, so the app is still installed"
