"""The due scan: who became due, late or un-snoozed → outbox rows, never a message sent.

Index range queries find who became due (`remind_at`), late (`late_at`) or whose snooze ended
since the last scan; every `FULL_SCAN_EVERY`, when the integrations change, and from the CLI, a
full sweep looks again at the whole `due_lookback_days` window (catching rows a recompute moved
back in time, a product back in stock, a newly enabled integration). Never a scan of orders or
of all due rows; a customer due longer ago than the lookback is not messaged.

Per batch of customers it computes the keys, drops those already in the outbox, and builds the
rest: what the event lists (see `listing`). A whole-cart snooze or nothing left writes no row
(the summary counts why; the customer is looked at again when the snooze ends). A customer with
no identifier an integration accepts gets a `skipped` row with the reason, so the merchant sees
it. A Late event follows once the Due event of the same cycle was *sent* to that integration and
a listed product's late point (P75) passed after it; a customer already late when reminded gets
the Due event alone. Rows are inserted with ON CONFLICT DO NOTHING, so concurrent scans are
harmless. Cart links are pushed to the providers with a profile, once per link.
About To Lapse rows are written the same way, from the lapse points the recompute stores
(`lapse`), Primed For Cross-sell rows from the orders that turned N days old
(`cross_sell`), and Primed For Subscription rows from the orders that completed a steady run of
a product with selling plans (`subscription`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.cart.links import cart_url
from services.core.config import Settings
from services.core.moments import MOMENTS
from services.core.tables import CartLink, DueItem, Snooze, SyncState
from services.discounts.codes import attach_codes
from services.dispatch.cross_sell import scan_cross_sell
from services.dispatch.keys import cart_url_key, cycle_key
from services.dispatch.lapse import scan_lapse
from services.dispatch.listing import ScanContext, list_products
from services.dispatch.outbox import (
    CART_URL,
    DUE_KINDS,
    NOTHING_AVAILABLE,
    SENT,
    SNOOZED,
)
from services.dispatch.payloads import (
    RECIPIENT_FIELDS,
    plain,
)
from services.dispatch.rows import (
    accepted,
    audience_of,
    core,
    due_entries,
    existing_rows,
    insert_rows,
    moment_rows,
    outbox_row,
    recipients_of,
)
from services.dispatch.subscription import scan_subscription
from services.dispatch.summary import DispatchSummary
from services.engine import DueEntry
from services.messaging import Recipient, enabled_providers, provider

SCAN_BATCH = 2000
LINK_BATCH = 1000
FULL_SCAN_EVERY = timedelta(hours=6)
SCAN_OVERLAP = timedelta(hours=1)
_LINK_SETTLE = timedelta(minutes=10)  # a link this young may still have lower-id siblings
_CART_URL_STATE = "cart-urls"  # SyncState row: per integration, the link id pushed up to
_SCAN_STATE = "due-scan"  # SyncState row: the last scan's time and the last full sweep's


def enabled_integrations(settings: Settings) -> list[str]:
    """Integrations whose API key is set and that are switched on, in a fixed order. One
    switched off gets nothing queued, so turning it back on does not release a backlog."""
    return [p.name for p in enabled_providers(settings)]


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
        for customer_id in core(session, query.distinct()).scalars():
            found[customer_id].add(why)
    return found


@dataclass(slots=True)
class _Wanted:
    """Per customer of a batch: the cycle's anchor and keys, the integrations that want its Due
    and its Late event, and when each integration was sent the Due event."""

    anchors: dict[int, datetime]
    keys: dict[int, dict[str, str]]
    kinds: dict[int, dict[str, list[str]]]
    sent: dict[int, dict[str, datetime | None]]


def _wanted(
    session: Session, customers: dict[int, set[str]], integrations: Sequence[str]
) -> _Wanted:
    """Due: not yet queued, for who became due (or un-snoozed) within the window. Late: the Due
    event of this cycle was sent, and a late point (P75) entered the window since."""
    anchors: dict[int, datetime] = dict(
        core(
            session,
            select(DueItem.customer_id, func.max(DueItem.last_purchased_at))
            .where(col(DueItem.customer_id).in_(sorted(customers)))
            .group_by(col(DueItem.customer_id)),
        ).all()
    )
    keys: dict[int, dict[str, str]] = {
        cid: {kind: cycle_key(kind, cid, anchor) for kind in DUE_KINDS}
        for cid, anchor in anchors.items()
    }
    every_key = (k for ks in keys.values() for k in ks.values())
    existing = existing_rows(session, integrations, every_key)
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
    return _Wanted(anchors, keys, wanted, sent)


def _event_rows(
    ctx: ScanContext,
    cid: int,
    want: _Wanted,
    entries: list[DueEntry],
    snoozes: dict[int | None, datetime],
    person: Recipient,
    link: tuple[int, str],
    summary: DispatchSummary,
) -> list[dict[str, Any]]:
    """One customer's Due and Late rows, per integration that wants them."""
    now = ctx.now
    kinds = want.kinds[cid]
    targets = set(kinds["due"]) | set(kinds["late"])
    if None in snoozes:
        summary.skip(targets, SNOOZED)
        return []
    listed = list_products(ctx, entries, snoozes)
    if listed is None:
        summary.skip(targets, SNOOZED if snoozes else NOTHING_AVAILABLE)
        return []
    rows: list[dict[str, Any]] = []
    for kind in DUE_KINDS:
        integrations = [
            integration
            for integration in kinds[kind]
            if kind != "late" or listed.late_since(want.sent[cid][integration], now)
        ]
        rows += moment_rows(
            ctx,
            kind,
            cid,
            want.keys[cid][kind],
            want.anchors[cid],
            integrations,
            listed,
            person,
            link,
            subscription_link=ctx.subscribable(entries),
        )
    return rows


def _scan_batch(
    ctx: ScanContext,
    customers: dict[int, set[str]],
    integrations: Sequence[str],
    summary: DispatchSummary,
) -> None:
    session, now = ctx.session, ctx.now
    want = _wanted(session, customers, integrations)
    if not want.kinds:
        return
    entries = due_entries(session, sorted(want.kinds))
    for cid, kinds in list(want.kinds.items()):
        if kinds["late"] and not kinds["due"]:
            # cheap first look: no due product turned late since the Due event went out
            first = min((t for t in want.sent[cid].values() if t is not None), default=now)
            if not any(e.is_due(now) and first < e.late_at <= now for e in entries[cid]):
                del want.kinds[cid]
    if not want.kinds:
        return
    build = sorted(want.kinds)
    ctx.load_catalog({e.product_id for rows in entries.values() for e in rows})
    batch = audience_of(ctx, build)
    rows: list[dict[str, Any]] = []
    for cid in build:
        if cid in batch.people:
            held, person, link = batch.snoozes.get(cid, {}), batch.people[cid], batch.links[cid]
            rows += _event_rows(ctx, cid, want, entries[cid], held, person, link, summary)
    if ctx.settings.unique_codes:
        # one read and one insert for the batch; Shopify is the `unique-codes` job's
        attach_codes(session, rows, want.anchors, ctx.settings.unique_code_prefix, now)
    insert_rows(session, rows, summary)


def _scan_cart_links(
    ctx: ScanContext, integrations: Sequence[str], summary: DispatchSummary, commit: bool
) -> None:
    """Queue a profile update for every live cart link not yet queued, per integration.

    Links only ever get new ids (rotating makes a new row), so each integration keeps the id up
    to which every link was queued (in `sync_state` 'cart-urls'); each scan reads only newer
    links, in id order and batches, and stops advancing the mark at a link younger than
    `_LINK_SETTLE` (a PostgreSQL sequence can hand out ids that commit out of order).
    """
    session, now = ctx.session, ctx.now
    targets = [name for name in integrations if provider(name).writes_profile]
    if not targets:
        return
    state = session.get(SyncState, _CART_URL_STATE)
    marks: dict[str, int] = {name: 0 for name in targets}
    if state is not None:
        marks.update({k: int(v) for k, v in (state.last_summary or {}).items() if k in marks})
    after = min(marks.values())
    settled = dict.fromkeys(targets, True)
    while True:
        links = core(
            session,
            select(CartLink.id, CartLink.customer_id, CartLink.token, CartLink.created_at)
            .where(col(CartLink.id) > after, col(CartLink.revoked_at).is_(None))
            .order_by(col(CartLink.id))
            .limit(LINK_BATCH),
        ).all()
        if not links:
            break
        keys = {link_id: cart_url_key(cid, link_id) for link_id, cid, _t, _c in links}
        existing = existing_rows(session, targets, keys.values())
        needed = [
            (link_id, cid, token)
            for link_id, cid, token, _created in links
            if any(
                marks[name] < link_id and (name, keys[link_id]) not in existing for name in targets
            )
        ]
        people = recipients_of(session, {cid for _l, cid, _t in needed}) if needed else {}
        rows = []
        for link_id, cid, token in needed:
            person = people.get(cid)
            if person is None:
                continue
            for name in targets:
                if marks[name] >= link_id or (name, keys[link_id]) in existing:
                    continue
                payload = {
                    "recipient": plain(person, RECIPIENT_FIELDS),
                    "cart_url": cart_url(token, ctx.public_url, channel=name),
                    "link_id": link_id,
                }
                reason = accepted(name, person)
                rows.append(outbox_row(name, CART_URL, cid, keys[link_id], payload, now, reason))
        insert_rows(session, rows, summary)
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


def _switches(settings: Settings, integrations: Sequence[str]) -> list[str]:
    """What a full sweep depends on: the integrations, and each Moment switched off for one
    (`klaviyo -lapse`). A change means something may now be wanted that a tick would miss."""
    off = [
        f"{name} -{kind}"
        for name in integrations
        for kind in MOMENTS
        if not provider(name).sends(settings, kind)
    ]
    return sorted([*integrations, *off])


def _window(
    session: Session,
    switches: Sequence[str],
    now: datetime,
    lookback: timedelta,
    full: bool | None,
) -> tuple[datetime, bool]:
    """Where this scan starts looking, and whether it is a full sweep of the lookback window.

    A tick only needs what became due, late or un-snoozed since the last scan (with an hour of
    overlap for transactions that committed late); a full sweep catches the rest (rows a
    recompute moved back in time, a product back in stock, a new email address, a newly enabled
    integration) and runs when asked, every `FULL_SCAN_EVERY`, or when the integrations or their
    Moment switches changed.
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
            or sorted(info.get("integrations") or []) != sorted(switches)
        )
    if full or cursor is None or cursor > now:
        return earliest, True
    return max(earliest, cursor - SCAN_OVERLAP), False


def _save_window(session: Session, switches: Sequence[str], now: datetime, full: bool) -> None:
    state = session.get(SyncState, _SCAN_STATE) or SyncState(name=_SCAN_STATE)
    info = dict(state.last_summary or {})
    if full:
        info.update(full_at=now.isoformat(), integrations=sorted(switches))
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
    ctx = ScanContext(session, settings, now)
    lookback = timedelta(days=settings.due_lookback_days)
    switches = _switches(settings, integrations)
    since, full = _window(session, switches, now, lookback, full)
    candidates = _candidates(session, now, since)
    ids = sorted(candidates)
    for start in range(0, len(ids), SCAN_BATCH):
        batch = {cid: candidates[cid] for cid in ids[start : start + SCAN_BATCH]}
        _scan_batch(ctx, batch, integrations, summary)
        if commit:
            session.commit()
    scan_lapse(ctx, integrations, since, summary, commit=commit)
    scan_cross_sell(ctx, integrations, since, settings.cross_sell_days, summary, commit=commit)
    scan_subscription(ctx, integrations, since, summary, commit=commit)
    _scan_cart_links(ctx, integrations, summary, commit)
    _save_window(session, switches, now, full)
    if commit:
        session.commit()
    return summary
