"""The About To Lapse scan: repeat customers whose lapse point entered the scan's window →
outbox rows, once per lapse cycle (see `services.engine.lapse` for the rule).

Finding them is two SQL steps, never all orders in memory:
1. One aggregate over `due_item` (the primary key's customer order) joined to the learned
   intervals (`interval_stat`, a row per product) narrows the store to customers whose lapse
   point can fall in (since, now]: their last purchase + factor × the smallest and the largest
   late interval among their learned products brackets it. One row per candidate comes back.
2. Per batch of candidates, their countable orders (`ix_orders_customer_processed`, then
   `order_line` by order) say how many orders each product was in and whether they have two;
   the engine picks the product and dates the lapse point exactly.

The cycle is the customer's last purchase, the same anchor the Due event's key uses, so the key
is ``lapse-<customer>-<last purchase>``: a second scan finds the key and writes nothing, and a
new order starts a new cycle (and delivery's re-check drops a queued lapse row as `reordered`).
The event lists what the cart pre-selects, like the Due event, plus the days since that order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, extract, func
from sqlmodel import Session, col, select

from services.cart.links import cart_url
from services.cart.snoozes import active_snoozes_for
from services.core.tables import DueItem, IntervalStat, Order, OrderLine, Shop
from services.dispatch.keys import cycle_key
from services.dispatch.listing import ScanContext, list_products
from services.dispatch.outbox import LAPSE, NOTHING_AVAILABLE, SNOOZED
from services.dispatch.payloads import PRODUCT_FIELDS, RECIPIENT_FIELDS, event_json, plain
from services.dispatch.rows import (
    accepted,
    active_links,
    core,
    due_entries,
    existing_rows,
    insert_rows,
    outbox_row,
    recipients_of,
)
from services.dispatch.summary import DispatchSummary
from services.engine import (
    LapsePoint,
    ReorderedProduct,
    counts_for_intervals,
    lapse_point,
)
from services.engine.recompute import load_learned, settings_of
from services.messaging import DueEvent

LAPSE_BATCH = 2000
_UNIX_JULIAN_DAY = 2440587.5  # SQLite's julianday() of 1970-01-01T00:00Z


def _days(session: Session, column: Any) -> Any:
    """A stored UTC time as days since 1970 (a float), on SQLite and on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", column) / 86400.0
    return func.julianday(column) - _UNIX_JULIAN_DAY


def _epoch_days(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp() / 86400.0


def lapse_candidates(
    session: Session, now: datetime, since: datetime, factor: float, min_customers: int
) -> list[int]:
    """Customers whose lapse point may lie in (since, now], in id order (step 1 above)."""
    span = IntervalStat.p75 * func.max(DueItem.last_quantity, 1) * factor
    if session.get_bind().dialect.name == "postgresql":
        span = IntervalStat.p75 * func.greatest(DueItem.last_quantity, 1) * factor
    last = _days(session, func.max(DueItem.last_purchased_at))  # one conversion per customer
    learned = and_(
        col(IntervalStat.product_id) == DueItem.product_id,
        col(IntervalStat.n) >= min_customers,
        col(IntervalStat.p75) > 0,
    )
    query = (
        select(DueItem.customer_id)
        .select_from(DueItem)
        .outerjoin(IntervalStat, learned)
        .group_by(col(DueItem.customer_id))
        .having(last + func.max(span) > _epoch_days(since))
        .having(last + func.min(span) <= _epoch_days(now))
        .order_by(col(DueItem.customer_id))
    )
    return list(core(session, query).scalars())


def lapse_points(
    session: Session, customer_ids: Sequence[int], factor: float
) -> dict[int, LapsePoint]:
    """Each customer's lapse point for their current cycle; absent when they cannot lapse."""
    orders: dict[int, set[int]] = defaultdict(set)
    containing: dict[tuple[int, int], set[int]] = defaultdict(set)
    lines = (
        select(  # type: ignore[call-overload, misc]  # sqlmodel types 4 columns at most
            Order.customer_id,
            Order.id,
            OrderLine.product_id,
            Order.cancelled_at,
            Order.financial_status,
            Order.test,
        )
        .join(OrderLine, col(OrderLine.order_id) == Order.id)
        .where(
            col(Order.customer_id).in_(customer_ids),
            col(OrderLine.product_id).is_not(None),
            col(OrderLine.quantity) > 0,
        )
    )
    for cid, order_id, product_id, cancelled_at, status, test in core(session, lines):
        if counts_for_intervals(cancelled_at, status, test):
            orders[cid].add(order_id)
            containing[(cid, product_id)].add(order_id)
    bought: dict[int, list[ReorderedProduct]] = defaultdict(list)
    rows = select(
        DueItem.customer_id, DueItem.product_id, DueItem.last_purchased_at, DueItem.last_quantity
    ).where(col(DueItem.customer_id).in_(customer_ids))
    for cid, product_id, last_at, quantity in core(session, rows):
        count = len(containing.get((cid, product_id), ()))
        bought[cid].append(ReorderedProduct(product_id, count, last_at, quantity))
    learned = load_learned(session, {p.product_id for ps in bought.values() for p in ps})
    settings = settings_of(session.exec(select(Shop)).first())
    points: dict[int, LapsePoint] = {}
    for cid, products in bought.items():
        anchor = max(p.last_purchased_at for p in products)  # the due cycle's anchor too
        point = lapse_point(cid, len(orders[cid]), anchor, products, learned, settings, factor)
        if point is not None:
            points[cid] = point
    return points


def _rows(
    ctx: ScanContext,
    points: dict[int, LapsePoint],
    wanted: dict[int, list[str]],
    summary: DispatchSummary,
) -> list[dict[str, Any]]:
    session, now = ctx.session, ctx.now
    build = sorted(wanted)
    entries = due_entries(session, build)
    ctx.load_catalog({e.product_id for rows in entries.values() for e in rows})
    snoozes = active_snoozes_for(session, build, now)
    people = recipients_of(session, build)
    links = active_links(session, [cid for cid in build if cid in people], now)
    rows: list[dict[str, Any]] = []
    for cid in build:
        person = people.get(cid)
        if person is None:
            continue
        held = snoozes.get(cid, {})
        listed = None if None in held else list_products(ctx, entries[cid], held)
        if listed is None:
            reason = SNOOZED if held else NOTHING_AVAILABLE
            for integration in wanted[cid]:
                summary.of(integration).skipped[reason] += 1
            continue
        point = points[cid]
        link_id, token = links[cid]
        key = cycle_key(LAPSE, cid, point.last_order_at)
        url = cart_url(token, ctx.public_url)
        products = [plain(product, PRODUCT_FIELDS) for product in listed.products]
        shown = plain(person, RECIPIENT_FIELDS)
        for integration in wanted[cid]:
            event = DueEvent(
                kind=LAPSE,
                idempotency_key=key,
                occurred_at=now,
                cart_url=f"{url}?ch={integration}",
                due_date=listed.due_date,
                products=tuple(listed.products),
                value_cents=listed.value_cents,
                currency=ctx.currency,
                recipient=person,
                days_since_last_order=point.days_since_last_order(now),
            )
            payload = {
                "event": event_json(event, products, shown),
                "cycle": point.last_order_at.isoformat(),
                "items": listed.items,
                "link_id": link_id,
            }
            reason = accepted(integration, person)
            rows.append(outbox_row(integration, LAPSE, cid, key, payload, now, reason))
    return rows


def scan_lapse(
    ctx: ScanContext,
    integrations: Sequence[str],
    since: datetime,
    factor: float,
    summary: DispatchSummary,
    *,
    commit: bool,
) -> None:
    """Queue About To Lapse for everyone whose lapse point passed in (since, now] and who has
    no row for this cycle yet; commits after each batch when `commit`."""
    session, now = ctx.session, ctx.now
    shop_settings = settings_of(session.exec(select(Shop)).first())
    ids = lapse_candidates(session, now, since, factor, shop_settings.min_reorder_customers)
    for start in range(0, len(ids), LAPSE_BATCH):
        batch = ids[start : start + LAPSE_BATCH]
        points = {
            cid: point
            for cid, point in lapse_points(session, batch, factor).items()
            if since < point.lapse_at <= now
        }
        keys = {cid: cycle_key(LAPSE, cid, point.last_order_at) for cid, point in points.items()}
        existing = existing_rows(session, integrations, keys.values())
        wanted = {
            cid: [i for i in integrations if (i, key) not in existing] for cid, key in keys.items()
        }
        wanted = {cid: names for cid, names in wanted.items() if names}
        if wanted:
            insert_rows(session, _rows(ctx, points, wanted, summary), summary)
        if commit:
            session.commit()
