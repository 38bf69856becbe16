"""The dashboard's Integrations page: keys, on/off, a test event, and the delivery log.

Each public function is one use case: it opens and commits its own transaction and returns
plain data. Keys are saved encrypted by `save_settings` and read back only as their last four
characters; they are decrypted only here, at the moment a test event is sent. A new key for an
integration stopped by a refused key clears the stop at once (the dispatcher would also notice
the new key's fingerprint on its next pass; clearing it here makes the page tell the truth right
away). The delivery log reads the outbox a page at a time, newest first, and never its payloads.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.config import Settings, get_settings
from services.core.db import session_scope
from services.core.moments import MOMENTS, parse_moments
from services.core.provider_http import ProviderError, RetryPolicy
from services.core.tables import Customer, OutboxMessage, Product, Shop, Variant
from services.dispatch import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    outbox_counts,
    refused_error,
    resume_integration,
    retry_failed,
)
from services.messaging import (
    PROVIDER_NAMES,
    PROVIDERS,
    DueEvent,
    DueProduct,
    Recipient,
    provider,
    to_e164,
)
from services.settings.effective import (
    clear_setting,
    effective_settings,
    save_settings,
    secret_display,
    stored_settings,
)

__all__ = [
    "INTEGRATIONS",
    "KEY_HELP",
    "LABELS",
    "RECIPIENT_KIND",
    "DeliveryLog",
    "DeliveryRow",
    "IntegrationView",
    "SendResult",
    "delivery_log",
    "integration_views",
    "remove_key",
    "resume",
    "retry_delivery",
    "save_integration",
    "send_test_event",
    "set_enabled",
    "set_moment",
]

INTEGRATIONS = PROVIDER_NAMES
LABELS = {p.name: p.label for p in PROVIDERS}
RECIPIENT_KIND = {p.name: p.test_recipient for p in PROVIDERS}
KEY_HELP = {p.name: p.key_help for p in PROVIDERS}
STATUSES = (PENDING, SENDING, SENT, FAILED, SKIPPED)
PAGE_SIZE = 20
TEST_TIMEOUT = 8.0  # the merchant waits on the button
TEST_RETRY = RetryPolicy(attempts=2, initial_delay=0.3, max_delay=1.0, max_retry_after=3)
_MAX_KEY = 500


@dataclass(frozen=True, slots=True)
class IntegrationView:
    """One integration as the page shows it: never the key, only its last characters."""

    name: str
    label: str
    enabled: bool
    moments_off: frozenset[str]  # the Moments switched off for it
    key_last4: str
    key_source: str  # saved | environment | none | unreadable
    stopped: str  # why delivery is stopped (a refused key), "" when it is not
    counts: dict[str, int]

    @property
    def active(self) -> bool:
        return self.enabled and self.key_source in ("saved", "environment") and not self.stopped


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: str  # accepted | refused_key | error | invalid
    message: str

    @property
    def ok(self) -> bool:
        return self.outcome == "accepted"


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    status: str
    kind: str
    email: str
    attempts: int
    error: str
    when: datetime


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    rows: list[DeliveryRow]
    total: int
    page: int
    pages: int
    counts: dict[str, int]


def integration_views(base: Settings | None = None) -> list[IntegrationView]:
    """Each integration's on/off, key (last 4 and where it comes from), stop and counts."""
    base = base or get_settings()
    with session_scope(base.database_url) as session:
        settings = effective_settings(session, base)
        stored = stored_settings(session, base)
        counts = outbox_counts(session)
        views = []
        for p in PROVIDERS:
            last4, source = secret_display(stored, p.key_setting, base)
            views.append(
                IntegrationView(
                    name=p.name,
                    label=p.label,
                    enabled=bool(getattr(settings, p.enabled_setting)),
                    moments_off=parse_moments(getattr(settings, p.moments_setting)),
                    key_last4=last4,
                    key_source=source,
                    stopped=_stop_reason(session, p.name, p.api_key(settings)),
                    counts={status: counts.get(p.name, {}).get(status, 0) for status in STATUSES},
                )
            )
    return views


def _stop_reason(session: Session, integration: str, api_key: str) -> str:
    """Stopped while the refused key is the one set; a new key resumes on the next pass."""
    if not api_key:
        return ""
    refused = refused_error(session, integration, api_key)
    if refused is None:
        return ""
    return refused or "the provider refused the key"


def save_integration(
    integration: str, api_key: str, *, by: str = "", base: Settings | None = None
) -> tuple[bool, str]:
    """Save a new key ("" keeps the stored one). Returns (saved, message for the merchant).
    A changed key clears a refused-key stop so delivery resumes on the next pass."""
    p = provider(integration)
    key = api_key.strip()
    if not key:
        return False, "Enter a key to save; the saved key is unchanged."
    if len(key) > _MAX_KEY or any(ch.isspace() for ch in key):
        return False, "This does not look like an API key: it has spaces or is too long."
    base = base or get_settings()
    with session_scope(base.database_url) as session:
        changed = save_settings(session, {p.key_setting: key}, by=by, settings=base)
        resumed = bool(changed) and resume_integration(session, p.name)
    if not changed:
        return True, "That key is already saved."
    return True, "Key saved." + (" Delivery resumes on the next pass." if resumed else "")


def resume(integration: str, base: Settings | None = None) -> bool:
    """Try a refused key again without changing it (the merchant fixed its permissions at the
    provider). True when the integration was stopped."""
    p = provider(integration)
    with session_scope((base or get_settings()).database_url) as session:
        return resume_integration(session, p.name)


def set_enabled(
    integration: str, enabled: bool, *, by: str = "", base: Settings | None = None
) -> None:
    """Switch sending to an integration on or off without touching its key."""
    p = provider(integration)
    base = base or get_settings()
    with session_scope(base.database_url) as session:
        save_settings(session, {p.enabled_setting: enabled}, by=by, settings=base)


def set_moment(
    integration: str, kind: str, on: bool, *, by: str = "", base: Settings | None = None
) -> None:
    """Switch one Moment on or off for one integration. Off, nothing of it is queued and what
    is still pending is skipped at the next delivery pass; on again, the next full due scan
    catches customers still inside the look-back window, as for a newly enabled integration."""
    p = provider(integration)
    if kind not in MOMENTS:
        raise ValueError(f"unknown Moment {kind!r}")
    base = base or get_settings()
    with session_scope(base.database_url) as session:
        off = set(parse_moments(getattr(effective_settings(session, base), p.moments_setting)))
        if on:
            off.discard(kind)
        else:
            off.add(kind)
        save_settings(session, {p.moments_setting: ",".join(sorted(off))}, by=by, settings=base)


def remove_key(integration: str, base: Settings | None = None) -> None:
    """Forget the saved key; a key set in the environment applies again."""
    p = provider(integration)
    with session_scope((base or get_settings()).database_url) as session:
        clear_setting(session, p.key_setting)


def parse_recipient(integration: str, raw: str) -> Recipient | str:
    """The recipient a test event goes to, or the message saying why the input is refused."""
    p = provider(integration)
    text = raw.strip()
    if p.test_recipient == "email":
        local, _, domain = text.partition("@")
        if not local or "." not in domain or any(ch.isspace() for ch in text) or "@" in domain:
            return "Enter an email address, like you@your-shop.com."
        return Recipient(email=text, phone=None, external_id=None)
    phone = to_e164(text)
    if phone is None:
        return (
            "Enter a mobile number with its country code, like +1 415 555 2671 "
            "(a US number may leave it out)."
        )
    return Recipient(email=None, phone=phone, external_id=None)


def _sample_products(session: Session) -> tuple[tuple[DueProduct, ...], int, str]:
    """Up to two real products, so the merchant's flow templates render as they will."""
    rows = session.exec(
        select(Product, Variant)
        .join(Variant, col(Variant.product_id) == col(Product.id))
        .where(Product.status == "active", Variant.available == True)  # noqa: E712
        .order_by(col(Product.id), col(Variant.position))
        .limit(10)
    ).all()
    products: list[DueProduct] = []
    seen: set[int] = set()
    for product, variant in rows:
        if product.id in seen or len(products) == 2:
            continue
        seen.add(int(product.id or 0))
        products.append(
            DueProduct(
                product_gid=product.shopify_gid,
                product_id_numeric=int(product.shopify_id or 0),
                title=product.title,
                handle=product.handle,
                price_cents=int(variant.price_cents or 0),
                currency="USD",
                image_url=variant.image_url or product.image_url,
                variant_gid=variant.shopify_gid,
                variant_id_numeric=int(variant.shopify_id),
                variant_title=variant.title,
            )
        )
    shop = session.exec(select(Shop).limit(1)).first()
    currency = shop.currency if shop is not None else "USD"
    products = [replace(product, currency=currency) for product in products]
    return tuple(products), sum(product.price_cents for product in products), currency


def send_test_event(
    integration: str, recipient_text: str, base: Settings | None = None
) -> SendResult:
    """Send one "due" event to one integration for a recipient the merchant typed, with the
    saved key, over the real client; the provider's answer as a sentence. The database is read
    first, in a transaction of its own: none stays open while the provider answers."""
    p = provider(integration)
    base = base or get_settings()
    recipient = parse_recipient(integration, recipient_text)
    if isinstance(recipient, str):
        return SendResult("invalid", recipient)
    with session_scope(base.database_url) as session:
        settings = effective_settings(session, base)
        if not p.api_key(settings):
            return SendResult("invalid", f"No {p.label} key is saved: save one first.")
        products, value, currency = _sample_products(session)
    now = utcnow()
    event = DueEvent(
        kind="due",
        idempotency_key=f"test-{uuid.uuid4().hex[:16]}",
        occurred_at=now,
        cart_url=f"{settings.public_url.rstrip('/')}/cart/test-event",
        due_date=(now + timedelta(days=3)).date(),
        products=products,
        value_cents=value,
        currency=currency,
        recipient=recipient,
    )
    client = p.build(settings, timeout=TEST_TIMEOUT, retry=TEST_RETRY)
    try:
        client.send_event(event)
    except ProviderError as error:
        if error.auth_failed:
            return SendResult(
                "refused_key",
                f"{p.label} refused the key (HTTP {error.status}): check it has permission to "
                f"send events, then save it again. {error.detail}".strip(),
            )
        return SendResult("error", f"{p.label} did not accept the event: {error}")
    except ValueError as error:
        return SendResult("invalid", str(error))
    finally:
        client.close()
    return SendResult("accepted", f"{p.label} accepted the test event for {_shown(recipient)}.")


def _shown(recipient: Recipient) -> str:
    return recipient.email or recipient.phone or "the recipient"


def delivery_log(
    integration: str,
    *,
    failures_only: bool = False,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    base: Settings | None = None,
) -> DeliveryLog:
    """One page of an integration's outbox, newest first, without payloads; totals from the
    per-status counts (one GROUP BY), rows by LIMIT/OFFSET on the primary key."""
    p = provider(integration)
    with session_scope((base or get_settings()).database_url) as session:
        counts_all = outbox_counts(session).get(p.name, {})
        counts = {status: counts_all.get(status, 0) for status in STATUSES}
        total = counts[FAILED] if failures_only else sum(counts.values())
        pages = max(1, -(-total // page_size))
        page = min(max(1, page), pages)
        rows = _log_rows(session, p.name, failures_only, page, page_size)
    return DeliveryLog(rows, total, page, pages, counts)


def _log_rows(
    session: Session, integration: str, failures_only: bool, page: int, page_size: int
) -> list[DeliveryRow]:
    query = (
        core_select(
            col(OutboxMessage.id),
            col(OutboxMessage.status),
            col(OutboxMessage.kind),
            col(Customer.email),
            col(OutboxMessage.attempts),
            col(OutboxMessage.last_error),
            col(OutboxMessage.skip_reason),
            col(OutboxMessage.created_at),
            col(OutboxMessage.sent_at),
        )
        .join(Customer, col(Customer.id) == col(OutboxMessage.customer_id), isouter=True)
        .where(col(OutboxMessage.integration) == integration)
    )
    if failures_only:
        query = query.where(col(OutboxMessage.status) == FAILED)
    query = (
        query.order_by(col(OutboxMessage.id).desc()).offset((page - 1) * page_size).limit(page_size)
    )
    return [
        DeliveryRow(
            id=row_id or 0,  # a stored row always has one
            status=status,
            kind=kind,
            email=email or "",
            attempts=int(attempts),
            error=(f"skipped: {skip_reason}" if status == SKIPPED and skip_reason else last_error)
            or "",
            when=sent_at or created_at,
        )
        for (
            row_id,
            status,
            kind,
            email,
            attempts,
            last_error,
            skip_reason,
            created_at,
            sent_at,
        ) in session.connection().execute(query)
    ]


def retry_delivery(
    integration: str, ids: Sequence[int] | None = None, base: Settings | None = None
) -> int:
    """Queue an integration's failed messages again (all, or the given ids); returns how many."""
    p = provider(integration)
    with session_scope((base or get_settings()).database_url) as session:
        return retry_failed(session, ids, integration=p.name)
