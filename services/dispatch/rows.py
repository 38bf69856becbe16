"""Outbox rows as the scans write them: who a row is for, what is already queued, and the
insert that skips a key already there. Shared by the due scan and the Moments' scans (About To
Lapse, Primed For Cross-sell, Primed For Subscription)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, column, func, literal_column, null, table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from services.cart.links import cart_url, get_or_create_link
from services.cart.page import DUE_ENTRY_COLUMNS
from services.cart.snoozes import active_snoozes_for
from services.core.tables import CartLink, Customer, DueItem, UTCDateTime
from services.dispatch.keys import cycle_key
from services.dispatch.listing import Listed, ScanContext
from services.dispatch.outbox import NO_IDENTIFIER, OUTBOX, PENDING, SKIPPED
from services.dispatch.payloads import (
    PRODUCT_FIELDS,
    RECIPIENT_FIELDS,
    event_json,
    plain,
    recipient,
)
from services.dispatch.summary import DispatchSummary
from services.engine import DueEntry
from services.messaging import DueEvent, EventKind, Recipient, SubscriptionOffer, provider


def core(session: Session, statement: Any, params: Any = None) -> Any:
    """Run a statement on the session's connection as plain Core: the scan reads and writes
    columns, never ORM objects, and the ORM's per-row bookkeeping doubled its time."""
    return session.connection().execute(statement, params)


_NEW_ROWS = table(
    OUTBOX.name,
    *(column(name) for name in ("integration", "kind", "customer_id", "idempotency_key")),
    *(column(name) for name in ("status", "skip_reason", "next_attempt_at", "created_at")),
    column("payload", JSON),
    *(column(name) for name in ("attempts", "claimed_by", "claimed_until", "last_error")),
    *(column(name) for name in ("provider_status", "sent_at")),
)
"""The outbox as new rows are written to it. The timestamps are untyped: `insert_rows` binds
them converted once per batch, where the typed columns converted two datetimes per row."""

_TIMESTAMPS = ("next_attempt_at", "created_at")


def _outbox_insert(session: Session) -> Any:
    """INSERT ... ON CONFLICT (integration, idempotency_key) DO NOTHING, per dialect."""
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert(_NEW_ROWS) if postgres else sqlite.insert(_NEW_ROWS)
    # the columns every new row starts with are written into the statement, not bound per row
    return insert.values(
        attempts=literal_column("0"),
        claimed_by=null(),
        claimed_until=null(),
        last_error=literal_column("''"),
        provider_status=null(),
        sent_at=null(),
    ).on_conflict_do_nothing(index_elements=["integration", "idempotency_key"])


def outbox_row(
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


def accepted(integration: str, person: Recipient) -> str:
    """'' when the integration takes one of the recipient's identifiers, else why not."""
    return "" if provider(integration).accepts(person) else NO_IDENTIFIER


def insert_rows(session: Session, rows: list[dict[str, Any]], summary: DispatchSummary) -> None:
    """Insert, skipping keys already there. Rows were checked against the outbox just before,
    so they are counted as written; only a concurrent scan could have taken one meanwhile.
    The rows' timestamps are converted in place to what the database driver takes."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    to_driver = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    converted: dict[datetime, Any] = {}
    for row in rows:
        for name in _TIMESTAMPS:
            moment = row[name]
            if moment not in converted:
                converted[moment] = to_driver(moment) if to_driver else moment
            row[name] = converted[moment]
    core(session, _outbox_insert(session), rows)
    for row in rows:
        if row["status"] == SKIPPED:
            summary.of(row["integration"]).skipped[row["skip_reason"]] += 1
        else:
            summary.of(row["integration"]).queued += 1


def existing_rows(
    session: Session, integrations: Sequence[str], keys: Iterable[str]
) -> dict[tuple[str, str], tuple[str, datetime | None]]:
    """(integration, key) -> (status, sent_at) of the rows already in the outbox."""
    keys = list(keys)
    found: dict[tuple[str, str], tuple[str, datetime | None]] = {}
    for start in range(0, len(keys), 900):
        rows = core(
            session,
            select(
                OUTBOX.c.integration, OUTBOX.c.idempotency_key, OUTBOX.c.status, OUTBOX.c.sent_at
            ).where(
                OUTBOX.c.integration.in_(integrations),
                OUTBOX.c.idempotency_key.in_(keys[start : start + 900]),
            ),
        )
        for integration, key, status, sent_at in rows:
            found[(integration, key)] = (status, sent_at)
    return found


def recipients_of(session: Session, customer_ids: Iterable[int]) -> dict[int, Recipient]:
    """Each customer's recipient record; a customer erased meanwhile is simply absent."""
    query = select(Customer.id, Customer.email, Customer.phone, Customer.shopify_gid).where(
        col(Customer.id).in_(customer_ids)
    )
    return {row[0]: recipient(row) for row in core(session, query)}


def active_links(session: Session, customer_ids: Sequence[int], now: datetime) -> dict[int, Any]:
    """(link id, token) per customer; a customer without a live link is given one."""
    links: dict[int, Any] = {}
    for link_id, customer_id, token in core(
        session,
        select(CartLink.id, CartLink.customer_id, CartLink.token)
        .where(col(CartLink.customer_id).in_(customer_ids), col(CartLink.revoked_at).is_(None))
        .order_by(col(CartLink.id)),
    ):
        links.setdefault(customer_id, (link_id, token))
    for customer_id in customer_ids:
        if customer_id not in links:
            link = get_or_create_link(session, customer_id, now)
            links[customer_id] = (link.id, link.token)
    return links


@dataclass(frozen=True, slots=True)
class Audience:
    """A batch's customers as every scan's rows need them: their active snoozes, who they are
    (a customer erased meanwhile is absent from `people`) and a live cart link each."""

    snoozes: dict[int, dict[int | None, datetime]]
    people: dict[int, Recipient]
    links: dict[int, tuple[int, str]]


def audience_of(
    ctx: ScanContext, customer_ids: Sequence[int], linked: Container[int] | None = None
) -> Audience:
    """`customer_ids`' snoozes and recipients, and links for those still there (and in `linked`,
    when given: a customer with nothing to send needs no link made)."""
    session, now = ctx.session, ctx.now
    people = recipients_of(session, customer_ids)
    wanted = [cid for cid in customer_ids if cid in people and (linked is None or cid in linked)]
    return Audience(
        active_snoozes_for(session, customer_ids, now), people, active_links(session, wanted, now)
    )


def last_purchases(session: Session, customer_ids: Sequence[int]) -> dict[int, datetime]:
    """Each customer's last purchase: their due cycle, lapse cycle and cross-sell began there."""
    query = (
        select(DueItem.customer_id, func.max(DueItem.last_purchased_at))
        .where(col(DueItem.customer_id).in_(customer_ids))
        .group_by(col(DueItem.customer_id))
    )
    return dict(core(session, query).all())


_ID_CHUNK = 500  # customer ids per `IN (...)`, well under SQLite's bound-parameter limit


def last_purchase_within(
    session: Session, customer_ids: Sequence[int], low: datetime, high: datetime
) -> list[int]:
    """Those of `customer_ids` (in id order) whose last purchase lies in (low, high]: a row of
    the window names a candidate, and only their last purchase makes it their cycle."""
    anchors: dict[int, datetime] = {}
    for start in range(0, len(customer_ids), _ID_CHUNK):
        anchors.update(last_purchases(session, customer_ids[start : start + _ID_CHUNK]))
    return [cid for cid in customer_ids if low < anchors[cid] <= high]


def due_entries(session: Session, customer_ids: Sequence[int]) -> dict[int, list[DueEntry]]:
    entries: dict[int, list[DueEntry]] = defaultdict(list)
    query = select(*DUE_ENTRY_COLUMNS)  # type: ignore[call-overload]  # sqlmodel types <= 4 columns
    query = query.where(col(DueItem.customer_id).in_(customer_ids))
    for row in core(session, query):
        entries[row[0]].append(DueEntry(*row))
    return entries


def moment_rows(
    ctx: ScanContext,
    kind: EventKind,
    cid: int,
    key: str,
    cycle: datetime,
    integrations: Iterable[str],
    listed: Listed,
    person: Recipient,
    link: tuple[int, str],
    *,
    days_since_last_order: int | None = None,
    pick: int | None = None,
    subscription_link: bool = False,
    subscription: SubscriptionOffer | None = None,
) -> list[dict[str, Any]]:
    """One customer's outbox rows of one Moment, one per integration that has it switched on:
    the event each provider gets (its cart link attributed to that integration and the Moment,
    with `pick` pre-selected when given, and with `subscription_link` or a `subscription` offer
    the subscription cart's link beside it) and what delivery needs beside it."""
    link_id, token = link
    wanted = [integration for integration in integrations if ctx.sends(integration, kind)]
    if not wanted:
        return []
    with_subscription = subscription_link or subscription is not None
    event = DueEvent(
        kind=kind,
        idempotency_key=key,
        occurred_at=ctx.now,
        cart_url="",  # each integration's own links are set below
        due_date=listed.due_date,
        products=tuple(listed.products),
        value_cents=listed.value_cents,
        currency=ctx.currency,
        recipient=person,
        days_since_last_order=days_since_last_order,
        subscription=subscription,
    )
    # one event as JSON for all integrations: only the links differ (channel attribution)
    products = [plain(product, PRODUCT_FIELDS) for product in listed.products]
    shared = event_json(event, products, plain(person, RECIPIENT_FIELDS))
    cycle_text = cycle.isoformat()
    rows: list[dict[str, Any]] = []
    for integration in wanted:
        data = dict(shared)
        data["cart_url"] = cart_url(
            token, ctx.public_url, channel=integration, moment=kind, pick=pick
        )
        if with_subscription:
            data["subscription_cart_url"] = cart_url(
                token, ctx.public_url, channel=integration, moment=kind, subscription=True
            )
        payload = {"event": data, "cycle": cycle_text, "items": listed.items, "link_id": link_id}
        if pick is not None:
            payload["pick"] = pick
        reason = accepted(integration, person)
        rows.append(outbox_row(integration, kind, cid, key, payload, ctx.now, reason))
    return rows


RowBuilder = Callable[
    [ScanContext, dict[int, datetime], dict[int, list[str]], DispatchSummary],
    list[dict[str, Any]],
]
"""Builds a batch's rows from each customer's last purchase and the integrations wanting one."""


def queue_once_per_cycle(
    ctx: ScanContext,
    kind: EventKind,
    customer_ids: Sequence[int],
    integrations: Sequence[str],
    build: RowBuilder,
    summary: DispatchSummary,
    *,
    batch: int,
    commit: bool,
) -> None:
    """Queue a Moment whose cycle is the customer's last purchase (About To Lapse, Primed For
    Cross-sell) for the integrations that have no row of this cycle yet, batch by batch;
    commits after each batch when `commit`."""
    session = ctx.session
    for start in range(0, len(customer_ids), batch):
        anchors = last_purchases(session, customer_ids[start : start + batch])
        keys = {cid: cycle_key(kind, cid, anchor) for cid, anchor in anchors.items()}
        existing = existing_rows(session, integrations, keys.values())
        wanted = {
            cid: [i for i in integrations if (i, key) not in existing] for cid, key in keys.items()
        }
        wanted = {cid: names for cid, names in wanted.items() if names}
        if wanted:
            insert_rows(session, build(ctx, anchors, wanted, summary), summary)
        if commit:
            session.commit()
