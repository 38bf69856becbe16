"""Shopify webhooks: receive (verify, check, deduplicate, queue) fast, then process the queue.

Shopify wants an answer within 5 seconds and retries for hours, so the HTTP route only stores a
verified event (`receive_webhook`); `process_pending_webhooks` does the work afterwards, each
event in its own transaction, claimed first so two processes never handle it twice. A processed
event's payload is cleared: personal data must not linger in a queue.

The signature covers the body only: the topic, shop and event id headers are not signed. So a
body must have its topic's shape (and a privacy body must name this shop) before it is queued,
and a body seen before is a duplicate whatever its event id. The privacy topics' work is in
`services.sync.privacy`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import checkpoint_wal, session_scope
from services.core.logs import log_fields
from services.core.tables import Shop, WebhookEvent
from services.ingest.catalog import upsert_products
from services.ingest.orders import refresh_order_customers, upsert_orders
from services.settings.effective import effective_settings
from services.shopify.webhook_protocol import (
    WebhookPayloadError,
    order_record,
    product_record,
    shape_problem,
    verify_hmac,
)
from services.sync.privacy import (
    ERASING_TOPICS,
    PRIVACY_TOPICS,
    handle_privacy_event,
    privacy_problem,
)

__all__ = [
    "MAX_ATTEMPTS",
    "SUPPORTED_TOPICS",
    "ProcessSummary",
    "ReceiveResult",
    "accept_webhook",
    "known_shop_domains",
    "process_pending_webhooks",
    "receive_webhook",
]

logger = logging.getLogger(__name__)

ORDER_TOPICS = frozenset({"orders/create", "orders/updated"})
SUPPORTED_TOPICS = ORDER_TOPICS | PRIVACY_TOPICS | {"products/update"}
MAX_ATTEMPTS = 5
STALE_CLAIM = timedelta(minutes=10)
"""A claim older than this belongs to a process that died; the event may be claimed again."""
CONFLICT_RETRIES = 3
"""Tries within one claim when a concurrent transaction wrote the same rows first."""
_ERROR_LENGTH = 200

ReceiveOutcome = Literal["accepted", "duplicate", "ignored", "unauthorized", "bad_request"]
ProcessOutcome = Literal["done", "ignored", "failed"]


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    """What the route answers: `webhook_id` is the stored row's id when one was stored."""

    outcome: ReceiveOutcome
    webhook_id: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    done: int = 0
    ignored: int = 0
    failed: int = 0
    skipped: int = 0
    """Events another process claimed first."""
    processed_ids: tuple[int, ...] = ()

    @property
    def processed(self) -> int:
        return self.done + self.ignored + self.failed


def receive_webhook(
    session: Session, headers: Mapping[str, str], raw_body: bytes, now: datetime
) -> ReceiveResult:
    """Verify, check and queue one delivery; the caller commits.

    Order matters: nothing about a body is trusted (not even logged) before its signature is
    checked. Unknown shops and topics, and bodies not of their topic's shape or naming another
    shop, are answered "ignored" (HTTP 200) and logged: Shopify retries any other answer for
    hours and may then drop the subscription, yet the same bytes would be refused every time,
    and a body resent under a forged topic is no delivery of Shopify's anyway. A body already
    received (same event id, or same bytes under any event id) is a "duplicate".
    """
    header = {key.lower(): value for key, value in headers.items()}
    topic = header.get("x-shopify-topic", "").strip().lower()[:100]
    domain = header.get("x-shopify-shop-domain", "").strip().lower()[:255]
    settings = effective_settings(session)  # read once: it decrypts the saved secrets
    secret = settings.secret("shopify_webhook_secret")
    if not verify_hmac(secret, raw_body, header.get("x-shopify-hmac-sha256")):
        why = "invalid signature" if secret else "invalid signature (no webhook secret set)"
        logger.warning("webhook refused: %s topic=%s shop=%s", why, topic, domain)
        return ReceiveResult("unauthorized", reason="invalid signature")
    try:
        payload = json.loads(raw_body)
    except ValueError:  # also UnicodeDecodeError
        return ReceiveResult("bad_request", reason="body is not JSON")
    if not isinstance(payload, dict):
        return ReceiveResult("bad_request", reason="body is not a JSON object")
    if domain not in known_shop_domains(session, settings.shopify_shop):
        logger.warning("webhook ignored: unknown shop %r topic=%s", domain, topic)
        return ReceiveResult("ignored", reason="unknown shop")
    if topic not in SUPPORTED_TOPICS:
        logger.info("webhook ignored: unsupported topic %r shop=%s", topic, domain)
        return ReceiveResult("ignored", reason="unsupported topic")
    event_id = _event_id(header, topic, raw_body)
    problem = shape_problem(topic, payload) or privacy_problem(
        session, settings.shopify_shop, topic, domain, payload
    )
    if problem:
        logger.warning("webhook ignored: %s shop=%s event_id=%s", problem, domain, event_id)
        return ReceiveResult("ignored", reason=problem)
    digest = hashlib.sha256(raw_body).hexdigest()
    seen = or_(col(WebhookEvent.event_id) == event_id, col(WebhookEvent.body_sha256) == digest)
    if session.exec(select(WebhookEvent.id).where(seen)).first():
        return ReceiveResult("duplicate", reason="already received")
    event = WebhookEvent(
        event_id=event_id,
        body_sha256=digest,
        topic=topic,
        shop_domain=domain,
        received_at=now,
        payload=payload,
        status="pending",
    )
    try:
        with session.begin_nested():  # a concurrent delivery of the same event loses here
            session.add(event)
    except IntegrityError:
        return ReceiveResult("duplicate", reason="already received")
    return ReceiveResult("accepted", webhook_id=event.id)


def known_shop_domains(session: Session, configured_shop: str) -> set[str]:
    """The configured shop and the stored shop row: webhooks from any other shop are ignored."""
    domains = {configured_shop.strip().lower()}
    domains.update(domain.strip().lower() for domain in session.exec(select(Shop.shop_domain)))
    return domains - {""}


def process_pending_webhooks(
    now: datetime, limit: int = 100, *, new_only: bool = False
) -> ProcessSummary:
    """Process queued events in arrival order, each in its own transaction.

    Each event is claimed by a conditional UPDATE before any work, so concurrent callers (the
    web process's webhook processor, the worker) never process one twice. A failed event keeps
    its payload and is retried on later calls up to `MAX_ATTEMPTS`; one that cannot be parsed is
    not retried. `new_only` takes only events never tried, leaving retries to the worker's
    sweep, which spaces them out. A conflict with a concurrent writer (a unique key, a lock) is
    retried at once within the claim. `attempts` counts claims, so a process that dies mid-event
    also uses one up; while an event is claimed its `processed_at` holds the claim time.
    """
    stale = now - STALE_CLAIM
    waiting = col(WebhookEvent.status) == "pending" if new_only else _claimable(stale)
    with session_scope() as session:
        ids = session.exec(
            select(WebhookEvent.id).where(waiting).order_by(col(WebhookEvent.id)).limit(limit)
        ).all()
    counts = {"done": 0, "ignored": 0, "failed": 0, "skipped": 0}
    processed: list[int] = []
    for webhook_id in ids:
        assert webhook_id is not None
        if not _claim(webhook_id, now, stale):
            counts["skipped"] += 1
            continue
        counts[_process_one(webhook_id, now)] += 1
        processed.append(webhook_id)
    return ProcessSummary(**counts, processed_ids=tuple(processed))


def _event_id(header: Mapping[str, str], topic: str, raw_body: bytes) -> str:
    """Shopify's event id, else the webhook id; else a digest, so an exact replay still dedupes."""
    given = (
        header.get("x-shopify-event-id", "").strip()
        or header.get("x-shopify-webhook-id", "").strip()
    )
    if given:
        return given[:255]
    return "sha256:" + hashlib.sha256(topic.encode() + b"\n" + raw_body).hexdigest()


def _claimable(stale: datetime) -> ColumnElement[bool]:
    status, attempts = col(WebhookEvent.status), col(WebhookEvent.attempts)
    return or_(
        status == "pending",
        and_(status == "failed", attempts < MAX_ATTEMPTS),
        and_(
            status == "processing",
            attempts < MAX_ATTEMPTS,
            col(WebhookEvent.processed_at) < stale,
        ),
    )


def _claim(webhook_id: int, now: datetime, stale: datetime) -> bool:
    """Whether this caller won the event (the UPDATE matched the row: rowcount 1)."""
    with session_scope() as session:
        result = session.exec(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == webhook_id, _claimable(stale))
            .values(status="processing", processed_at=now, attempts=WebhookEvent.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


def _process_one(webhook_id: int, now: datetime) -> ProcessOutcome:
    started = time.perf_counter()
    topic = event_id = error = ""
    outcome: ProcessOutcome = "failed"
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            with session_scope() as session:
                event = session.get(WebhookEvent, webhook_id)
                assert event is not None
                topic, event_id = event.topic, event.event_id
                outcome, note = _handle(session, event, now)
                event.status = outcome
                event.processed_at = now
                event.payload = {}
                event.error = note
                session.add(event)
            break
        except (IntegrityError, OperationalError) as conflict:
            # another event's transaction created the same customer (orders/create and
            # orders/updated arrive together) or held a lock: run again, it now sees that row
            if attempt < CONFLICT_RETRIES:
                time.sleep(random.uniform(0.01, 0.05) * attempt)
                continue
            outcome, error = "failed", _short_error(conflict)
            _mark_failed(webhook_id, error, permanent=False)
        except Exception as failure:  # noqa: BLE001 - kept on the event, retried later
            outcome, error = "failed", _short_error(failure)
            _mark_failed(webhook_id, error, permanent=isinstance(failure, WebhookPayloadError))
            break
    if outcome == "done" and topic in ERASING_TOPICS:
        _checkpoint()
    elapsed = (time.perf_counter() - started) * 1000
    log = logger.warning if outcome == "failed" else logger.info
    log(
        "webhook processed topic=%s event_id=%s outcome=%s ms=%.1f%s",
        topic,
        event_id,
        outcome,
        elapsed,
        f" error={error}" if error else "",
        extra=log_fields(topic=topic, event_id=event_id, outcome=outcome, ms=round(elapsed, 1)),
    )
    return outcome


def _checkpoint() -> None:
    """Once an erase committed: on SQLite the write-ahead log still holds the erased rows."""
    try:
        checkpoint_wal()
    except Exception:  # noqa: BLE001 - the erase stands; the next checkpoint completes it
        logger.exception("SQLite WAL checkpoint after an erase failed")


def _mark_failed(webhook_id: int, error: str, *, permanent: bool) -> None:
    values: dict[str, Any] = {"status": "failed", "error": error}
    if permanent:
        values["attempts"] = MAX_ATTEMPTS
    with session_scope() as session:
        session.execute(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == webhook_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _short_error(failure: Exception) -> str:
    """The error's type and first line only: database errors carry row values (e-mails) after."""
    lines = str(failure).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(failure).__name__}: {first}"[:_ERROR_LENGTH]


def _handle(session: Session, event: WebhookEvent, now: datetime) -> tuple[ProcessOutcome, str]:
    """Do the topic's work; the outcome ("done" or "ignored") and a note for the merchant."""
    payload = event.payload
    if event.topic in ORDER_TOPICS:
        # only this order's customer is re-dated here; relearning waits for the worker
        summary = upsert_orders(
            session, [order_record(payload)], source="webhook", now=now, refresh=False
        )
        refresh_order_customers(session, summary, now)
    elif event.topic == "products/update":
        upsert_products(session, [product_record(payload)], now)
    elif event.topic in PRIVACY_TOPICS:
        refusal = handle_privacy_event(session, event, now)
        if refusal is not None:
            return "ignored", refusal
    else:
        return "ignored", "unsupported topic"
    return "done", ""


def accept_webhook(headers: Mapping[str, str], body: bytes) -> ReceiveResult:
    """`receive_webhook` in a transaction of its own, at the clock's now: the HTTP route's call."""
    with session_scope() as session:
        return receive_webhook(session, headers, body, utcnow())
