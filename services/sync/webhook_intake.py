"""Shopify webhooks: receive (verify, check, deduplicate, queue) fast, then process the queue.

Shopify wants an answer within 5 seconds and retries for hours, so the HTTP route only stores a
verified event (`receive_webhook`); `process_pending_webhooks` does the work afterwards, each
event in its own transaction, claimed first so two processes never handle it twice. A processed
event's payload is cleared: personal data must not linger in a queue.

The signature covers the body only: the topic, shop and event id headers are not signed. So a
body must have its topic's shape (and a privacy body must name this shop) before it is queued,
a body seen before is a duplicate whatever its event id, and `shop/redact` erases the store only
once the Admin API refuses the app's token, i.e. the app really was uninstalled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, col, select

from services.core.config import Settings
from services.core.db import checkpoint_wal, session_scope
from services.core.logs import log_fields
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
    Shop,
    Snooze,
    WebhookEvent,
    utcnow,
)
from services.dispatch import erase_customer_messages
from services.ingest.catalog import upsert_products
from services.ingest.orders import refresh_order_customers, upsert_orders
from services.settings.effective import effective_settings
from services.shopify.client import ShopifyClient
from services.shopify.webhook_protocol import (
    WebhookPayloadError,
    customer_gid,
    order_record,
    product_record,
    shape_problem,
    shopify_gid,
    verify_hmac,
)
from services.sync.shop_record import erase_store, fetch_identity, stored_shop

__all__ = [
    "MAX_ATTEMPTS",
    "SUPPORTED_TOPICS",
    "ProcessSummary",
    "ReceiveResult",
    "known_shop_domains",
    "privacy_export_json",
    "process_pending_webhooks",
    "receive_webhook",
]

logger = logging.getLogger(__name__)

ORDER_TOPICS = frozenset({"orders/create", "orders/updated"})
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
ERASING_TOPICS = frozenset({"customers/redact", "shop/redact"})
SUPPORTED_TOPICS = ORDER_TOPICS | PRIVACY_TOPICS | {"products/update"}
MAX_ATTEMPTS = 5
STALE_CLAIM = timedelta(minutes=10)
"""A claim older than this belongs to a process that died; the event may be claimed again."""
UNINSTALL_CHECK = RetryPolicy(attempts=2)
"""Asking Shopify whether the app is gone: brief, as the queue waits meanwhile; an event that
could not ask is retried by a later run."""
CONFLICT_RETRIES = 3
"""Tries within one claim when a concurrent transaction wrote the same rows first."""
_ERROR_LENGTH = 200

ReceiveOutcome = Literal["accepted", "duplicate", "ignored", "unauthorized", "bad_request"]
ProcessOutcome = Literal["done", "ignored", "failed"]


class UninstallUnconfirmed(RuntimeError):
    """Shopify could not be asked whether the app was uninstalled; `shop/redact` waits."""


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    """What the route answers: `webhook_id` is the stored row's id when one was stored."""

    outcome: ReceiveOutcome
    webhook_id: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    done: int = 0
    ignored: int = 0
    failed: int = 0
    skipped: int = 0
    """Events another process claimed first."""
    processed_ids: tuple[int, ...] = ()

    @property
    def processed(self) -> int:
        return self.done + self.ignored + self.failed


def receive_webhook(
    session: Session, headers: Mapping[str, str], raw_body: bytes, now: datetime
) -> ReceiveResult:
    """Verify, check and queue one delivery; the caller commits.

    Order matters: nothing about a body is trusted (not even logged) before its signature is
    checked. Unknown shops and topics, and bodies not of their topic's shape or naming another
    shop, are answered "ignored" (HTTP 200) and logged: Shopify retries any other answer for
    hours and may then drop the subscription, yet the same bytes would be refused every time,
    and a body resent under a forged topic is no delivery of Shopify's anyway. A body already
    received (same event id, or same bytes under any event id) is a "duplicate".
    """
    header = {key.lower(): value for key, value in headers.items()}
    topic = header.get("x-shopify-topic", "").strip().lower()[:100]
    domain = header.get("x-shopify-shop-domain", "").strip().lower()[:255]
    settings = effective_settings(session)  # read once: it decrypts the saved secrets
    secret = settings.secret("shopify_webhook_secret")
    if not verify_hmac(secret, raw_body, header.get("x-shopify-hmac-sha256")):
        why = "invalid signature" if secret else "invalid signature (no webhook secret set)"
        logger.warning("webhook refused: %s topic=%s shop=%s", why, topic, domain)
        return ReceiveResult("unauthorized", reason="invalid signature")
    try:
        payload = json.loads(raw_body)
    except ValueError:  # also UnicodeDecodeError
        return ReceiveResult("bad_request", reason="body is not JSON")
    if not isinstance(payload, dict):
        return ReceiveResult("bad_request", reason="body is not a JSON object")
    if domain not in known_shop_domains(session, settings.shopify_shop):
        logger.warning("webhook ignored: unknown shop %r topic=%s", domain, topic)
        return ReceiveResult("ignored", reason="unknown shop")
    if topic not in SUPPORTED_TOPICS:
        logger.info("webhook ignored: unsupported topic %r shop=%s", topic, domain)
        return ReceiveResult("ignored", reason="unsupported topic")
    event_id = _event_id(header, topic, raw_body)
    problem = shape_problem(topic, payload) or _shop_problem(
        session, settings.shopify_shop, topic, domain, payload
    )
    if problem:
        logger.warning("webhook ignored: %s shop=%s event_id=%s", problem, domain, event_id)
        return ReceiveResult("ignored", reason=problem)
    digest = hashlib.sha256(raw_body).hexdigest()
    seen = or_(WebhookEvent.event_id == event_id, WebhookEvent.body_sha256 == digest)
    if session.exec(select(WebhookEvent.id).where(seen)).first():
        return ReceiveResult("duplicate", reason="already received")
    event = WebhookEvent(
        event_id=event_id,
        body_sha256=digest,
        topic=topic,
        shop_domain=domain,
        received_at=now,
        payload=payload,
        status="pending",
    )
    try:
        with session.begin_nested():  # a concurrent delivery of the same event loses here
            session.add(event)
    except IntegrityError:
        return ReceiveResult("duplicate", reason="already received")
    return ReceiveResult("accepted", webhook_id=event.id)


def known_shop_domains(session: Session, configured_shop: str) -> set[str]:
    """The configured shop and the stored shop row: webhooks from any other shop are ignored."""
    domains = {configured_shop.strip().lower()}
    domains.update(domain.strip().lower() for domain in session.exec(select(Shop.shop_domain)))
    return domains - {""}


def _shop_problem(
    session: Session, configured_shop: str, topic: str, domain: str, payload: Mapping[str, Any]
) -> str | None:
    """Why a privacy body is not about this shop: it must name the shop the (known) header
    names; `shop/redact`, which empties the store, also the configured shop and the shop row."""
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


def process_pending_webhooks(
    now: datetime, limit: int = 100, *, new_only: bool = False
) -> ProcessSummary:
    """Process queued events in arrival order, each in its own transaction.

    Each event is claimed by a conditional UPDATE before any work, so concurrent callers (the
    web process's webhook processor, the worker) never process one twice. A failed event keeps
    its payload and is retried on later calls up to `MAX_ATTEMPTS`; one that cannot be parsed is
    not retried. `new_only` takes only events never tried, leaving retries to the worker's
    sweep, which spaces them out. A conflict with a concurrent writer (a unique key, a lock) is
    retried at once within the claim. `attempts` counts claims, so a process that dies mid-event
    also uses one up; while an event is claimed its `processed_at` holds the claim time.
    """
    stale = now - STALE_CLAIM
    waiting = WebhookEvent.status == "pending" if new_only else _claimable(stale)
    with session_scope() as session:
        ids = session.exec(
            select(WebhookEvent.id).where(waiting).order_by(col(WebhookEvent.id)).limit(limit)
        ).all()
    counts = {"done": 0, "ignored": 0, "failed": 0, "skipped": 0}
    processed: list[int] = []
    for webhook_id in ids:
        assert webhook_id is not None
        if not _claim(webhook_id, now, stale):
            counts["skipped"] += 1
            continue
        counts[_process_one(webhook_id, now)] += 1
        processed.append(webhook_id)
    return ProcessSummary(**counts, processed_ids=tuple(processed))


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


def _event_id(header: Mapping[str, str], topic: str, raw_body: bytes) -> str:
    """Shopify's event id, else the webhook id; else a digest, so an exact replay still dedupes."""
    given = (
        header.get("x-shopify-event-id", "").strip()
        or header.get("x-shopify-webhook-id", "").strip()
    )
    if given:
        return given[:255]
    return "sha256:" + hashlib.sha256(topic.encode() + b"\n" + raw_body).hexdigest()


def _claimable(stale: datetime) -> Any:
    return or_(
        WebhookEvent.status == "pending",
        and_(WebhookEvent.status == "failed", WebhookEvent.attempts < MAX_ATTEMPTS),
        and_(
            WebhookEvent.status == "processing",
            WebhookEvent.attempts < MAX_ATTEMPTS,
            col(WebhookEvent.processed_at) < stale,
        ),
    )


def _claim(webhook_id: int, now: datetime, stale: datetime) -> bool:
    """Whether this caller won the event (the UPDATE matched the row: rowcount 1)."""
    with session_scope() as session:
        result = session.execute(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == webhook_id, _claimable(stale))
            .values(status="processing", processed_at=now, attempts=WebhookEvent.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def _process_one(webhook_id: int, now: datetime) -> ProcessOutcome:
    started = time.perf_counter()
    topic = event_id = error = ""
    outcome: ProcessOutcome = "failed"
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            with session_scope() as session:
                event = session.get(WebhookEvent, webhook_id)
                assert event is not None
                topic, event_id = event.topic, event.event_id
                outcome, note = _handle(session, event, now)
                event.status = outcome
                event.processed_at = now
                event.payload = {}
                event.error = note
                session.add(event)
            break
        except (IntegrityError, OperationalError) as conflict:
            # another event's transaction created the same customer (orders/create and
            # orders/updated arrive together) or held a lock: run again, it now sees that row
            if attempt < CONFLICT_RETRIES:
                time.sleep(random.uniform(0.01, 0.05) * attempt)
                continue
            outcome, error = "failed", _short_error(conflict)
            _mark_failed(webhook_id, error, permanent=False)
        except Exception as failure:  # noqa: BLE001 - kept on the event, retried later
            outcome, error = "failed", _short_error(failure)
            _mark_failed(webhook_id, error, permanent=isinstance(failure, WebhookPayloadError))
            break
    if outcome == "done" and topic in ERASING_TOPICS:
        _checkpoint()
    elapsed = (time.perf_counter() - started) * 1000
    log = logger.warning if outcome == "failed" else logger.info
    log(
        "webhook processed topic=%s event_id=%s outcome=%s ms=%.1f%s",
        topic,
        event_id,
        outcome,
        elapsed,
        f" error={error}" if error else "",
        extra=log_fields(topic=topic, event_id=event_id, outcome=outcome, ms=round(elapsed, 1)),
    )
    return outcome


def _checkpoint() -> None:
    """Once an erase committed: on SQLite the write-ahead log still holds the erased rows."""
    try:
        checkpoint_wal()
    except Exception:  # noqa: BLE001 - the erase stands; the next checkpoint completes it
        logger.exception("SQLite WAL checkpoint after an erase failed")


def _mark_failed(webhook_id: int, error: str, *, permanent: bool) -> None:
    values: dict[str, Any] = {"status": "failed", "error": error}
    if permanent:
        values["attempts"] = MAX_ATTEMPTS
    with session_scope() as session:
        session.execute(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == webhook_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _short_error(failure: Exception) -> str:
    """The error's type and first line only: database errors carry row values (e-mails) after."""
    lines = str(failure).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(failure).__name__}: {first}"[:_ERROR_LENGTH]


def _handle(session: Session, event: WebhookEvent, now: datetime) -> tuple[ProcessOutcome, str]:
    """Do the topic's work; the outcome ("done" or "ignored") and a note for the merchant."""
    payload = event.payload
    if event.topic in ORDER_TOPICS:
        # only this order's customer is re-dated here; relearning waits for the worker
        summary = upsert_orders(
            session, [order_record(payload)], source="webhook", now=now, refresh=False
        )
        refresh_order_customers(session, summary, now)
    elif event.topic == "products/update":
        upsert_products(session, [product_record(payload)], now)
    elif event.topic == "customers/data_request":
        _export_customer_data(session, event, now)
    elif event.topic == "customers/redact":
        _redact_customer(session, event)
    elif event.topic == "shop/redact":
        return _redact_shop(session, event, now)
    else:
        return "ignored", "unsupported topic"
    return "done", ""


# --- privacy -------------------------------------------------------------------------------


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
        conditions = []
        if self.gid:
            conditions.append(Customer.shopify_gid == self.gid)
        if self.email:
            conditions.append(func.lower(Customer.email) == self.email)
        if self.phone:
            conditions.append(Customer.phone == self.phone)
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

    Deleted: cart links (the old link then shows "expired"), cart events, due rows, privacy
    exports about them and any failed queued webhook still holding their data. Blanked: e-mail,
    phone, names and Shopify id of the customer row, and the custom attributes of their orders
    (free text a storefront may fill with anything). Kept: order rows and lines linked to the
    now anonymous customer row. They hold no contact data, and the store's reorder intervals,
    revenue and attribution figures are learned from them (intervals need each customer's
    sequence of purchases, so the anonymous row stays as the thread that links them).
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


def _redact_shop(
    session: Session, event: WebhookEvent, now: datetime
) -> tuple[ProcessOutcome, str]:
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
    refusal = _shop_problem(
        session, settings.shopify_shop, event.topic, event.shop_domain, event.payload
    )
    if refusal:
        logger.warning("shop/redact ignored: %s", refusal)
        return "ignored", refusal
    installed = _still_installed(settings)
    if installed:
        logger.error(
            "shop/redact for %s not done, nothing erased: %s. Check whether the shop really "
            "uninstalled the app (event_id=%s).",
            named,
            installed,
            event.event_id,
        )
        return "ignored", installed
    logger.warning("shop/redact: %s uninstalled the app, erasing its data", named)
    erase_store(session, now, keep_settings=False, keep_event_id=event.id)
    return "done", ""


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


def accept_webhook(headers: Mapping[str, str], body: bytes) -> ReceiveResult:
    """`receive_webhook` in a transaction of its own, at the clock's now: the HTTP route's call."""
    with session_scope() as session:
        return receive_webhook(session, headers, body, utcnow())
