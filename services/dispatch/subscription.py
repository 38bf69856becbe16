"""The Primed For Subscription scan: customers whose last order completed a steady run of one
product that has selling plans → outbox rows, one per such order (the rule:
`services.engine.subscription`).

Who bought a product in the scan's window is one range scan of `ix_due_item_last_purchased_at`
(a due row's last purchase is an order's time), narrowed to products with a selling plan; a
candidate counts when that purchase is their last, so the work is the rows of the window's
orders, never the store's. Only then are the candidates' orders of those products read, to
measure the cadence (at least three purchase days, gaps' coefficient of variation at most
0.25) and to leave out customers known to be subscribed (a line of the product bought with a
selling plan). The event names the product, the cadence (mean gap, in days) and the selling
plan whose interval is closest to it; when several products of the order qualify, the one
bought most often is offered.

The cycle is the customer's last purchase, the anchor the other Moments' keys use, so the key
is ``subscription-<customer>-<last purchase>``: a second scan writes nothing, a new order
starts a new cycle, and delivery's re-check drops a queued row once the customer ordered since
(`reordered`) or subscribed (`subscribed already`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, exists
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from services.core.tables import DueItem, Order, OrderLine, SellingPlan
from services.dispatch.keys import cycle_key, stamp
from services.dispatch.listing import ScanContext, list_offer
from services.dispatch.outbox import NOTHING_AVAILABLE, SNOOZED, SUBSCRIPTION
from services.dispatch.rows import (
    audience_of,
    core,
    last_purchase_within,
    moment_rows,
    queue_once_per_cycle,
)
from services.dispatch.summary import DispatchSummary
from services.engine import counts_for_intervals
from services.engine.subscription import closest_plan, steady_cadence
from services.messaging import SubscriptionOffer

SUBSCRIPTION_BATCH = 2000
_ID_CHUNK = 500
_HAS_PLAN = exists().where(col(SellingPlan.product_id) == col(DueItem.product_id))
_ORDERS: Table = Order.metadata.tables["orders"]
_LINES: Table = OrderLine.metadata.tables["order_line"]
_PLAN_COLUMNS = (
    SellingPlan.product_id,
    SellingPlan.shopify_gid,
    SellingPlan.name,
    SellingPlan.interval_unit,
    SellingPlan.interval_count,
    SellingPlan.interval_days,
    SellingPlan.adjustment_type,
    SellingPlan.adjustment_percent,
    SellingPlan.adjustment_cents,
)


def primed_between(session: Session, since: datetime, now: datetime) -> list[int]:
    """Customers whose last purchase lies in (since, now] and who bought a product that has a
    selling plan in that window, in id order (the range's index, then one index probe of the
    product's plans per row)."""
    query = (
        select(DueItem.customer_id)
        .where(
            col(DueItem.last_purchased_at) > since,
            col(DueItem.last_purchased_at) <= now,
            _HAS_PLAN,
        )
        .distinct()
    )
    return last_purchase_within(session, sorted(core(session, query).scalars()), since, now)


def _last_order_products(session: Session, anchors: dict[int, datetime]) -> dict[int, list[int]]:
    """Per customer, the products with a selling plan that their last order holds."""
    found: dict[int, list[int]] = defaultdict(list)
    query = select(DueItem.customer_id, DueItem.product_id, DueItem.last_purchased_at).where(
        col(DueItem.customer_id).in_(list(anchors)), _HAS_PLAN
    )
    for customer_id, product_id, purchased in core(session, query):
        if stamp(purchased) == stamp(anchors[customer_id]):
            found[customer_id].append(product_id)
    return found


def _histories(
    session: Session, wanted: dict[int, list[int]]
) -> tuple[dict[tuple[int, int], list[datetime]], set[tuple[int, int]]]:
    """The counted purchase times of each (customer, product), and the pairs already bought
    with a selling plan (in any order)."""
    times: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    subscribed: set[tuple[int, int]] = set()
    products = sorted({pid for pids in wanted.values() for pid in pids})
    query = (
        sa_select(
            _ORDERS.c.customer_id,
            _LINES.c.product_id,
            _ORDERS.c.processed_at,
            _ORDERS.c.cancelled_at,
            _ORDERS.c.financial_status,
            _ORDERS.c.test,
            _LINES.c.quantity,
            _LINES.c.selling_plan_gid,
        )
        .join(_LINES, _LINES.c.order_id == _ORDERS.c.id)
        .where(_ORDERS.c.customer_id.in_(list(wanted)), _LINES.c.product_id.in_(products))
    )
    for cid, pid, at, cancelled, status, test, quantity, plan in core(session, query):
        if pid not in wanted[cid]:
            continue
        if plan:
            subscribed.add((cid, pid))
        elif quantity and quantity > 0 and counts_for_intervals(cancelled, status, test):
            times[(cid, pid)].append(at)
    return times, subscribed


def _plans_of(session: Session, products: set[int]) -> dict[int, list[tuple[Any, ...]]]:
    plans: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    query = (
        select(*_PLAN_COLUMNS)  # type: ignore[call-overload]  # sqlmodel types <= 4 columns
        .where(col(SellingPlan.product_id).in_(sorted(products)))
        .order_by(col(SellingPlan.product_id), col(SellingPlan.position), col(SellingPlan.id))
    )
    for row in core(session, query):
        plans[row[0]].append(tuple(row))
    return plans


def primed_offers(
    session: Session, anchors: dict[int, datetime]
) -> dict[int, tuple[int, SubscriptionOffer]]:
    """Per customer primed by their last order: the product and the subscription offered."""
    products = _last_order_products(session, anchors)
    times, subscribed = _histories(session, products)
    chosen: dict[int, tuple[int, float]] = {}
    for cid, pids in products.items():
        steady = [
            (len(times[(cid, pid)]), -pid, cadence)
            for pid in pids
            if (cid, pid) not in subscribed
            and (cadence := steady_cadence(times[(cid, pid)])) is not None
        ]
        if steady:
            _count, negative_pid, cadence = max(steady)
            chosen[cid] = (-negative_pid, cadence)
    plans = _plans_of(session, {pid for pid, _ in chosen.values()})
    offers: dict[int, tuple[int, SubscriptionOffer]] = {}
    for cid, (pid, cadence) in chosen.items():
        plan = closest_plan(plans[pid], cadence, lambda row: row[5])
        if plan is None:
            continue
        _pid, gid, name, unit, count, days, kind, percent, cents = plan
        offers[cid] = (
            pid,
            SubscriptionOffer(
                cadence_days=cadence,
                plan_gid=gid,
                plan_name=name,
                interval_unit=unit,
                interval_count=count,
                interval_days=days,
                adjustment_type=kind,
                adjustment_percent=percent,
                adjustment_cents=cents,
            ),
        )
    return offers


def _rows(
    ctx: ScanContext,
    anchors: dict[int, datetime],
    wanted: dict[int, list[str]],
    summary: DispatchSummary,
) -> list[dict[str, Any]]:
    session = ctx.session
    offers = primed_offers(session, {cid: anchors[cid] for cid in wanted})
    build = sorted(offers)
    ctx.load_catalog({pid for pid, _ in offers.values()})
    batch = audience_of(ctx, build)
    rows: list[dict[str, Any]] = []
    for cid in build:
        person = batch.people.get(cid)
        if person is None:
            continue
        product_id, offer = offers[cid]
        listed = list_offer(ctx, product_id)
        held = batch.snoozes.get(cid, {})
        if listed is None or None in held or product_id in held:
            summary.skip(wanted[cid], NOTHING_AVAILABLE if listed is None else SNOOZED)
            continue
        anchor = anchors[cid]
        rows += moment_rows(
            ctx,
            SUBSCRIPTION,
            cid,
            cycle_key(SUBSCRIPTION, cid, anchor),
            anchor,
            wanted[cid],
            listed,
            person,
            batch.links[cid],
            pick=product_id,
            subscription=offer,
        )
    return rows


def scan_subscription(
    ctx: ScanContext,
    integrations: Sequence[str],
    since: datetime,
    summary: DispatchSummary,
    *,
    commit: bool,
) -> None:
    """Queue Primed For Subscription for everyone whose last order, in (since, now], completed
    a steady run of a product with selling plans, and who has no row for this order yet;
    commits after each batch when `commit`."""
    ids = primed_between(ctx.session, since, ctx.now)
    queue_once_per_cycle(
        ctx,
        SUBSCRIPTION,
        ids,
        integrations,
        _rows,
        summary,
        batch=SUBSCRIPTION_BATCH,
        commit=commit,
    )


def forecast_primed(session: Session, start: datetime, end: datetime) -> int:
    """How many customers would be primed if they reorder a product with selling plans on its
    due date in [start, end): their purchases plus that one make a steady run, and they are
    not subscribed to it (for the Insights page; due rows of the window, never all)."""
    query = select(DueItem.customer_id, DueItem.product_id, DueItem.due_at).where(
        col(DueItem.due_at) >= start, col(DueItem.due_at) < end, _HAS_PLAN
    )
    due: dict[int, dict[int, datetime]] = defaultdict(dict)
    for customer_id, product_id, due_at in core(session, query):
        due[customer_id][product_id] = due_at
    primed = 0
    ids = sorted(due)
    for begin in range(0, len(ids), _ID_CHUNK):
        chunk = {cid: list(due[cid]) for cid in ids[begin : begin + _ID_CHUNK]}
        times, subscribed = _histories(session, chunk)
        primed += sum(
            1
            for cid, pids in chunk.items()
            if any(
                (cid, pid) not in subscribed
                and steady_cadence([*times[(cid, pid)], due[cid][pid]]) is not None
                for pid in pids
            )
        )
    return primed
