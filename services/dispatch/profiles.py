"""Klaviyo profile properties kept current: due or not, what is due, the cart link.

Each run works out what every profile in its window should say (the same listing a Due event
would carry: the cart's pre-selected due items minus snoozed ones), hashes it, and sends only
the profiles whose hash differs from the one Klaviyo last accepted, in bulk import jobs. The
hash is stored only after Klaviyo answered 202 for the job that carried it, so a crash, a 5xx or
a 429 that outlasts the retries loses nothing: the next run finds the same difference and sends
it again (an import is an upsert, so sending twice is harmless).

A run looks at everyone once a day (`FULL_EVERY`: a product out of stock, a snooze, the clock
passing a due date); between those it looks only at customers whose due rows were recomputed,
who became due, whose snooze started or ended, or whose cart link changed since the last run.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from services.cart.links import cart_url, get_or_create_link
from services.cart.page import DUE_ENTRY_COLUMNS
from services.cart.snoozes import active_snoozes_for
from services.core.clock import utcnow
from services.core.config import Settings
from services.core.db import get_engine
from services.core.logs import log_fields
from services.core.provider_http import ProviderError
from services.core.shutdown import stop_requested
from services.core.tables import CartLink, Customer, DueItem, ProfileFingerprint, Snooze, SyncState
from services.dispatch.listing import ScanContext, list_products
from services.dispatch.payloads import recipient
from services.dispatch.stops import record_auth_failure, refused_error
from services.engine import DueEntry
from services.messaging import KlaviyoClient, Recipient, provider
from services.messaging.klaviyo_profiles import (
    ProfileProduct,
    ProfileState,
    bulk_import_body,
    fingerprint,
    profile_entry,
    profile_fits,
    split_jobs,
)

__all__ = ["INTEGRATION", "ProfileSummary", "run_profile_sync", "sync_profiles"]

log = logging.getLogger("repeatcart.dispatch")

INTEGRATION = "klaviyo"
BATCH = 2000
FULL_EVERY = timedelta(days=1)
MAX_REFUSED = 20  # refused profiles in one run before the refusal is taken as a bad request
OVERLAP = timedelta(hours=1)  # transactions that committed late, as the due scan allows
_STATE = "klaviyo-profiles"  # SyncState row: the last complete run's time and full sweep's

Change = tuple[tuple[int, str], dict[str, Any]]  # ((customer id, fingerprint), profile entry)


@dataclass
class ProfileSummary:
    """What one run did (or, dry, would do)."""

    dry_run: bool = False
    full: bool = False
    looked: int = 0
    unchanged: int = 0
    no_identifier: int = 0
    sent: int = 0
    jobs: int = 0
    refused: int = 0  # profiles Klaviyo refused as invalid, set aside until they change
    too_large: int = 0  # profiles over Klaviyo's size for one, never sent
    skipped: str = ""  # why nothing ran
    failure: ProviderError | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)  # the jobs a dry run would send

    def line(self) -> str:
        if self.skipped:
            return f"klaviyo profiles: not run ({self.skipped})"
        verb = "would send" if self.dry_run else "sent"
        text = (
            f"klaviyo profiles: {verb} {self.sent} in {self.jobs} job(s), "
            f"{self.unchanged} unchanged, {self.no_identifier} without identifier, "
            f"{self.looked} looked at ({'full' if self.full else 'changes only'})"
        )
        if self.refused or self.too_large:
            text += f"; {self.refused} refused as invalid, {self.too_large} too large to send"
        if self.failure is not None:
            text += f"; stopped: {self.failure}"
        return text


def _core(session: Session, statement: Any) -> Any:
    return session.connection().execute(statement)


def _window(session: Session, now: datetime, full: bool | None) -> tuple[datetime | None, bool]:
    """Since when to look (None: everyone), and whether this run is a full sweep."""
    state = session.get(SyncState, _STATE)
    cursor = state.cursor if state is not None else None
    info = dict(state.last_summary or {}) if state is not None else {}
    full_at = datetime.fromisoformat(info["full_at"]) if info.get("full_at") else None
    if full is None:
        full = cursor is None or full_at is None or cursor > now or now - full_at >= FULL_EVERY
    if full or cursor is None:
        return None, True
    return cursor - OVERLAP, False


def _save_window(session: Session, now: datetime, full: bool) -> None:
    state = session.get(SyncState, _STATE) or SyncState(name=_STATE)
    info = dict(state.last_summary or {})
    if full:
        info["full_at"] = now.isoformat()
    state.cursor = now
    state.last_finished_at = now
    state.last_status = "ok"
    state.last_summary = info
    session.add(state)
    session.flush()


def customers_to_check(session: Session, now: datetime, since: datetime | None) -> list[int]:
    """Customers whose profile to work out: everyone with a cart link, who is due, or whose
    profile Klaviyo holds; or, since a time, only those whose answer may have changed."""
    live = col(CartLink.revoked_at).is_(None)
    if since is None:
        queries: list[Any] = [
            select(CartLink.customer_id).where(live),
            select(DueItem.customer_id).where(DueItem.remind_at <= now),
            select(ProfileFingerprint.customer_id).where(
                ProfileFingerprint.integration == INTEGRATION
            ),
        ]
    else:
        queries = [
            select(DueItem.customer_id).where(DueItem.computed_at > since),
            select(DueItem.customer_id).where(DueItem.remind_at > since, DueItem.remind_at <= now),
            select(Snooze.customer_id).where(Snooze.until > since, Snooze.until <= now),
            select(Snooze.customer_id).where(Snooze.created_at > since),
            select(CartLink.customer_id).where(CartLink.created_at > since),
            select(CartLink.customer_id).where(col(CartLink.revoked_at) > since),
        ]
    found: set[int] = set()
    for query in queries:
        # no DISTINCT: SQLite would read a whole customer-ordered index for it instead of the
        # time range; the set removes the repeats
        found.update(_core(session, query).scalars())
    return sorted(found)


def _entries(session: Session, ids: Sequence[int]) -> dict[int, list[DueEntry]]:
    entries: dict[int, list[DueEntry]] = defaultdict(list)
    query = select(*DUE_ENTRY_COLUMNS)  # type: ignore[call-overload]  # sqlmodel types <= 4 columns
    for row in _core(session, query.where(col(DueItem.customer_id).in_(ids))):
        entries[row[0]].append(DueEntry(*row))
    return entries


def _people(session: Session, ids: Sequence[int]) -> dict[int, Recipient]:
    query = select(Customer.id, Customer.email, Customer.phone, Customer.shopify_gid).where(
        col(Customer.id).in_(ids)
    )
    return {row[0]: recipient(row) for row in _core(session, query)}


def _tokens(session: Session, ids: Sequence[int]) -> dict[int, str]:
    query = select(CartLink.customer_id, CartLink.token).where(
        col(CartLink.customer_id).in_(ids), col(CartLink.revoked_at).is_(None)
    )
    return dict(_core(session, query).all())


def _states(ctx: ScanContext, ids: Sequence[int]) -> Iterator[tuple[int, ProfileState]]:
    """What each customer's profile should say now. A due customer without a live link is
    given one (as the due scan does), so their profile can point at their cart."""
    session, now = ctx.session, ctx.now
    entries = _entries(session, ids)
    people = _people(session, ids)
    due = [c for c in ids if c in people and any(e.is_due(now) for e in entries.get(c, ()))]
    tokens = _tokens(session, ids)
    for cid in due:
        if cid not in tokens:
            tokens[cid] = get_or_create_link(session, cid, now).token
    ctx.load_catalog({e.product_id for cid in due for e in entries[cid]})
    ctx.look_up_plans({e.product_id for rows in entries.values() for e in rows})
    snoozes = active_snoozes_for(session, due, now)
    due_now = set(due)
    for cid in ids:
        person = people.get(cid)
        if person is None:  # erased meanwhile
            continue
        products: tuple[ProfileProduct, ...] = ()
        snoozed = snoozes.get(cid, {})
        if cid in due_now and None not in snoozed:
            listed = list_products(ctx, entries[cid], snoozed)
            if listed is not None:
                products = tuple(
                    ProfileProduct(
                        title=product.title,
                        variant=product.variant_title,
                        quantity=int(item["quantity"]),
                        image_url=product.image_url,
                        price_cents=product.price_cents,
                    )
                    for product, item in zip(listed.products, listed.items, strict=True)
                )
        token = tokens.get(cid)
        url = cart_url(token, ctx.public_url, channel=INTEGRATION) if token else None
        subscription: str | None = None
        if token and ctx.sells_plans:  # a shop without plans never sends the property
            subscription = ""
            if ctx.subscribable(entries.get(cid, ())):
                subscription = cart_url(
                    token, ctx.public_url, channel=INTEGRATION, subscription=True
                )
        yield cid, ProfileState(person, url, products, subscription)


def _accepted(session: Session, ids: Sequence[int]) -> dict[int, str]:
    query = select(ProfileFingerprint.customer_id, ProfileFingerprint.fingerprint).where(
        ProfileFingerprint.integration == INTEGRATION,
        col(ProfileFingerprint.customer_id).in_(ids),
    )
    return dict(_core(session, query).all())


def _changes(
    ctx: ScanContext, ids: Sequence[int], summary: ProfileSummary, commit: bool
) -> Iterator[Change]:
    """The profiles that differ from what Klaviyo accepted, batch by batch."""
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        known = _accepted(ctx.session, batch)
        changed: list[Change] = []
        for cid, state in _states(ctx, batch):
            summary.looked += 1
            entry = profile_entry(state)
            if entry is None:
                summary.no_identifier += 1
                continue
            digest = fingerprint(entry)
            if known.get(cid) == digest:
                summary.unchanged += 1
                continue
            if not profile_fits(entry):
                summary.too_large += 1
                log.warning("customer %s's Klaviyo profile is over Klaviyo's 100 KB: not sent", cid)
                continue
            changed.append(((cid, digest), entry))
        if commit:  # links made for this batch exist before their URLs leave
            ctx.session.commit()
        yield from changed


def _remember(session: Session, keys: Sequence[tuple[int, str]], now: datetime) -> None:
    """Upsert the fingerprints Klaviyo just accepted."""
    table = ProfileFingerprint.__table__  # type: ignore[attr-defined]
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=["customer_id", "integration"],
        set_={
            "fingerprint": insert.excluded.fingerprint,
            "accepted_at": insert.excluded.accepted_at,
        },
    )
    rows = [
        {"customer_id": cid, "integration": INTEGRATION, "fingerprint": digest, "accepted_at": now}
        for cid, digest in keys
    ]
    session.connection().execute(statement, rows)


def _send(
    session: Session,
    client: KlaviyoClient | None,
    changes: Iterator[Change],
    summary: ProfileSummary,
    now: datetime,
) -> bool:
    """Send the changes job by job; True when every job was accepted. Dry (no client): keep
    the bodies, remember nothing. A stop request ends the run between jobs (False: the next
    run sends what was not accepted)."""
    for job in split_jobs(changes):
        if stop_requested():
            return False
        if client is None:
            summary.bodies.append(bulk_import_body([entry for _key, entry in job]))
            summary.sent += len(job)
            summary.jobs += 1
        elif not _import(session, client, job, summary, now):
            return False
    return True


def _import(
    session: Session,
    client: KlaviyoClient,
    job: Sequence[Change],
    summary: ProfileSummary,
    now: datetime,
) -> bool:
    """Send one job and remember what Klaviyo accepted; False stops the run (`failure`).

    A job refused as invalid (a 4xx other than a refused key or a rate limit) is split in
    halves until each refused profile is alone, so one bad profile never holds back the others.
    A refused profile is logged, counted and remembered like an accepted one: it is tried again
    only once what it says changes. Past `MAX_REFUSED` in one run the refusal is not one bad
    profile but a bad request, and the run stops with it.
    """
    try:
        client.import_profiles([entry for _key, entry in job])
    except ProviderError as exc:
        if not _invalid(exc) or summary.refused >= MAX_REFUSED:
            summary.failure = exc
            return False
        if len(job) == 1:
            (cid, _digest), _entry = job[0]
            summary.refused += 1
            log.warning("Klaviyo refused customer %s's profile: %s", cid, exc)
        else:
            half = len(job) // 2
            return _import(session, client, job[:half], summary, now) and _import(
                session, client, job[half:], summary, now
            )
    else:
        summary.sent += len(job)
        summary.jobs += 1
    _remember(session, [key for key, _entry in job], now)
    session.commit()
    return True


def _invalid(error: ProviderError) -> bool:
    """A refusal of what was sent (400, 409, 413, 422), not of the key or the rate."""
    return (
        error.status is not None
        and 400 <= error.status < 500
        and error.status
        not in (
            401,
            403,
            408,
            429,
        )
    )


def sync_profiles(
    settings: Settings,
    now: datetime | None = None,
    *,
    client: KlaviyoClient | None = None,
    full: bool | None = None,
    dry_run: bool = False,
) -> ProfileSummary:
    """Bring Klaviyo profiles up to date (see the module); `full` None lets the run decide.
    `dry_run` sends nothing and writes nothing: `bodies` holds the jobs it would send."""
    now = now or utcnow()
    summary = ProfileSummary(dry_run=dry_run)
    klaviyo = provider(INTEGRATION)
    if not klaviyo.enabled(settings):
        summary.skipped = "Klaviyo is switched off or has no key"
        return summary
    own = client is None and not dry_run
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        refused = refused_error(session, INTEGRATION, klaviyo.api_key(settings))
        if refused is not None:
            summary.skipped = f"key refused: {refused}"
            return summary
        since, summary.full = _window(session, now, full)
        ids = customers_to_check(session, now, since)
        ctx = ScanContext(session, settings, now)
        if own:
            built = klaviyo.build(settings)
            if not isinstance(built, KlaviyoClient):
                raise TypeError(f"the {INTEGRATION} provider built {type(built).__name__}")
            client = built
        try:
            changes = _changes(ctx, ids, summary, commit=not dry_run)
            done = _send(session, None if dry_run else client, changes, summary, now)
            if dry_run:
                session.rollback()
            elif summary.failure is not None and summary.failure.auth_failed:
                # as delivery does: the integration stops until its key changes
                record_auth_failure(
                    session, INTEGRATION, klaviyo.api_key(settings), summary.failure
                )
                session.commit()
            elif done:
                _save_window(session, now, summary.full)
                session.commit()
        finally:
            if own and client is not None:
                client.close()
    return summary


def run_profile_sync(settings: Settings, **options: Any) -> ProfileSummary:
    """The worker's job: one run, one structured log line; a provider's refusal is raised
    after the log, so the job is reported as failed (and what was accepted is kept)."""
    started = time.perf_counter()
    summary = sync_profiles(settings, **options)
    log.info(
        "%s",
        summary.line(),
        extra=log_fields(
            run="klaviyo profiles",
            ms=round((time.perf_counter() - started) * 1000),
            sent=summary.sent,
            jobs=summary.jobs,
        ),
    )
    if summary.failure is not None:
        raise summary.failure
    return summary
