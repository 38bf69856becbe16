"""Delivery: the outbox → the providers, each row sent by one worker and its outcome kept.

One thread per (integration, lane): events (due, late) and profile updates (cart_url) are
separate lanes, so Klaviyo's two endpoints and the three providers proceed at their own pace,
each paced by its client's own limiter. A lane claims a few rows with a conditional UPDATE
(pending and due now, or `sending` whose claim expired), then for each row: re-checks (see
`recheck`), renews its claim for one send's worth of time, sends, and commits the outcome before
touching the next row.

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

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core.clock import utcnow
from services.core.config import Settings
from services.core.db import get_engine
from services.core.provider_http import ProviderError
from services.core.shutdown import stop_requested
from services.dispatch.actions import rowcount
from services.dispatch.outbox import (
    CART_URL,
    EVENT_KINDS,
    FAILED,
    NO_IDENTIFIER,
    OUTBOX,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    SWITCHED_OFF,
)
from services.dispatch.payloads import event_from_payload, recipient_from
from services.dispatch.recheck import recheck
from services.dispatch.stops import record_auth_failure, stopped, waiting
from services.dispatch.summary import DispatchSummary, IntegrationSummary
from services.messaging import PROVIDERS, MessagingClient, clients_from_settings, provider

log = logging.getLogger("repeatcart.dispatch")

CLAIM_BATCH = 10
DELIVERY_PASS_SECONDS = 300.0  # a worker pass ends after this; the next one carries on
MAX_BACKOFF = timedelta(hours=6)


@dataclass
class _Lane:
    integration: str
    kinds: tuple[str, ...]
    client: MessagingClient
    stop: threading.Event  # shared by an integration's lanes: set when its key is refused
    summary: IntegrationSummary = field(default_factory=IntegrationSummary)


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


# built once: a lane runs these for every row, and building SQL expressions cost more than
# running them
_OURS = and_(
    OUTBOX.c.id == bindparam("row_id"),
    OUTBOX.c.claimed_by == bindparam("row_token"),
    OUTBOX.c.status == SENDING,
)
_CLAIMED_ROWS = (
    select(
        OUTBOX.c.id,
        OUTBOX.c.claimed_by,
        OUTBOX.c.integration,
        OUTBOX.c.kind,
        OUTBOX.c.customer_id,
        OUTBOX.c.payload,
        OUTBOX.c.attempts,
    )
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .where(OUTBOX.c.claimed_by == bindparam("token"))
    .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
)


def _claim_query(status: str, kind: str, postgres: bool) -> Any:
    query = select(OUTBOX.c.id).where(
        OUTBOX.c.status == status,
        OUTBOX.c.integration == bindparam("integration"),
        OUTBOX.c.kind == kind,
    )
    if status == PENDING:
        query = query.where(OUTBOX.c.next_attempt_at <= bindparam("now")).order_by(
            OUTBOX.c.next_attempt_at, OUTBOX.c.id
        )
    else:
        query = query.where(OUTBOX.c.claimed_until < bindparam("now"))
    query = query.limit(bindparam("limit"))
    return query.with_for_update(skip_locked=True) if postgres else query


_CLAIMABLE = or_(
    and_(OUTBOX.c.status == PENDING, OUTBOX.c.next_attempt_at <= bindparam("now")),
    and_(OUTBOX.c.status == SENDING, OUTBOX.c.claimed_until < bindparam("now")),
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
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _CLAIMABLE)
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
            update(OUTBOX).where(_OURS).values(**values),
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
            api_key = provider(lane.integration).api_key(self.settings)
            record_auth_failure(session, lane.integration, api_key, error)
            self._finish(session, row, status=PENDING, last_error=str(error))
            lane.stop.set()
            return "auth"
        status = error.status
        if not error.transient and status is not None and 400 <= status < 600:
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
        client.set_cart_url(recipient_from(payload["recipient"]), payload["cart_url"])
    else:
        client.send_event(event_from_payload(payload["event"]))


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
        with Session(engine, expire_on_commit=False) as session:
            _skip_switched_off(session, settings, summary)
            lanes = _lanes(session, settings, active, summary)
        if lanes:
            with ThreadPoolExecutor(len(lanes), thread_name_prefix="delivery") as pool:
                for lane, counts in zip(lanes, pool.map(delivery.run_lane, lanes), strict=True):
                    summary.of(lane.integration).merge(counts)
        with Session(engine, expire_on_commit=False) as session:
            for lane in lanes:
                counts = summary.of(lane.integration)
                if lane.stop.is_set() and not counts.stopped:
                    api_key = provider(lane.integration).api_key(settings)
                    counts.stopped = stopped(session, lane.integration, api_key)
                    counts.waiting = waiting(session, lane.integration)
    finally:
        if own:
            for client in active:
                client.close()
    return summary


def _skip_switched_off(session: Session, settings: Settings, summary: DispatchSummary) -> None:
    """Rows still pending of a Moment the merchant switched off are skipped, not sent: they
    were queued while it was on, and switching it back on must not release a stale backlog."""
    for sender in PROVIDERS:
        name = sender.name
        off = [kind for kind in EVENT_KINDS if not sender.sends(settings, kind)]
        if not off:
            continue
        done = session.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.integration == name,
                OUTBOX.c.kind.in_(off),
                OUTBOX.c.status == PENDING,
            )
            .values(status=SKIPPED, skip_reason=SWITCHED_OFF)
        )
        if count := rowcount(done):
            summary.of(name).skipped[SWITCHED_OFF] += count
    session.commit()


def _lanes(
    session: Session,
    settings: Settings,
    clients: Sequence[MessagingClient],
    summary: DispatchSummary,
) -> list[_Lane]:
    """An events lane per client, and a profile lane where the provider has a profile; none
    for an integration stopped by a refused key (the summary says so)."""
    lanes: list[_Lane] = []
    for client in clients:
        sender = provider(client.provider)
        why = stopped(session, sender.name, sender.api_key(settings))
        if why:
            summary.of(sender.name).stopped = why
            summary.of(sender.name).waiting = waiting(session, sender.name)
            continue
        stop = threading.Event()
        lanes.append(_Lane(sender.name, EVENT_KINDS, client, stop))
        if sender.writes_profile:
            lanes.append(_Lane(sender.name, (CART_URL,), client, stop))
    return lanes


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
