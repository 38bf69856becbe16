"""The Primed For Cross-sell scan: customers whose last order is N days old → outbox rows, one
per order that primes them (the rule: `services.engine.cross_sell`).

Who ordered N days ago is one range scan of `ix_due_item_last_purchased_at` (a due row's last
purchase is an order's time), shifted by N: rows whose purchase lies in (since − N, now − N]
name the candidates, and a candidate counts when that purchase is their last, so the work is
the rows of a day's orders, never the store's. The offer is chosen at scan time from the pairs
the nightly recompute learned and the merchant's pins, so a pin saved today applies tomorrow
morning, and a customer who bought the product (in any order, even one not counted for
intervals) is never offered it.

The cycle is the customer's last purchase, the anchor the Due and About To Lapse keys use, so
the key is ``cross_sell-<customer>-<last purchase>``: a second scan writes nothing, a new order
primes a new offer, and delivery's re-check drops a queued row once the customer ordered since
(`reordered`) or bought the product (`bought the product`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from services.core.tables import CrossSellPair, CrossSellPin, DueItem, Order, OrderLine
from services.dispatch.keys import cycle_key
from services.dispatch.listing import ScanContext, list_offer
from services.dispatch.outbox import CROSS_SELL, NO_OFFER, NOTHING_AVAILABLE, SNOOZED
from services.dispatch.rows import (
    audience_of,
    core,
    last_purchase_within,
    moment_rows,
    queue_once_per_cycle,
)
from services.dispatch.summary import DispatchSummary
from services.engine import CrossSellPair as LearnedPair
from services.engine import cross_sell_candidates

CROSS_SELL_BATCH = 2000
_PAIRS: Table = CrossSellPair.metadata.tables["cross_sell_pair"]
_ID_CHUNK = 500


def primed_between(session: Session, since: datetime, now: datetime, days: int) -> list[int]:
    """Customers whose last purchase lies in (since − days, now − days], in id order."""
    low, high = since - timedelta(days=days), now - timedelta(days=days)
    query = (
        select(DueItem.customer_id)
        .where(col(DueItem.last_purchased_at) > low, col(DueItem.last_purchased_at) <= high)
        .distinct()
    )
    return last_purchase_within(session, sorted(core(session, query).scalars()), low, high)


def bought_products(session: Session, customer_ids: Sequence[int]) -> dict[int, set[int]]:
    """Every product each customer has an order line of, whatever became of the order."""
    bought: dict[int, set[int]] = defaultdict(set)
    query = (
        select(Order.customer_id, OrderLine.product_id)
        .join(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .where(col(Order.customer_id).in_(customer_ids), col(OrderLine.product_id).is_not(None))
        .distinct()
    )
    for customer_id, product_id in core(session, query):
        bought[customer_id].add(product_id)
    return bought


def partners_of(
    session: Session, product_ids: set[int]
) -> tuple[dict[int, list[LearnedPair]], dict[int, int]]:
    """The learned partners and the pinned partner of each of these products."""
    learned: dict[int, list[LearnedPair]] = defaultdict(list)
    pins: dict[int, int] = {}
    ids = sorted(product_ids)
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        pairs = sa_select(
            _PAIRS.c.product_id,
            _PAIRS.c.paired_product_id,
            _PAIRS.c.rank,
            _PAIRS.c.lift,
            _PAIRS.c.support,
        ).where(_PAIRS.c.product_id.in_(chunk))
        for row in core(session, pairs):
            learned[row[0]].append(LearnedPair(*row))
        pinned = select(CrossSellPin.product_id, CrossSellPin.paired_product_id).where(
            col(CrossSellPin.product_id).in_(chunk)
        )
        pins.update(dict(core(session, pinned).all()))
    return learned, pins


def _rows(
    ctx: ScanContext,
    anchors: dict[int, datetime],
    wanted: dict[int, list[str]],
    summary: DispatchSummary,
) -> list[dict[str, Any]]:
    session = ctx.session
    build = sorted(wanted)
    bought = bought_products(session, build)
    learned, pins = partners_of(session, set().union(*bought.values()) if bought else set())
    offers = {cid: cross_sell_candidates(bought[cid], learned, pins) for cid in build}
    ctx.load_catalog({pid for ranked in offers.values() for pid in ranked})
    batch = audience_of(ctx, build, linked={cid for cid in build if offers[cid]})
    rows: list[dict[str, Any]] = []
    for cid in build:
        person = batch.people.get(cid)
        if person is None:
            continue
        offer = next(
            ((pid, listed) for pid in offers[cid] if (listed := list_offer(ctx, pid)) is not None),
            None,
        )
        held = batch.snoozes.get(cid, {})
        if offer is None or None in held:
            reason = (
                NO_OFFER if not offers[cid] else NOTHING_AVAILABLE if offer is None else SNOOZED
            )
            summary.skip(wanted[cid], reason)
            continue
        product_id, listed = offer
        anchor = anchors[cid]
        rows += moment_rows(
            ctx,
            CROSS_SELL,
            cid,
            cycle_key(CROSS_SELL, cid, anchor),
            anchor,
            wanted[cid],
            listed,
            person,
            batch.links[cid],
            pick=product_id,
        )
    return rows


def scan_cross_sell(
    ctx: ScanContext,
    integrations: Sequence[str],
    since: datetime,
    days: int,
    summary: DispatchSummary,
    *,
    commit: bool,
) -> None:
    """Queue Primed For Cross-sell for everyone whose last order turned `days` old in
    (since, now] and who has no row for this order yet; commits after each batch when
    `commit`."""
    ids = primed_between(ctx.session, since, ctx.now, days)
    queue_once_per_cycle(
        ctx, CROSS_SELL, ids, integrations, _rows, summary, batch=CROSS_SELL_BATCH, commit=commit
    )
