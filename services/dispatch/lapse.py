"""The About To Lapse scan: repeat customers whose lapse point entered the scan's window →
outbox rows, once per lapse cycle (the rule: `services.engine.lapse`).

The recompute stores each customer's lapse point on the due row of the product that sets it
(`due_item.lapse_at`), so finding who lapsed in (since, now] is one range scan of
`ix_due_item_lapse_at`, like finding who became due; never a scan of orders or of all due rows.

The cycle is the customer's last purchase, the same anchor the Due event's key uses, so the key
is ``lapse-<customer>-<last purchase>``: a second scan finds the key and writes nothing, and a
new order starts a new cycle (its recompute moves the point, and delivery's re-check drops a
queued lapse row as `reordered`). The event lists what the cart pre-selects, like the Due
event, plus the days since that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from services.core.tables import DueItem
from services.dispatch.keys import cycle_key
from services.dispatch.listing import ScanContext, list_products
from services.dispatch.outbox import LAPSE, NOTHING_AVAILABLE, SNOOZED
from services.dispatch.rows import (
    audience_of,
    core,
    due_entries,
    moment_rows,
    queue_once_per_cycle,
)
from services.dispatch.summary import DispatchSummary

LAPSE_BATCH = 2000


def lapsed_between(session: Session, since: datetime, now: datetime) -> list[int]:
    """Customers whose stored lapse point lies in (since, now], in id order."""
    query = (
        select(DueItem.customer_id)
        .where(col(DueItem.lapse_at) > since, col(DueItem.lapse_at) <= now)
        .distinct()
    )
    return sorted(core(session, query).scalars())


def _rows(
    ctx: ScanContext,
    anchors: dict[int, datetime],
    wanted: dict[int, list[str]],
    summary: DispatchSummary,
) -> list[dict[str, Any]]:
    session, now = ctx.session, ctx.now
    build = sorted(wanted)
    entries = due_entries(session, build)
    ctx.load_catalog({e.product_id for rows in entries.values() for e in rows})
    batch = audience_of(ctx, build)
    rows: list[dict[str, Any]] = []
    for cid in build:
        person = batch.people.get(cid)
        if person is None:
            continue
        held = batch.snoozes.get(cid, {})
        listed = None if None in held else list_products(ctx, entries[cid], held)
        if listed is None:
            summary.skip(wanted[cid], SNOOZED if held else NOTHING_AVAILABLE)
            continue
        anchor = anchors[cid]
        rows += moment_rows(
            ctx,
            LAPSE,
            cid,
            cycle_key(LAPSE, cid, anchor),
            anchor,
            wanted[cid],
            listed,
            person,
            batch.links[cid],
            days_since_last_order=max(0, (now - anchor).days),
        )
    return rows


def scan_lapse(
    ctx: ScanContext,
    integrations: Sequence[str],
    since: datetime,
    summary: DispatchSummary,
    *,
    commit: bool,
) -> None:
    """Queue About To Lapse for everyone whose lapse point passed in (since, now] and who has
    no row for this cycle yet; commits after each batch when `commit`."""
    ids = lapsed_between(ctx.session, since, ctx.now)
    queue_once_per_cycle(
        ctx, LAPSE, ids, integrations, _rows, summary, batch=LAPSE_BATCH, commit=commit
    )
