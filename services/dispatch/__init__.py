"""Due to Replenish: the due scan fills the outbox; delivery sends it to the messaging tools.

Why an outbox: an event is a row (`OutboxMessage`) before it is a request, so a crash, a
provider outage or a refused key loses nothing, a scan run twice adds nothing, and the merchant
can read every message's fate (sent, skipped and why, failed with the provider's words).

**Cycle and key.** A customer's due cycle is anchored on their latest purchase of anything we
track: the newest `last_purchased_at` among all their `due_item` rows. Recompute rewrites those
rows after every sync and every night, but it only moves `last_purchased_at` when they buy
again (or an order is cancelled), so the anchor is stable while nothing happens and new after
a reorder; due and late *dates* are not used because relearned intervals shift them. The key
is ``f"{kind}-{customer_id}-{anchor:%Y%m%d%H%M%S}"`` (e.g. ``due-42-20261001093000``, at most
~40 characters), the same for every integration and every retry; it is Klaviyo's `unique_id`,
Postscript's `external_id` and Attentive's `externalEventId`, and unique per integration in
the outbox. Cart-link rows use ``f"cart_url-{customer_id}-{link_id}"``, so a rotated link
(a new `cart_link` row) is a new message.

**Scan.** Index range queries find who became due (`remind_at`), late (`late_at`) or whose
snooze ended since the last scan; every `FULL_SCAN_EVERY`, when the integrations change, and
from the CLI, a full sweep looks again at the whole `due_lookback_days` window (catching rows a
recompute moved back in time, a product back in stock, a newly enabled integration). Never a
scan of orders or of all due rows; a customer due longer ago than the lookback is not messaged.
Per batch of customers it computes the keys, drops those already in the outbox, and builds the
rest: the cart's pre-selected due items (as the cart page composes them: replacements, the
variant they bought, only what can be checked out) minus snoozed products. A whole-cart snooze
or nothing left writes no row (the summary counts why; the customer is looked at again when
the snooze ends). A customer with no identifier an integration accepts gets a `skipped` row
with the reason, so the merchant sees it. A Late event follows once the Due event of the same
cycle was *sent* to that integration and a listed product's late point (P75) passed after it;
a customer already late when reminded gets the Due event alone. Rows are inserted with
ON CONFLICT DO NOTHING, so concurrent scans are harmless.

**Delivery.** One thread per (integration, lane): events (due, late) and profile updates
(cart_url) are separate lanes, so Klaviyo's two endpoints and the three providers proceed at
their own pace, each paced by its client's own limiter. A lane claims a few rows with a
conditional UPDATE (pending and due now, or `sending` whose claim expired), then for each row:
re-checks (reordered → skipped; a product snoozed → left out; the whole cart snoozed →
postponed until the snooze ends; a rotated link → the current one), renews its claim for one
send's worth of time, sends, and commits the outcome before touching the next row.

**Exactly once, as built.** Two claimers never hold a row at once (the claim is one conditional
UPDATE, and every later write is conditional on the claim token), and a claim is renewed right
before each send for longer than one send with all its retries (`delivery_claim_seconds`; the
default 900 s covers the client policy's 6 attempts, 10 s timeouts and waits of up to 120 s).
Outcomes are committed one row at a time. So each row is handed to a provider by one worker,
and a second time only when we cannot know the first outcome:
- the worker died (SIGKILL) after the provider accepted the request and before our commit:
  the claim expires and the row is sent again; that window holds one row per lane, so one kill
  repeats at most one event per integration (and one idempotent profile update);
- a request timed out or its connection dropped after the provider had accepted it, and the
  client retried it.
Klaviyo drops such a repeat itself (same `unique_id` for the profile and metric), so there an
event is recorded exactly once. Postscript and Attentive receive our key (`external_id`,
`externalEventId`) but neither documents de-duplicating on it: there, delivery is at least once
with those rare repeats. Nothing is lost: a row leaves `pending`/`sending` only as sent,
skipped (with a reason) or failed (with the provider's error, until the merchant retries it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, null, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.cart.links import cart_url, get_or_create_link
from services.cart.page import DUE_ENTRY_COLUMNS, ShopifyIds, read_catalog
from services.cart.snoozes import active_snoozes, active_snoozes_for
from services.core.config import Settings
from services.core.db import get_engine
from services.core.logs import log_fields
from services.core.provider_http import RETRY_STATUSES, ProviderError
from services.core.shutdown import stop_requested
from services.core.tables import (
    CartLink,
    Customer,
    DueItem,
    IntegrationStatus,
    OutboxMessage,
    Product,
    Shop,
    Snooze,
    SyncState,
    utcnow,
)
from services.engine import (
    CatalogProduct,
    DueEntry,
    compose_cart,
    resolve_replacement,
)
from services.messaging import (
    DueEvent,
    DueProduct,
    MessagingClient,
    Recipient,
    clients_from_settings,
    to_e164,
)
from services.messaging import payloads as wire

__all__ = [
    "INTEGRATIONS",
    "DispatchSummary",
    "IntegrationSummary",
    "PlannedMessage",
    "cycle_key",
    "deliver",
    "enabled_integrations",
    "erase_customer_messages",
    "event_from_payload",
    "event_to_payload",
    "key_fingerprint",
    "outbox_counts",
    "plan",
    "resume_integration",
    "retry_failed",
    "run_delivery",
    "run_dispatch",
    "run_scan",
    "scan_due",
    "wire_body",
]

log = logging.getLogger("repeatcart.dispatch")

INTEGRATIONS = ("klaviyo", "postscript", "attentive")
PROFILE_INTEGRATIONS = ("klaviyo", "attentive")  # Postscript has no profile we can write
EVENT_KINDS = ("due", "late")
CART_URL = "cart_url"

PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"

NO_IDENTIFIER = "no email or phone it accepts"
REORDERED = "reordered"
NO_LONGER_DUE = "no longer due"
LINK_ROTATED = "link rotated"
CUSTOMER_GONE = "customer erased"
SNOOZED = "snoozed"
NOTHING_AVAILABLE = "nothing available"

SCAN_BATCH = 2000
LINK_BATCH = 1000
CLAIM_BATCH = 10
DELIVERY_PASS_SECONDS = 300.0  # a worker pass ends after this; the next one carries on
MAX_BACKOFF = timedelta(hours=6)
_LINK_SETTLE = timedelta(minutes=10)  # a link this young may still have lower-id siblings
_CART_URL_STATE = "cart-urls"  # SyncState row: per integration, the link id pushed up to
_SCAN_STATE = "due-scan"  # SyncState row: the last scan's time and the last full sweep's
FULL_SCAN_EVERY = timedelta(hours=6)
SCAN_OVERLAP = timedelta(hours=1)


# --- keys ----------------------------------------------------------------------------------


def _stamp(anchor: datetime) -> str:
    a = anchor if anchor.tzinfo is UTC else anchor.astimezone(UTC)
    # by hand: strftime cost a tenth of a large scan
    return f"{a.year:04d}{a.month:02d}{a.day:02d}{a.hour:02d}{a.minute:02d}{a.second:02d}"


def cycle_key(kind: str, customer_id: int, anchor: datetime) -> str:
    """The idempotency key of a customer's Due or Late event for the cycle that began at
    `anchor` (their latest purchase); see the module docstring."""
    return f"{kind}-{customer_id}-{_stamp(anchor)}"


def cart_url_key(customer_id: int, link_id: int) -> str:
    """One profile update per cart link: a rotated link is a new link row, hence a new key."""
    return f"{CART_URL}-{customer_id}-{link_id}"


def key_fingerprint(api_key: str) -> str:
    """Which key was refused, without storing the key: the first 12 hex of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def _api_key(settings: Settings, integration: str) -> str:
    return settings.secret(f"{integration}_api_key")


def enabled_integrations(settings: Settings) -> list[str]:
    """Integrations whose API key is set and that are switched on, in a fixed order. One
    switched off gets nothing queued, so turning it back on does not release a backlog."""
    return [
        name
        for name in INTEGRATIONS
        if _api_key(settings, name) and getattr(settings, f"{name}_enabled", True)
    ]


# --- payloads ------------------------------------------------------------------------------


_PRODUCT_FIELDS = tuple(f.name for f in fields(DueProduct))
_RECIPIENT_FIELDS = tuple(f.name for f in fields(Recipient))


def _plain(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    # `dataclasses.asdict` deep-copies every value: a third of a large scan's time
    return {name: getattr(record, name) for name in names}


def _event_json(
    event: DueEvent, products: list[dict[str, Any]], recipient: dict[str, Any]
) -> dict[str, Any]:
    return {
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


def event_to_payload(event: DueEvent) -> dict[str, Any]:
    """A `DueEvent` as JSON for the outbox (and back with `event_from_payload`)."""
    products = [_plain(product, _PRODUCT_FIELDS) for product in event.products]
    return _event_json(event, products, _plain(event.recipient, _RECIPIENT_FIELDS))


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
    )


def _recipient_from(data: dict[str, Any]) -> Recipient:
    return Recipient(**data)


def wire_body(integration: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The exact JSON body the provider will receive for an outbox row (for `--dry-run`)."""
    if kind == CART_URL:
        recipient = _recipient_from(payload["recipient"])
        if integration == "klaviyo":
            return wire.klaviyo_profile_import_body(recipient, payload["cart_url"])
        return wire.attentive_attributes_body(recipient, payload["cart_url"])
    event = event_from_payload(payload["event"])
    if integration == "klaviyo":
        return wire.klaviyo_event_body(event)
    if integration == "postscript":
        return wire.postscript_event_body(event)
    return wire.attentive_event_body(event)


_ACCEPTS: dict[str, Callable[[Recipient], bool]] = {
    "klaviyo": lambda r: bool(wire.klaviyo_identifiers(r)),
    "postscript": lambda r: bool(wire.postscript_identifiers(r)),
    "attentive": lambda r: bool(wire.attentive_user(r)),
}


def _recipient(customer: tuple[Any, ...]) -> Recipient:
    """Email as stored, phone made E.164 (dropped when invalid), Shopify's numeric customer id."""
    _id, email, phone, gid = customer
    external = gid.rsplit("/", 1)[-1] if gid else None
    return Recipient(
        email=(email or "").strip() or None, phone=to_e164(phone), external_id=external or None
    )


# --- summaries -----------------------------------------------------------------------------


@dataclass
class IntegrationSummary:
    """What one run did for one integration."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0  # back to pending, with backoff, after a transient failure
    postponed: int = 0  # held back until a snooze ends
    skipped: Counter[str] = field(default_factory=Counter)
    stopped: str = ""  # why delivery to it is stopped (a refused key)
    waiting: int = 0  # rows left pending while stopped

    def merge(self, other: IntegrationSummary) -> None:
        self.queued += other.queued
        self.sent += other.sent
        self.failed += other.failed
        self.retrying += other.retrying
        self.postponed += other.postponed
        self.skipped.update(other.skipped)
        self.stopped = self.stopped or other.stopped
        self.waiting = max(self.waiting, other.waiting)

    def fields(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "sent": self.sent,
            "failed": self.failed,
            "retrying": self.retrying,
            "postponed": self.postponed,
            "skipped": dict(self.skipped),
            **({"stopped": self.stopped, "waiting": self.waiting} if self.stopped else {}),
        }


@dataclass
class DispatchSummary:
    """Counts per integration for a scan, a delivery pass, or both; `lines()` for the CLI."""

    integrations: dict[str, IntegrationSummary] = field(default_factory=dict)

    def of(self, integration: str) -> IntegrationSummary:
        return self.integrations.setdefault(integration, IntegrationSummary())

    def merge(self, other: DispatchSummary) -> DispatchSummary:
        for name, counts in other.integrations.items():
            self.of(name).merge(counts)
        return self

    def lines(self) -> list[str]:
        if not self.integrations:
            return ["no integration enabled (set an API key)"]
        out = []
        for name in INTEGRATIONS:
            counts = self.integrations.get(name)
            if counts is None:
                continue
            parts = [f"queued {counts.queued}", f"sent {counts.sent}", f"failed {counts.failed}"]
            if counts.retrying:
                parts.append(f"retrying {counts.retrying}")
            if counts.postponed:
                parts.append(f"postponed {counts.postponed}")
            skipped = sum(counts.skipped.values())
            reasons = ", ".join(f"{why} {n}" for why, n in sorted(counts.skipped.items()))
            parts.append(f"skipped {skipped}" + (f" ({reasons})" if reasons else ""))
            line = f"{name}: " + ", ".join(parts)
            if counts.stopped:
                line += f"; STOPPED: {counts.stopped} ({counts.waiting} waiting)"
            out.append(line)
        return out

    def line(self) -> str:
        return "; ".join(self.lines())

    def fields(self) -> dict[str, Any]:
        return {name: counts.fields() for name, counts in self.integrations.items()}


# --- the due scan --------------------------------------------------------------------------


class _ScanContext:
    """What one scan reads once and reuses across batches: the shop, replacements, catalog."""

    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.session = session
        self.now = now
        self.public_url = settings.public_url.rstrip("/")
        shop = session.exec(select(Shop)).first()
        self.currency = shop.currency if shop else "USD"
        self.replacements: dict[int, int] = dict(
            session.exec(  # type: ignore[arg-type]
                select(Product.id, Product.replacement_product_id).where(
                    Product.replacement_product_id.is_not(None)  # type: ignore[union-attr]
                )
            ).all()
        )
        self.catalog: dict[int, CatalogProduct] = {}
        self.product_ids: dict[int, ShopifyIds] = {}
        self.variant_ids: dict[int, ShopifyIds] = {}

    def load_catalog(self, product_ids: Iterable[int]) -> None:
        bought = set(product_ids)
        wanted = bought | {resolve_replacement(pid, self.replacements) for pid in bought}
        missing = sorted(wanted - set(self.catalog))
        for start in range(0, len(missing), 500):
            self._load(missing[start : start + 500])

    def _load(self, ids: list[int]) -> None:
        read = read_catalog(self.session, set(ids))
        self.variant_ids.update(read.variant_ids)
        self.product_ids.update(read.product_ids)
        for pid, product in read.products.items():
            # a product we cannot name by its Shopify id cannot be sold through a cart link
            sold = product.sold and pid in read.product_ids
            self.catalog[pid] = replace(product, sold=sold)

    def absolute(self, url: str | None) -> str | None:
        """Demo images are served by the app (`/demo-images/x.svg`): providers need a full URL."""
        if not url:
            return None
        if url.startswith(("http://", "https://")):
            return url
        return f"{self.public_url}/{url.lstrip('/')}"


def _core(session: Session, statement: Any, params: Any = None) -> Any:
    """Run a statement on the session's connection as plain Core: the scan reads and writes
    columns, never ORM objects, and the ORM's per-row bookkeeping doubled its time."""
    return session.connection().execute(statement, params)


@dataclass(slots=True)
class _Listed:
    """The products one customer's event lists, with what delivery needs to re-check them."""

    products: list[DueProduct]
    items: list[dict[str, Any]]  # parallel: shown product id, the product it replaces, quantity
    due_date: date
    value_cents: int
    late_points: list[datetime]  # late points (P75) of the listed products

    def late_since(self, sent_at: datetime | None, now: datetime) -> bool:
        """A listed product's late point passed after the Due event went out."""
        return sent_at is not None and any(sent_at < point <= now for point in self.late_points)


def _list_products(
    ctx: _ScanContext,
    entries: list[DueEntry],
    snoozes: dict[int | None, datetime],
) -> _Listed | None:
    """What the cart pre-selects when it opens, minus snoozed products; None when nothing."""
    composition = compose_cart(entries, ctx.catalog, (), ctx.replacements, False, ctx.now)
    products: list[DueProduct] = []
    items: list[dict[str, Any]] = []
    due_dates: list[datetime] = []
    value = 0
    for item in composition.due:
        if not item.selected or item.variant_id is None or item.price_cents is None:
            continue
        if item.product_id in snoozes or (item.replaces_product_id in snoozes):
            continue
        product_ids = ctx.product_ids.get(item.product_id)
        variant_ids = ctx.variant_ids.get(item.variant_id)
        if product_ids is None or variant_ids is None:
            continue
        catalog = ctx.catalog[item.product_id]
        products.append(
            DueProduct(
                product_gid=product_ids.gid,
                product_id_numeric=product_ids.numeric,
                title=item.title,
                handle=catalog.handle,
                price_cents=item.price_cents,
                currency=ctx.currency,
                image_url=ctx.absolute(item.image_url),
                variant_gid=variant_ids.gid,
                variant_id_numeric=variant_ids.numeric,
                variant_title=item.variant_title,
            )
        )
        items.append(
            {
                "product_id": item.product_id,
                "replaces": item.replaces_product_id,
                "quantity": item.quantity,
                "price_cents": item.price_cents,
            }
        )
        if item.due_at is not None:
            due_dates.append(item.due_at)
        value += item.price_cents * item.quantity
    if not products:
        return None
    listed = {i["product_id"] for i in items}
    late_points = [
        entry.late_at
        for entry in entries
        if entry.is_due(ctx.now)
        and resolve_replacement(entry.product_id, ctx.replacements) in listed
    ]
    due_day = min(due_dates).date() if due_dates else ctx.now.date()
    return _Listed(products, items, due_day, value, late_points)


def _candidates(session: Session, now: datetime, since: datetime) -> dict[int, set[str]]:
    """Customers to look at, and why: became due / late, or a snooze ended, in (since, now].

    Three range queries: `ix_due_item_remind_at`, `ix_due_item_late_at`, and the (small)
    snooze table. Only customer ids are held in memory.
    """
    found: dict[int, set[str]] = defaultdict(set)
    queries = {
        "due": select(DueItem.customer_id).where(
            DueItem.remind_at > since, DueItem.remind_at <= now
        ),
        "late": select(DueItem.customer_id).where(DueItem.late_at > since, DueItem.late_at <= now),
        "snooze": select(Snooze.customer_id).where(Snooze.until > since, Snooze.until <= now),
    }
    for why, query in queries.items():
        for customer_id in _core(session, query.distinct()).scalars():  # type: ignore[call-overload]
            found[customer_id].add(why)
    return found


def _outbox_insert(session: Session) -> Any:
    """INSERT ... ON CONFLICT (integration, idempotency_key) DO NOTHING, per dialect."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # the columns every new row starts with are written into the statement, not bound per row
    return (
        insert(OutboxMessage.__table__)  # type: ignore[attr-defined]
        .values(
            attempts=literal_column("0"),
            claimed_by=null(),
            claimed_until=null(),
            last_error=literal_column("''"),
            provider_status=null(),
            sent_at=null(),
        )
        .on_conflict_do_nothing(index_elements=["integration", "idempotency_key"])
    )


def _row(
    integration: str,
    kind: str,
    customer_id: int,
    key: str,
    payload: dict[str, Any],
    now: datetime,
    skip_reason: str = "",
) -> dict[str, Any]:
    return {
        "integration": integration,
        "kind": kind,
        "customer_id": customer_id,
        "idempotency_key": key,
        "payload": payload,
        "status": SKIPPED if skip_reason else PENDING,
        "next_attempt_at": now,
        "skip_reason": skip_reason,
        "created_at": now,
    }


def _insert_rows(session: Session, rows: list[dict[str, Any]], summary: DispatchSummary) -> None:
    """Insert, skipping keys already there. Rows were checked against the outbox just before,
    so they are counted as written; only a concurrent scan could have taken one meanwhile."""
    if not rows:
        return
    _core(session, _outbox_insert(session), rows)
    for row in rows:
        if row["status"] == SKIPPED:
            summary.of(row["integration"]).skipped[row["skip_reason"]] += 1
        else:
            summary.of(row["integration"]).queued += 1


def _existing(
    session: Session, integrations: Sequence[str], keys: Iterable[str]
) -> dict[tuple[str, str], tuple[str, datetime | None]]:
    """(integration, key) -> (status, sent_at) of the rows already in the outbox."""
    keys = list(keys)
    found: dict[tuple[str, str], tuple[str, datetime | None]] = {}
    for start in range(0, len(keys), 900):
        rows = _core(
            session,
            select(
                OutboxMessage.integration,
                OutboxMessage.idempotency_key,
                OutboxMessage.status,
                OutboxMessage.sent_at,
            ).where(
                OutboxMessage.integration.in_(integrations),  # type: ignore[attr-defined]
                OutboxMessage.idempotency_key.in_(keys[start : start + 900]),  # type: ignore[attr-defined]
            ),
        )
        for integration, key, status, sent_at in rows:
            found[(integration, key)] = (status, sent_at)
    return found


def _active_links(session: Session, customer_ids: Sequence[int], now: datetime) -> dict[int, Any]:
    """(link id, token) per customer; a customer without a live link is given one."""
    links: dict[int, Any] = {}
    for link_id, customer_id, token in _core(
        session,
        select(CartLink.id, CartLink.customer_id, CartLink.token)
        .where(
            CartLink.customer_id.in_(customer_ids),  # type: ignore[attr-defined]
            CartLink.revoked_at.is_(None),  # type: ignore[union-attr]
        )
        .order_by(CartLink.id),
    ):
        links.setdefault(customer_id, (link_id, token))
    for customer_id in customer_ids:
        if customer_id not in links:
            link = get_or_create_link(session, customer_id, now)
            links[customer_id] = (link.id, link.token)
    return links


def _scan_batch(
    ctx: _ScanContext,
    customers: dict[int, set[str]],
    integrations: Sequence[str],
    summary: DispatchSummary,
) -> None:
    session, now = ctx.session, ctx.now
    ids = sorted(customers)
    anchors: dict[int, datetime] = dict(
        _core(
            session,  # type: ignore[arg-type]
            select(DueItem.customer_id, func.max(DueItem.last_purchased_at))
            .where(DueItem.customer_id.in_(ids))  # type: ignore[attr-defined]
            .group_by(DueItem.customer_id),
        ).all()
    )
    keys = {
        cid: {kind: cycle_key(kind, cid, anchor) for kind in EVENT_KINDS}
        for cid, anchor in anchors.items()
    }
    existing = _existing(session, integrations, (k for ks in keys.values() for k in ks.values()))
    # Due: not yet queued, for who became due (or un-snoozed) within the window. Late: the Due
    # event of this cycle was sent, and a late point (P75) entered the window since.
    wanted: dict[int, dict[str, list[str]]] = {}
    sent: dict[int, dict[str, datetime | None]] = {}
    for cid, kinds in keys.items():
        why = customers[cid]
        want_due: list[str] = []
        if why & {"due", "snooze"}:
            want_due = [i for i in integrations if (i, kinds["due"]) not in existing]
        want_late: list[str] = []
        if why & {"late", "snooze"}:
            for i in integrations:
                status, sent_at = existing.get((i, kinds["due"]), ("", None))
                if status == SENT and (i, kinds["late"]) not in existing:
                    want_late.append(i)
                    sent.setdefault(cid, {})[i] = sent_at
        if want_due or want_late:
            wanted[cid] = {"due": want_due, "late": want_late}
    if not wanted:
        return

    entries: dict[int, list[DueEntry]] = defaultdict(list)
    for row in _core(
        session,
        select(*DUE_ENTRY_COLUMNS).where(
            DueItem.customer_id.in_(sorted(wanted))  # type: ignore[attr-defined]
        ),
    ):
        entries[row[0]].append(DueEntry(*row))
    for cid, want in list(wanted.items()):
        if want["late"] and not want["due"]:
            # cheap first look: no due product turned late since the Due event went out
            first = min((t for t in sent[cid].values() if t is not None), default=now)
            if not any(e.is_due(now) and first < e.late_at <= now for e in entries[cid]):
                del wanted[cid]
    if not wanted:
        return
    build = sorted(wanted)
    ctx.load_catalog({e.product_id for rows in entries.values() for e in rows})
    snoozes = active_snoozes_for(session, build, now)
    people = {
        row[0]: _recipient(row)
        for row in _core(
            session,
            select(Customer.id, Customer.email, Customer.phone, Customer.shopify_gid).where(
                Customer.id.in_(build)  # type: ignore[union-attr]
            ),
        )
    }
    links = _active_links(session, [cid for cid in build if cid in people], now)

    rows: list[dict[str, Any]] = []
    for cid in build:
        if cid not in people:
            continue
        want = wanted[cid]
        targets = set(want["due"]) | set(want["late"])
        customer_snoozes = snoozes.get(cid, {})
        if None in customer_snoozes:
            for integration in targets:
                summary.of(integration).skipped[SNOOZED] += 1
            continue
        listed = _list_products(ctx, entries[cid], customer_snoozes)
        if listed is None:
            reason = SNOOZED if customer_snoozes else NOTHING_AVAILABLE
            for integration in targets:
                summary.of(integration).skipped[reason] += 1
            continue
        recipient = people[cid]
        link_id, token = links[cid]
        anchor = anchors[cid]
        products = [_plain(product, _PRODUCT_FIELDS) for product in listed.products]
        person = _plain(recipient, _RECIPIENT_FIELDS)
        url = cart_url(token, ctx.public_url)
        for kind in EVENT_KINDS:
            key = keys[cid][kind]
            for integration in want[kind]:
                if kind == "late" and not listed.late_since(sent[cid][integration], now):
                    continue
                event = DueEvent(
                    kind=kind,  # type: ignore[arg-type]
                    idempotency_key=key,
                    occurred_at=now,
                    cart_url=f"{url}?ch={integration}",  # as `cart_url(..., channel=)` writes it
                    due_date=listed.due_date,
                    products=tuple(listed.products),
                    value_cents=listed.value_cents,
                    currency=ctx.currency,
                    recipient=recipient,
                )
                payload = {
                    "event": _event_json(event, products, person),
                    "cycle": anchor.isoformat(),
                    "items": listed.items,
                    "link_id": link_id,
                }
                reason = "" if _ACCEPTS[integration](recipient) else NO_IDENTIFIER
                rows.append(_row(integration, kind, cid, key, payload, now, reason))
    _insert_rows(session, rows, summary)


def _scan_cart_links(
    ctx: _ScanContext, integrations: Sequence[str], summary: DispatchSummary, commit: bool
) -> None:
    """Queue a profile update for every live cart link not yet queued, per integration.

    Links only ever get new ids (rotating makes a new row), so each integration keeps the id up
    to which every link was queued (in `sync_state` 'cart-urls'); each scan reads only newer
    links, in id order and batches, and stops advancing the mark at a link younger than
    `_LINK_SETTLE` (a PostgreSQL sequence can hand out ids that commit out of order).
    """
    session, now = ctx.session, ctx.now
    targets = [name for name in integrations if name in PROFILE_INTEGRATIONS]
    if not targets:
        return
    state = session.get(SyncState, _CART_URL_STATE)
    marks: dict[str, int] = {name: 0 for name in targets}
    if state is not None:
        marks.update({k: int(v) for k, v in (state.last_summary or {}).items() if k in marks})
    after = min(marks.values())
    settled = dict.fromkeys(targets, True)
    while True:
        links = _core(
            session,
            select(CartLink.id, CartLink.customer_id, CartLink.token, CartLink.created_at)
            .where(CartLink.id > after, CartLink.revoked_at.is_(None))  # type: ignore[union-attr,operator]
            .order_by(CartLink.id)
            .limit(LINK_BATCH),
        ).all()
        if not links:
            break
        keys = {link_id: cart_url_key(cid, link_id) for link_id, cid, _t, _c in links}
        existing = _existing(session, targets, keys.values())
        needed = [
            (link_id, cid, token)
            for link_id, cid, token, _created in links
            if any(
                marks[name] < link_id and (name, keys[link_id]) not in existing for name in targets
            )
        ]
        people = {}
        if needed:
            people = {
                row[0]: _recipient(row)
                for row in _core(
                    session,
                    select(Customer.id, Customer.email, Customer.phone, Customer.shopify_gid).where(
                        Customer.id.in_({cid for _l, cid, _t in needed})  # type: ignore[union-attr]
                    ),
                )
            }
        rows = []
        for link_id, cid, token in needed:
            recipient = people.get(cid)
            if recipient is None:
                continue
            for name in targets:
                if marks[name] >= link_id or (name, keys[link_id]) in existing:
                    continue
                payload = {
                    "recipient": _plain(recipient, _RECIPIENT_FIELDS),
                    "cart_url": cart_url(token, ctx.public_url, channel=name),
                    "link_id": link_id,
                }
                reason = "" if _ACCEPTS[name](recipient) else NO_IDENTIFIER
                rows.append(_row(name, CART_URL, cid, keys[link_id], payload, now, reason))
        _insert_rows(session, rows, summary)
        for link_id, _cid, _token, created in links:
            young = created > now - _LINK_SETTLE
            for name in targets:
                if young:
                    settled[name] = False
                if settled[name] and link_id > marks[name]:
                    marks[name] = link_id
        after = links[-1][0]
        _save_marks(session, state, marks)
        state = session.get(SyncState, _CART_URL_STATE)
        if commit:
            session.commit()


def _save_marks(session: Session, state: SyncState | None, marks: dict[str, int]) -> None:
    if state is None:
        state = SyncState(name=_CART_URL_STATE)
    merged = dict(state.last_summary or {})
    merged.update(marks)
    state.last_summary = merged  # a new dict, so the JSON column is written
    session.add(state)
    session.flush()


def _window(
    session: Session,
    integrations: Sequence[str],
    now: datetime,
    lookback: timedelta,
    full: bool | None,
) -> tuple[datetime, bool]:
    """Where this scan starts looking, and whether it is a full sweep of the lookback window.

    A tick only needs what became due, late or un-snoozed since the last scan (with an hour of
    overlap for transactions that committed late); a full sweep catches the rest (rows a
    recompute moved back in time, a product back in stock, a new email address, a newly enabled
    integration) and runs when asked, every `FULL_SCAN_EVERY`, or when the integrations changed.
    """
    earliest = now - lookback
    state = session.get(SyncState, _SCAN_STATE)
    info = dict(state.last_summary or {}) if state is not None else {}
    cursor = state.cursor if state is not None else None
    full_at = datetime.fromisoformat(info["full_at"]) if info.get("full_at") else None
    if full is None:
        full = (
            cursor is None
            or full_at is None
            or cursor > now
            or now - full_at >= FULL_SCAN_EVERY
            or sorted(info.get("integrations") or []) != sorted(integrations)
        )
    if full or cursor is None or cursor > now:
        return earliest, True
    return max(earliest, cursor - SCAN_OVERLAP), False


def _save_window(session: Session, integrations: Sequence[str], now: datetime, full: bool) -> None:
    state = session.get(SyncState, _SCAN_STATE) or SyncState(name=_SCAN_STATE)
    info = dict(state.last_summary or {})
    if full:
        info.update(full_at=now.isoformat(), integrations=sorted(integrations))
    state.cursor = now
    state.last_finished_at = now
    state.last_status = "ok"
    state.last_summary = info
    session.add(state)
    session.flush()


def scan_due(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    integrations: Sequence[str] | None = None,
    full: bool | None = None,
    commit: bool = True,
) -> DispatchSummary:
    """Write the outbox rows for everyone who became due, late or un-snoozed since the last scan
    (`full`: within the whole lookback window; None decides, see `_window`), and for cart links
    not yet pushed. Commits after each batch when `commit` (a large first scan then resumes
    where it stopped); `--dry-run` passes False and rolls back."""
    integrations = list(enabled_integrations(settings) if integrations is None else integrations)
    summary = DispatchSummary()
    for name in integrations:
        summary.of(name)
    if not integrations:
        return summary
    ctx = _ScanContext(session, settings, now)
    lookback = timedelta(days=settings.due_lookback_days)
    since, full = _window(session, integrations, now, lookback, full)
    candidates = _candidates(session, now, since)
    ids = sorted(candidates)
    for start in range(0, len(ids), SCAN_BATCH):
        batch = {cid: candidates[cid] for cid in ids[start : start + SCAN_BATCH]}
        _scan_batch(ctx, batch, integrations, summary)
        if commit:
            session.commit()
    _scan_cart_links(ctx, integrations, summary, commit)
    _save_window(session, integrations, now, full)
    if commit:
        session.commit()
    return summary


# --- delivery ------------------------------------------------------------------------------


@dataclass
class _Lane:
    integration: str
    kinds: tuple[str, ...]
    client: MessagingClient
    stop: threading.Event  # shared by an integration's lanes: set when its key is refused
    summary: IntegrationSummary = field(default_factory=IntegrationSummary)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What the re-check before sending decided: send (maybe an updated payload), skip, wait."""

    action: str  # send | skip | postpone
    payload: dict[str, Any] | None = None
    reason: str = ""
    until: datetime | None = None


@dataclass(slots=True)
class _Claimed:
    """A claimed outbox row, as plain values (the lane writes it back with Core statements)."""

    id: int
    token: str
    integration: str
    kind: str
    customer_id: int
    payload: dict[str, Any]
    attempts: int


_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
# built once: a lane runs these for every row, and building SQL expressions cost more than
# running them
_OURS = and_(
    _OUTBOX.c.id == bindparam("row_id"),
    _OUTBOX.c.claimed_by == bindparam("row_token"),
    _OUTBOX.c.status == SENDING,
)
_CLAIMED_ROWS = (
    select(
        _OUTBOX.c.id,
        _OUTBOX.c.claimed_by,
        _OUTBOX.c.integration,
        _OUTBOX.c.kind,
        _OUTBOX.c.customer_id,
        _OUTBOX.c.payload,
        _OUTBOX.c.attempts,
    )
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .where(_OUTBOX.c.claimed_by == bindparam("token"))
    .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
)
_CUSTOMER_IDS = select(Customer.email, Customer.phone, Customer.shopify_gid).where(
    Customer.id == bindparam("cid")
)
_DUE_ROWS = select(DueItem.last_purchased_at, DueItem.remind_at).where(
    DueItem.customer_id == bindparam("cid")
)
_LINK = select(CartLink.revoked_at).where(CartLink.id == bindparam("lid"))
_CURRENT_LINK = (
    select(CartLink.id, CartLink.token)
    .where(CartLink.customer_id == bindparam("cid"), CartLink.revoked_at.is_(None))  # type: ignore[union-attr]
    .order_by(CartLink.id.desc())  # type: ignore[union-attr]
    .limit(1)
)


def _claim_query(status: str, kind: str, postgres: bool) -> Any:
    query = select(_OUTBOX.c.id).where(
        _OUTBOX.c.status == status,
        _OUTBOX.c.integration == bindparam("integration"),
        _OUTBOX.c.kind == kind,
    )
    if status == PENDING:
        query = query.where(_OUTBOX.c.next_attempt_at <= bindparam("now")).order_by(
            _OUTBOX.c.next_attempt_at, _OUTBOX.c.id
        )
    else:
        query = query.where(_OUTBOX.c.claimed_until < bindparam("now"))
    query = query.limit(bindparam("limit"))
    return query.with_for_update(skip_locked=True) if postgres else query


_CLAIMABLE = or_(
    and_(_OUTBOX.c.status == PENDING, _OUTBOX.c.next_attempt_at <= bindparam("now")),
    and_(_OUTBOX.c.status == SENDING, _OUTBOX.c.claimed_until < bindparam("now")),
)


class _Delivery:
    """One delivery pass: the settings, the clock and the claim token prefix its lanes share."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        clock: Callable[[], datetime],
        worker: str,
        rng: random.Random,
        deadline: float | None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.worker = worker
        self.rng = rng
        self.deadline = deadline
        self.claim_ttl = timedelta(seconds=settings.delivery_claim_seconds)
        self._rng_lock = threading.Lock()
        postgres = engine.dialect.name == "postgresql"
        self._claims = {
            (status, kind): _claim_query(status, kind, postgres)
            for status in (SENDING, PENDING)
            for kind in (*EVENT_KINDS, CART_URL)
        }

    def backoff(self, attempts: int, asked: float | None) -> timedelta:
        """Exponential (doubling from `delivery_backoff_seconds`, 6 h cap) with jitter, and never
        sooner than the provider asked (Retry-After)."""
        base = self.settings.delivery_backoff_seconds * 2 ** max(0, attempts - 1)
        ceiling = min(base, MAX_BACKOFF.total_seconds())
        with self._rng_lock:
            wait = ceiling * self.rng.uniform(0.5, 1.0)
        return timedelta(seconds=max(wait, asked or 0.0))

    # --- claims ----------------------------------------------------------------------------

    def claim(self, session: Session, lane: _Lane) -> list[_Claimed]:
        """Take up to `CLAIM_BATCH` rows for the lane: 'sending' ones whose claim expired (a
        worker died) first, then pending ones due now, oldest first. One conditional UPDATE
        decides who gets each row; on PostgreSQL, SKIP LOCKED keeps two claimers apart."""
        now = self.clock()
        connection = session.connection()
        ids: list[int] = []
        for status in (SENDING, PENDING):
            for kind in lane.kinds:
                if len(ids) >= CLAIM_BATCH:
                    break
                params = {
                    "integration": lane.integration,
                    "now": now,
                    "limit": CLAIM_BATCH - len(ids),
                }
                ids.extend(connection.execute(self._claims[(status, kind)], params).scalars())
        if not ids:
            session.commit()
            return []
        token = f"{self.worker}:{uuid.uuid4().hex[:8]}"
        connection.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _CLAIMABLE)
            .values(status=SENDING, claimed_by=token, claimed_until=now + self.claim_ttl),
            {"ids": ids, "now": now},
        )
        session.commit()
        rows = session.connection().execute(_CLAIMED_ROWS, {"ids": ids, "token": token})
        claimed = [_Claimed(*row) for row in rows]
        session.commit()
        return claimed

    def _write(self, session: Session, row: _Claimed, **values: Any) -> bool:
        """Update a row if the claim is still ours, and commit at once (one row in flight)."""
        done = session.connection().execute(
            update(_OUTBOX).where(_OURS).values(**values),
            {"row_id": row.id, "row_token": row.token},
        )
        session.commit()
        return done.rowcount == 1

    def _finish(self, session: Session, row: _Claimed, **values: Any) -> bool:
        """Write a row's outcome and let go of it."""
        values.setdefault("claimed_by", None)
        values.setdefault("claimed_until", None)
        if not self._write(session, row, **values):
            log.warning("outbox row %s: claim lost before its outcome was written", row.id)
            return False
        return True

    def release(self, session: Session, rows: Iterable[_Claimed]) -> None:
        """Give claimed rows back untouched (the lane is stopping)."""
        for row in rows:
            self._write(session, row, status=PENDING, claimed_by=None, claimed_until=None)

    # --- one row ---------------------------------------------------------------------------

    def deliver_row(self, session: Session, lane: _Lane, row: _Claimed) -> str:
        """Re-check, send and record one row; returns sent|skipped|postponed|failed|retrying|
        auth|lost."""
        now = self.clock()
        verdict = recheck(session, row, now)
        if verdict.action == "skip":
            lane.summary.skipped[verdict.reason] += 1
            self._finish(session, row, status=SKIPPED, skip_reason=verdict.reason)
            return "skipped"
        if verdict.action == "postpone":
            assert verdict.until is not None
            lane.summary.postponed += 1
            self._finish(
                session,
                row,
                status=PENDING,
                next_attempt_at=verdict.until,
                payload=verdict.payload or row.payload,
                last_error=f"postponed: {verdict.reason}",
            )
            return "postponed"
        payload = verdict.payload or row.payload
        # renew the claim for one send's worth of time, right before sending
        values: dict[str, Any] = {"claimed_until": now + self.claim_ttl}
        if verdict.payload is not None:
            values["payload"] = verdict.payload
        if not self._write(session, row, **values):
            return "lost"
        try:
            _send(lane.client, row.kind, payload)
        except ValueError:
            lane.summary.skipped[NO_IDENTIFIER] += 1
            self._finish(session, row, status=SKIPPED, skip_reason=NO_IDENTIFIER)
            return "skipped"
        except ProviderError as error:
            return self._failed(session, lane, row, error)
        except Exception as error:  # a bug or an unexpected reply: keep the row, say why
            log.exception("outbox row %s: unexpected error", row.id)
            return self._transient(
                session, lane, row, f"{type(error).__name__}: {error}", None, None
            )
        self._finish(
            session,
            row,
            status=SENT,
            sent_at=self.clock(),
            attempts=row.attempts + 1,
            last_error="",
            provider_status=None,
        )
        lane.summary.sent += 1
        return "sent"

    def _failed(self, session: Session, lane: _Lane, row: _Claimed, error: ProviderError) -> str:
        if error.auth_failed:
            _record_auth_failure(
                session, lane.integration, _api_key(self.settings, lane.integration), error
            )
            self._finish(session, row, status=PENDING, last_error=str(error))
            lane.stop.set()
            return "auth"
        status = error.status
        if status is not None and status not in RETRY_STATUSES and 400 <= status < 600:
            lane.summary.failed += 1
            self._finish(
                session,
                row,
                status=FAILED,
                attempts=row.attempts + 1,
                last_error=str(error)[:2000],
                provider_status=status,
            )
            return "failed"
        asked = getattr(error.__cause__, "after", None)
        return self._transient(session, lane, row, str(error), status, asked)

    def _transient(
        self,
        session: Session,
        lane: _Lane,
        row: _Claimed,
        message: str,
        status: int | None,
        asked: float | None,
    ) -> str:
        attempts = row.attempts + 1
        if attempts >= self.settings.delivery_attempts:
            lane.summary.failed += 1
            self._finish(
                session,
                row,
                status=FAILED,
                attempts=attempts,
                last_error=f"gave up after {attempts} delivery attempts: {message}"[:2000],
                provider_status=status,
            )
            return "failed"
        lane.summary.retrying += 1
        self._finish(
            session,
            row,
            status=PENDING,
            attempts=attempts,
            next_attempt_at=self.clock() + self.backoff(attempts, asked),
            last_error=message[:2000],
            provider_status=status,
        )
        return "retrying"

    # --- a lane ----------------------------------------------------------------------------

    def run_lane(self, lane: _Lane) -> IntegrationSummary:
        with Session(self.engine, expire_on_commit=False) as session:
            while not lane.stop.is_set() and not stop_requested():
                if self.deadline is not None and time.monotonic() > self.deadline:
                    break
                rows = self.claim(session, lane)
                if not rows:
                    break
                for index, row in enumerate(rows):
                    if lane.stop.is_set() or stop_requested():
                        # the key was refused, or the process is stopping: the rest go back
                        self.release(session, rows[index:])
                        break
                    outcome = self.deliver_row(session, lane, row)
                    if outcome == "auth":
                        self.release(session, rows[index + 1 :])
                        break
                    if outcome == "retrying":
                        # the provider is struggling: give it until the next pass
                        self.release(session, rows[index + 1 :])
                        return lane.summary
        return lane.summary


def _send(client: MessagingClient, kind: str, payload: dict[str, Any]) -> None:
    if kind == CART_URL:
        client.set_cart_url(_recipient_from(payload["recipient"]), payload["cart_url"])
    else:
        client.send_event(event_from_payload(payload["event"]))


def recheck(session: Session, row: _Claimed | OutboxMessage, now: datetime) -> _Verdict:
    """Right before sending: is this message still true? (reorder, snoozes, the cart link).

    Reads only; a rotated link is replaced by the customer's current one (or a new one)."""
    connection = session.connection()
    person = connection.execute(_CUSTOMER_IDS, {"cid": row.customer_id}).first()
    if person is None or not any(person):
        return _Verdict("skip", reason=CUSTOMER_GONE)
    if row.kind == CART_URL:
        link = connection.execute(_LINK, {"lid": row.payload.get("link_id")}).first()
        if link is None or link.revoked_at is not None:
            return _Verdict("skip", reason=LINK_ROTATED)
        return _Verdict("send")
    rows = connection.execute(_DUE_ROWS, {"cid": row.customer_id}).all()
    if not rows:
        return _Verdict("skip", reason=NO_LONGER_DUE)
    anchor = max(purchased for purchased, _ in rows)
    if _stamp(anchor) != _stamp(datetime.fromisoformat(row.payload["cycle"])):
        return _Verdict("skip", reason=REORDERED)
    if not any(remind <= now for _, remind in rows):
        return _Verdict("skip", reason=NO_LONGER_DUE)
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
            current = (created.id, created.token)
        link_id, token = current
        base = event["cart_url"].split("/cart/")[0]
        event["cart_url"] = cart_url(token, base, channel=row.integration)
        payload = {**payload, "link_id": link_id}
        changed = True
    if changed:
        return _Verdict("send", payload={**payload, "event": event})
    return _Verdict("send")


def _postpone(payload: dict[str, Any], until: datetime, reason: str) -> _Verdict:
    """Hold the message until the snooze ends; it is then re-checked (and dated) afresh."""
    event = {**payload["event"], "occurred_at": until.isoformat()}
    return _Verdict("postpone", payload={**payload, "event": event}, reason=reason, until=until)


def _record_auth_failure(
    session: Session, integration: str, api_key: str, error: ProviderError
) -> None:
    status = session.get(IntegrationStatus, integration) or IntegrationStatus(name=integration)
    status.key_fingerprint = key_fingerprint(api_key)
    status.auth_failed_at = utcnow()
    status.last_error = str(error)[:2000]
    status.updated_at = utcnow()
    session.add(status)
    session.commit()


def _stopped(session: Session, integration: str, api_key: str) -> str:
    """Why delivery to `integration` is stopped ('' when it is not); a new key clears it."""
    status = session.get(IntegrationStatus, integration)
    if status is None or status.auth_failed_at is None:
        return ""
    if status.key_fingerprint != key_fingerprint(api_key):
        status.auth_failed_at = None
        status.last_error = ""
        status.key_fingerprint = key_fingerprint(api_key)
        status.updated_at = utcnow()
        session.add(status)
        session.commit()
        return ""
    return f"key refused: {status.last_error}"


def _waiting(session: Session, integration: str) -> int:
    return int(
        session.exec(
            select(func.count()).where(
                OutboxMessage.status.in_((PENDING, SENDING)),  # type: ignore[attr-defined]
                OutboxMessage.integration == integration,
            )
        ).one()
    )


def deliver(
    settings: Settings,
    *,
    clients: Sequence[MessagingClient] | None = None,
    clock: Callable[[], datetime] = utcnow,
    worker: str | None = None,
    max_seconds: float | None = None,
    rng: random.Random | None = None,
) -> DispatchSummary:
    """One delivery pass: every lane sends what it can claim until nothing is left, the key is
    refused, the provider keeps failing (its rows wait for their backoff), or `max_seconds`."""
    engine = get_engine(settings.database_url)
    own = clients is None
    active = list(clients_from_settings(settings) if clients is None else clients)
    summary = DispatchSummary()
    delivery = _Delivery(
        settings,
        engine,
        clock,
        worker or f"{_host()}:{uuid.uuid4().hex[:6]}",
        rng or random.Random(),
        None if max_seconds is None else time.monotonic() + max_seconds,
    )
    try:
        lanes: list[_Lane] = []
        with Session(engine, expire_on_commit=False) as session:
            for client in active:
                name = client.provider
                stopped = _stopped(session, name, _api_key(settings, name))
                if stopped:
                    summary.of(name).stopped = stopped
                    summary.of(name).waiting = _waiting(session, name)
                    continue
                stop = threading.Event()
                lanes.append(_Lane(name, EVENT_KINDS, client, stop))
                if name in PROFILE_INTEGRATIONS:
                    lanes.append(_Lane(name, (CART_URL,), client, stop))
        if lanes:
            with ThreadPoolExecutor(len(lanes), thread_name_prefix="delivery") as pool:
                for lane, counts in zip(lanes, pool.map(delivery.run_lane, lanes), strict=True):
                    summary.of(lane.integration).merge(counts)
        with Session(engine, expire_on_commit=False) as session:
            for lane in lanes:
                if lane.stop.is_set() and not summary.of(lane.integration).stopped:
                    counts = summary.of(lane.integration)
                    counts.stopped = _stopped(
                        session, lane.integration, _api_key(settings, lane.integration)
                    )
                    counts.waiting = _waiting(session, lane.integration)
    finally:
        if own:
            for client in active:
                client.close()
    return summary


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- what the merchant (dashboard, CLI) can do ----------------------------------------------


def retry_failed(
    session: Session,
    ids: Sequence[int] | None = None,
    now: datetime | None = None,
    *,
    integration: str | None = None,
) -> int:
    """Queue failed rows again (all, one integration's, or the given ids) with a fresh attempt
    count; the error they failed with stays readable until they are sent. Returns how many
    were re-queued."""
    query = update(OutboxMessage).where(OutboxMessage.status == FAILED)
    if integration is not None:
        query = query.where(OutboxMessage.integration == integration)
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(list(ids)))  # type: ignore[union-attr]
    result = session.execute(
        query.values(status=PENDING, attempts=0, next_attempt_at=now or utcnow())
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def resume_integration(session: Session, integration: str) -> bool:
    """Clear a refused-key stop without changing the key (the merchant fixed its permissions
    at the provider). True when it was stopped."""
    status = session.get(IntegrationStatus, integration)
    if status is None or status.auth_failed_at is None:
        return False
    status.auth_failed_at = None
    status.updated_at = utcnow()
    session.add(status)
    session.flush()
    return True


def outbox_counts(session: Session) -> dict[str, dict[str, int]]:
    """Rows per integration and status, for the dashboard's delivery overview."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for integration, status, n in session.exec(
        select(OutboxMessage.integration, OutboxMessage.status, func.count()).group_by(
            OutboxMessage.integration, OutboxMessage.status
        )
    ):
        counts[integration][status] = int(n)
    return dict(counts)


def erase_customer_messages(session: Session, customer_ids: Sequence[int]) -> int:
    """For `customers/redact`: unsent messages become skipped, and every message's payload
    (which holds the email and phone) is emptied. Returns the rows touched."""
    if not customer_ids:
        return 0
    ids = list(customer_ids)
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.customer_id.in_(ids),  # type: ignore[attr-defined]
            OutboxMessage.status.in_((PENDING, SENDING, FAILED)),  # type: ignore[attr-defined]
        )
        .values(status=SKIPPED, skip_reason=CUSTOMER_GONE, claimed_by=None, claimed_until=None)
    )
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.customer_id.in_(ids))  # type: ignore[attr-defined]
        .values(payload={})
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- entry points (worker jobs, CLI) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """A message `--dry-run` would send (or skip, with the reason), with its exact wire body."""

    id: int | None
    integration: str
    kind: str
    customer_id: int
    idempotency_key: str
    action: str  # send | skip | postpone | stopped
    reason: str
    body: dict[str, Any] | None


def plan(
    settings: Settings, now: datetime | None = None
) -> tuple[DispatchSummary, list[PlannedMessage]]:
    """What a dispatch run would do at `now`: scan (rolled back) and every row a delivery pass
    would take, re-checked, with the body each provider would receive. Sends nothing."""
    now = now or utcnow()
    planned: list[PlannedMessage] = []
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        summary = scan_due(session, settings, now, full=True, commit=False)
        session.flush()
        for name in enabled_integrations(settings):
            stopped = _stopped_readonly(session, name, _api_key(settings, name))
            if stopped:
                summary.of(name).stopped = stopped
            for row in _claimable(session, name, now):
                verdict = recheck(session, row, now)
                payload = verdict.payload or row.payload
                action = "stopped" if stopped else verdict.action
                body = wire_body(name, row.kind, payload) if action == "send" else None
                planned.append(
                    PlannedMessage(
                        row.id,
                        name,
                        row.kind,
                        row.customer_id,
                        row.idempotency_key,
                        action,
                        stopped or verdict.reason,
                        body,
                    )
                )
        session.rollback()
    return summary, planned


def _claimable(session: Session, integration: str, now: datetime) -> Iterator[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.integration == integration,
            or_(
                and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
                and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now),  # type: ignore[operator]
            ),
        )
        .order_by(OutboxMessage.id)
    )
    yield from session.exec(query)


def _stopped_readonly(session: Session, integration: str, api_key: str) -> str:
    status = session.get(IntegrationStatus, integration)
    if status is None or status.auth_failed_at is None:
        return ""
    if status.key_fingerprint != key_fingerprint(api_key):
        return ""
    return f"key refused: {status.last_error}"


def run_scan(settings: Settings, now: datetime | None = None) -> DispatchSummary:
    """The worker's due-scan job: one scan, one structured log line."""
    started = time.perf_counter()
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        summary = scan_due(session, settings, now or utcnow())
    _log("due scan", summary, started)
    return summary


def run_delivery(settings: Settings, **options: Any) -> DispatchSummary:
    """The worker's delivery job: one bounded pass, one structured log line."""
    started = time.perf_counter()
    options.setdefault("max_seconds", DELIVERY_PASS_SECONDS)
    summary = deliver(settings, **options)
    _log("delivery", summary, started)
    return summary


def run_dispatch(
    settings: Settings,
    *,
    retry: bool = False,
    now: datetime | None = None,
    **options: Any,
) -> DispatchSummary:
    """`repeatcart dispatch`: optionally re-queue failed rows, then one scan and one delivery
    pass, summed; one structured log line."""
    started = time.perf_counter()
    engine = get_engine(settings.database_url)
    if retry:
        with Session(engine) as session:
            retry_failed(session, now=now)
            session.commit()
    with Session(engine, expire_on_commit=False) as session:
        summary = scan_due(session, settings, now or utcnow(), full=True)
    if now is not None:
        options.setdefault("clock", lambda: now)
    summary.merge(deliver(settings, **options))
    _log("dispatch", summary, started)
    return summary


def _log(run: str, summary: DispatchSummary, started: float) -> None:
    log.info(
        "%s: %s",
        run,
        summary.line(),
        extra=log_fields(
            run=run,
            ms=round((time.perf_counter() - started) * 1000),
            integrations=summary.fields(),
        ),
    )
