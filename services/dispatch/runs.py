"""The dispatcher's runs: the worker's two jobs, `repeatcart dispatch`, and its dry run."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.config import Settings
from services.core.db import get_engine
from services.core.logs import log_fields
from services.core.tables import OutboxMessage
from services.dispatch.actions import retry_failed
from services.dispatch.delivery import DELIVERY_PASS_SECONDS, deliver
from services.dispatch.outbox import PENDING, SENDING
from services.dispatch.payloads import wire_body
from services.dispatch.recheck import recheck
from services.dispatch.scan import enabled_integrations, scan_due
from services.dispatch.stops import refused_error
from services.dispatch.summary import DispatchSummary
from services.messaging import provider

log = logging.getLogger("repeatcart.dispatch")


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
            refused = refused_error(session, name, provider(name).api_key(settings))
            stopped = "" if refused is None else f"key refused: {refused}"
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
                and_(
                    col(OutboxMessage.status) == PENDING,
                    col(OutboxMessage.next_attempt_at) <= now,
                ),
                and_(
                    col(OutboxMessage.status) == SENDING,
                    col(OutboxMessage.claimed_until) < now,
                ),
            ),
        )
        .order_by(col(OutboxMessage.id))
    )
    yield from session.exec(query)


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
