"""Right before a message is sent: is it still true? A reorder, a snooze or a rotated cart link
since the scan wrote it changes what is sent, or whether anything is; a cross-sell offer is
not sent once the customer bought the product, nor a subscription offer once they subscribed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from services.cart.links import cart_url, get_or_create_link
from services.cart.snoozes import active_snoozes
from services.core.tables import CartLink, Customer, DueItem, Order, OrderLine
from services.discounts.codes import event_code
from services.dispatch.keys import stamp
from services.dispatch.outbox import (
    BOUGHT_IT,
    CART_URL,
    CROSS_SELL,
    CUSTOMER_GONE,
    LINK_ROTATED,
    NO_LONGER_DUE,
    REORDERED,
    SUBSCRIBED,
    SUBSCRIPTION,
)


class OutboxRow(Protocol):
    """What the re-check reads of a row: a claimed one (delivery) or an ORM row (dry run)."""

    @property
    def integration(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the re-check before sending decided: send (maybe an updated payload), skip, wait."""

    action: str  # send | skip | postpone
    payload: dict[str, Any] | None = None
    reason: str = ""
    until: datetime | None = None


# built once: a lane runs these for every row, and building SQL expressions cost more than
# running them
_CUSTOMER_IDS = select(Customer.email, Customer.phone, Customer.shopify_gid).where(
    Customer.id == bindparam("cid")
)
_DUE_ROWS = select(DueItem.last_purchased_at, DueItem.remind_at).where(
    DueItem.customer_id == bindparam("cid")
)
_BOUGHT = (
    select(OrderLine.id)
    .join(Order, col(Order.id) == col(OrderLine.order_id))
    .where(Order.customer_id == bindparam("cid"), OrderLine.product_id == bindparam("pid"))
    .limit(1)
)
_SUBSCRIBED = (
    select(OrderLine.id)
    .join(Order, col(Order.id) == col(OrderLine.order_id))
    .where(
        Order.customer_id == bindparam("cid"),
        OrderLine.product_id == bindparam("pid"),
        col(OrderLine.selling_plan_gid).is_not(None),
    )
    .limit(1)
)
_LINK = select(CartLink.revoked_at).where(CartLink.id == bindparam("lid"))
_CURRENT_LINK = (
    select(CartLink.id, CartLink.token)
    .where(CartLink.customer_id == bindparam("cid"), col(CartLink.revoked_at).is_(None))
    .order_by(col(CartLink.id).desc())
    .limit(1)
)


def recheck(session: Session, row: OutboxRow, now: datetime) -> Verdict:
    """Right before sending: is this message still true? (reorder, snoozes, the cart link).

    Reads only; a rotated link is replaced by the customer's current one (or a new one)."""
    connection = session.connection()
    person = connection.execute(_CUSTOMER_IDS, {"cid": row.customer_id}).first()
    if person is None or not any(person):
        return Verdict("skip", reason=CUSTOMER_GONE)
    if row.kind == CART_URL:
        link = connection.execute(_LINK, {"lid": row.payload.get("link_id")}).first()
        if link is None or link.revoked_at is not None:
            return Verdict("skip", reason=LINK_ROTATED)
        return Verdict("send")
    rows = connection.execute(_DUE_ROWS, {"cid": row.customer_id}).all()
    if not rows:
        return Verdict("skip", reason=NO_LONGER_DUE)
    anchor = max(purchased for purchased, _ in rows)
    if stamp(anchor) != stamp(datetime.fromisoformat(row.payload["cycle"])):
        return Verdict("skip", reason=REORDERED)
    if row.kind == CROSS_SELL:
        offered = row.payload.get("pick")
        if connection.execute(_BOUGHT, {"cid": row.customer_id, "pid": offered}).first():
            return Verdict("skip", reason=BOUGHT_IT)
    elif row.kind == SUBSCRIPTION:
        offered = row.payload.get("pick")
        if connection.execute(_SUBSCRIBED, {"cid": row.customer_id, "pid": offered}).first():
            return Verdict("skip", reason=SUBSCRIBED)
    elif not any(remind <= now for _, remind in rows):
        return Verdict("skip", reason=NO_LONGER_DUE)
    payload = row.payload
    event = dict(payload["event"])
    changed = False
    snoozes = active_snoozes(session, row.customer_id, now)
    if snoozes:
        if None in snoozes:
            return _postpone(payload, snoozes[None], "the whole cart is snoozed")
        items = payload["items"]
        keep = [
            index
            for index, item in enumerate(items)
            if item["product_id"] not in snoozes and item.get("replaces") not in snoozes
        ]
        if not keep:
            held = [snoozes.get(item["product_id"]) or snoozes[item["replaces"]] for item in items]
            return _postpone(payload, min(held), "every product is snoozed")
        if len(keep) < len(items):
            event["products"] = [event["products"][i] for i in keep]
            event["value_cents"] = sum(items[i]["price_cents"] * items[i]["quantity"] for i in keep)
            payload = {**payload, "items": [items[i] for i in keep]}
            changed = True
    link = connection.execute(_LINK, {"lid": payload.get("link_id")}).first()
    if link is None or link.revoked_at is not None:
        current = connection.execute(_CURRENT_LINK, {"cid": row.customer_id}).first()
        if current is None:
            created = get_or_create_link(session, row.customer_id, now)
            link_id, token = created.id, created.token
        else:
            link_id, token = current
        base = event["cart_url"].split("/cart/")[0]
        event["cart_url"] = cart_url(
            token, base, channel=row.integration, moment=row.kind, pick=payload.get("pick")
        )
        payload = {**payload, "link_id": link_id}
        changed = True
    code = payload.get("unique_code")
    if code:
        outcome = event_code(session, code, now)
        if outcome.wait_until is not None:
            reason = "waiting for the customer's discount code"
            return Verdict("postpone", payload=None, reason=reason, until=outcome.wait_until)
        if event.get("discount_code") != outcome.code:
            event["discount_code"] = outcome.code
            changed = True
    if changed:
        return Verdict("send", payload={**payload, "event": event})
    return Verdict("send")


def _postpone(payload: dict[str, Any], until: datetime, reason: str) -> Verdict:
    """Hold the message until the snooze ends; it is then re-checked (and dated) afresh."""
    event = {**payload["event"], "occurred_at": until.isoformat()}
    return Verdict("postpone", payload={**payload, "event": event}, reason=reason, until=until)
