"""The background jobs and the `repeatcart worker` process that runs them with APScheduler.

Every job runs under a database lease, so two worker processes (or the web process with
`REPEATCART_EMBEDDED_WORKER=1` beside a worker) never run the same job at once, and each run
writes one structured log line saying what happened. Only the process holding the scheduler
lease schedules, so with several web workers or workers each job still runs once per interval.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from services.auth.admins import purge_stale
from services.core.clock import utcnow
from services.core.config import Settings, get_settings
from services.core.db import session_scope
from services.core.leases import Lease, LeaseLost, held, lease
from services.core.logs import log_fields
from services.core.provider_http import ProviderError
from services.core.shutdown import Stopping, stop_on_signals
from services.discounts.creation import create_pending_codes
from services.dispatch import run_delivery, run_profile_sync, run_scan
from services.engine.recompute import STORE_RECOMPUTE_LEASE, relearn_queued
from services.reporting.analytics.rollup import count_closed_days
from services.settings.effective import load_effective_settings
from services.shopify.client import ShopifyClient
from services.sync.shop_record import ShopSetupError
from services.sync.store_sync import recompute_nightly, sync_orders, sync_products
from services.sync.webhook_intake import process_pending_webhooks

__all__ = [
    "JOBS",
    "SCHEDULER_LEASE",
    "Job",
    "build_scheduler",
    "run_job",
    "run_worker",
    "schedule_while_leader",
]

log = logging.getLogger("repeatcart.worker")
WEBHOOK_SWEEP_SECONDS = 30
SCHEDULER_LEASE = "scheduler"
"""Held by the one process that schedules the jobs (a web worker or a `repeatcart worker`)."""
SCHEDULER_LEASE_TTL = timedelta(minutes=1)
"""How long the jobs may go unscheduled after the scheduling process dies."""


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Settings], str]
    trigger: Callable[[Settings], Any]
    needs_shopify: bool = False
    lease_minutes: float = 5


def _shopify_configured(settings: Settings) -> bool:
    return bool(settings.secret("shopify_token"))


def _order_sync(settings: Settings) -> str:
    with ShopifyClient.from_settings(settings) as client:
        return sync_orders(client, settings=settings).line()


def _catalog_sync(settings: Settings) -> str:
    with ShopifyClient.from_settings(settings) as client:
        return sync_products(client, settings=settings).line()


def _nightly(settings: Settings) -> str:
    parts = []
    if _shopify_configured(settings):
        with ShopifyClient.from_settings(settings) as client:
            parts.append(sync_products(client, full=True, settings=settings).line())
    parts.append(recompute_nightly())
    with session_scope() as session:
        count_closed_days(session, utcnow())
    return "; ".join(parts)


def _webhooks(_settings: Settings) -> str:
    return str(process_pending_webhooks(utcnow()))


def _relearn(_settings: Settings) -> str:
    # not beside a store-wide recompute (nightly, or after a timing change): it re-dates
    # everyone anyway, and two writers of the same due rows only get in each other's way
    with lease(STORE_RECOMPUTE_LEASE, timedelta(minutes=30)) as free:
        if not free:
            return "relearn: waiting for the store-wide recompute"
        return relearn_queued(utcnow()).line()


def _due_scan(settings: Settings) -> str:
    return run_scan(settings).line()


def _delivery(settings: Settings) -> str:
    return run_delivery(settings).line()


def _klaviyo_profiles(settings: Settings) -> str:
    return run_profile_sync(settings).line()


def _unique_codes(settings: Settings) -> str:
    if not settings.unique_codes:
        return "unique codes: off"
    with ShopifyClient.from_settings(settings) as client:
        return create_pending_codes(client, settings).line()


def _housekeeping(_settings: Settings) -> str:
    with session_scope() as session:
        purged = purge_stale(session, utcnow())
    return f"purged {purged.sessions} ended sessions, {purged.throttles} idle sign-in throttles"


JOBS: tuple[Job, ...] = (
    Job(
        "order-sync",
        _order_sync,
        lambda s: IntervalTrigger(minutes=s.order_sync_minutes),
        needs_shopify=True,
    ),
    Job(
        "catalog-sync",
        _catalog_sync,
        lambda s: IntervalTrigger(minutes=s.catalog_sync_minutes),
        needs_shopify=True,
    ),
    Job(
        "nightly-recompute",
        _nightly,
        lambda s: CronTrigger(hour=s.nightly_recompute_hour, minute=0, timezone="UTC"),
        lease_minutes=30,
    ),
    Job("webhooks", _webhooks, lambda _s: IntervalTrigger(seconds=WEBHOOK_SWEEP_SECONDS)),
    # orders queue products to relearn; one run every few minutes takes all that came in
    Job(
        "relearn",
        _relearn,
        lambda s: IntervalTrigger(minutes=s.relearn_minutes),
        lease_minutes=10,
    ),
    Job("due-scan", _due_scan, lambda s: IntervalTrigger(minutes=s.due_scan_minutes)),
    Job(
        "delivery",
        _delivery,
        lambda s: IntervalTrigger(seconds=s.delivery_seconds),
        lease_minutes=10,
    ),
    # changed profiles only: who was recomputed, became due or changed link since the last run,
    # and everyone once a day
    Job(
        "klaviyo-profiles",
        _klaviyo_profiles,
        lambda s: IntervalTrigger(minutes=s.due_scan_minutes),
        lease_minutes=30,
    ),
    # the scan reserves codes; this creates them in Shopify, 250 a call, before delivery sends
    Job(
        "unique-codes",
        _unique_codes,
        lambda s: IntervalTrigger(seconds=s.unique_code_seconds),
        needs_shopify=True,
        lease_minutes=30,
    ),
    Job("housekeeping", _housekeeping, lambda _s: IntervalTrigger(hours=1)),
)


def run_job(job: Job, settings: Settings | None = None) -> str:
    """Run `job` once if its lease is free; returns its outcome ("ok", "skipped", "failed")."""
    settings = load_effective_settings(settings or get_settings())
    started = time.perf_counter()
    if job.needs_shopify and not _shopify_configured(settings):
        log.info(
            "%s skipped: no Shopify token",
            job.name,
            extra=log_fields(job=job.name, outcome="skipped", reason="not configured"),
        )
        return "skipped"
    with lease(job.name, timedelta(minutes=job.lease_minutes)) as held:
        if not held:
            log.info(
                "%s skipped: running elsewhere",
                job.name,
                extra=log_fields(job=job.name, outcome="skipped", reason="lease held"),
            )
            return "skipped"
        try:
            summary = job.run(settings)
        except Exception as exc:
            log.error(
                "%s failed: %s",
                job.name,
                exc,
                exc_info=not _expected(exc),
                extra=log_fields(
                    job=job.name,
                    outcome="failed",
                    error=str(exc),
                    ms=round((time.perf_counter() - started) * 1000),
                ),
            )
            return "failed"
    log.info(
        "%s: %s",
        job.name,
        summary,
        extra=log_fields(
            job=job.name, outcome="ok", ms=round((time.perf_counter() - started) * 1000)
        ),
    )
    return "ok"


def _expected(exc: Exception) -> bool:
    """Provider errors, a stop and a lost lease are explained by their message; anything else
    deserves a traceback."""
    return isinstance(exc, ProviderError | ShopSetupError | Stopping | LeaseLost)


def build_scheduler(
    settings: Settings, *, blocking: bool, jobs: tuple[Job, ...] = JOBS
) -> BaseScheduler:
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone="UTC") if blocking else BackgroundScheduler(timezone="UTC")
    )
    for job in jobs:
        scheduler.add_job(
            run_job,
            job.trigger(settings),
            args=(job, settings),
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=300,
            next_run_time=None if job.name == "nightly-recompute" else utcnow(),
        )
    return scheduler


def schedule_while_leader(
    settings: Settings,
    stop: threading.Event,
    *,
    jobs: tuple[Job, ...] | None = None,
    ttl: timedelta | None = None,
) -> None:
    """Run the jobs' scheduler here only while this process holds the scheduler lease; stand by
    otherwise, until `stop` is set.

    Every web worker runs the embedded worker, and a `repeatcart worker` may run beside them or
    several for redundancy. The job leases only keep two runs of a job from overlapping: N
    schedulers, each on its own clock, would still run every job N times per interval. So one
    process schedules; the others try the lease every third of its TTL and take over within one
    TTL when the scheduling process dies (at once when it stops cleanly and releases it).
    """
    jobs = JOBS if jobs is None else jobs
    ttl = SCHEDULER_LEASE_TTL if ttl is None else ttl
    poll = ttl.total_seconds() / 3
    said_standby = False
    while not stop.is_set():
        try:
            with lease(SCHEDULER_LEASE, ttl) as leader:
                if leader:
                    said_standby = False
                    _schedule_until_stopped_or_lost(settings, stop, held()[-1], jobs)
                elif not said_standby:
                    said_standby = True
                    log.info(
                        "standing by: another process schedules the jobs",
                        extra=log_fields(outcome="standby"),
                    )
        except Exception:  # the database is away: stand by, try again next round
            log.exception("the scheduler lease could not be taken")
        stop.wait(poll)


def _schedule_until_stopped_or_lost(
    settings: Settings, stop: threading.Event, mine: Lease, jobs: tuple[Job, ...]
) -> None:
    scheduler = build_scheduler(settings, blocking=False, jobs=jobs)
    scheduler.start()
    log.info(
        "scheduling the jobs",
        extra=log_fields(jobs=[job.name for job in jobs], outcome="leading", token=mine.token),
    )
    try:
        while not stop.wait(min(1.0, mine.ttl.total_seconds() / 6)):
            if mine.lost.is_set():  # another process schedules now; its job leases fence ours
                break
    finally:
        # running jobs see the stop request and end at their next boundary; waiting for them
        # lets delivery hand back its claimed rows before the process exits
        scheduler.shutdown(wait=True)


def run_worker(settings: Settings | None = None) -> None:
    """Run the jobs until SIGTERM or Ctrl-C (or stand by while another process runs them); a
    job in progress finishes first."""
    settings = settings or get_settings()
    stopped = threading.Event()

    def stop() -> None:
        log.info("worker stopping", extra=log_fields(outcome="stopping"))
        stopped.set()

    log.info(
        "worker started",
        extra=log_fields(jobs=[job.name for job in JOBS], outcome="started"),
    )
    with stop_on_signals(then=stop), contextlib.suppress(KeyboardInterrupt, SystemExit):
        schedule_while_leader(settings, stopped)
