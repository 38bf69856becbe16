"""The dashboard's Integrations page: keys, on/off, a test event, and the delivery log.

Keys are saved encrypted by `store_settings` and read back only as their last four characters;
they are decrypted only here, at the moment a test event is sent. A new key for an integration
stopped by a refused key clears the stop at once (the dispatcher would also notice the new key's
fingerprint on its next pass; clearing it here makes the page tell the truth right away). The
delivery log reads the outbox a page at a time, newest first, and never its payloads.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from services.core.config import Settings, get_settings
from services.core.provider_http import ProviderError, RetryPolicy
from services.core.tables import (
    Customer,
    IntegrationStatus,
    OutboxMessage,
    Product,
    Shop,
    Variant,
    utcnow,
)
from services.dispatch import (
    FAILED,
    INTEGRATIONS,
    SKIPPED,
    key_fingerprint,
    outbox_counts,
    resume_integration,
    retry_failed,
)
from services.messaging import (
    AttentiveClient,
    DueEvent,
    DueProduct,
    KlaviyoClient,
    MessagingClient,
    PostscriptClient,
    Recipient,
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
    "LABELS",
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
]

LABELS = {"klaviyo": "Klaviyo", "postscript": "Postscript", "attentive": "Attentive"}
RECIPIENT_KIND = {"klaviyo": "email", "postscript": "phone", "attentive": "phone"}
STATUSES = ("pending", "sending", "sent", "failed", "skipped")
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


def _check(integration: str) -> None:
    if integration not in INTEGRATIONS:
        raise KeyError(f"unknown integration {integration!r}")


def integration_views(session: Session, base: Settings | None = None) -> list[IntegrationView]:
    """Each integration's on/off, key (last 4 and where it comes from), stop and counts."""
    base = base or get_settings()
    settings = effective_settings(session, base)
    stored = stored_settings(session, base)
    counts = outbox_counts(session)
    views = []
    for name in INTEGRATIONS:
        last4, source = secret_display(stored, f"{name}_api_key", base)
        views.append(
            IntegrationView(
                name=name,
                label=LABELS[name],
                enabled=bool(getattr(settings, f"{name}_enabled")),
                key_last4=last4,
                key_source=source,
                stopped=_stop_reason(session, name, settings.secret(f"{name}_api_key")),
                counts={status: counts.get(name, {}).get(status, 0) for status in STATUSES},
            )
        )
    return views


def _stop_reason(session: Session, integration: str, api_key: str) -> str:
    """Read-only twin of the dispatcher's check: stopped while the refused key is the one set."""
    status = session.get(IntegrationStatus, integration)
    if status is None or status.auth_failed_at is None or not api_key:
        return ""
    if status.key_fingerprint != key_fingerprint(api_key):
        return ""  # a new key: the next delivery pass resumes
    return status.last_error or "the provider refused the key"


def save_integration(
    session: Session,
    integration: str,
    api_key: str,
    *,
    by: str = "",
    settings: Settings | None = None,
) -> tuple[bool, str]:
    """Save a new key ("" keeps the stored one). Returns (saved, message for the merchant).
    A changed key clears a refused-key stop so delivery resumes on the next pass."""
    _check(integration)
    key = api_key.strip()
    if not key:
        return False, "Enter a key to save; the saved key is unchanged."
    if len(key) > _MAX_KEY or any(ch.isspace() for ch in key):
        return False, "This does not look like an API key: it has spaces or is too long."
    changed = save_settings(session, {f"{integration}_api_key": key}, by=by, settings=settings)
    resumed = False
    if changed:
        resumed = resume_integration(session, integration)
    session.flush()
    if not changed:
        return True, "That key is already saved."
    return True, "Key saved." + (" Delivery resumes on the next pass." if resumed else "")


def resume(session: Session, integration: str) -> bool:
    """Try a refused key again without changing it (the merchant fixed its permissions at the
    provider). True when the integration was stopped."""
    _check(integration)
    resumed = resume_integration(session, integration)
    session.flush()
    return resumed


def set_enabled(session: Session, integration: str, enabled: bool, *, by: str = "") -> None:
    """Switch sending to an integration on or off without touching its key."""
    _check(integration)
    save_settings(session, {f"{integration}_enabled": enabled}, by=by)
    session.flush()


def remove_key(session: Session, integration: str) -> None:
    """Forget the saved key; a key set in the environment applies again."""
    _check(integration)
    clear_setting(session, f"{integration}_api_key")
    session.flush()


def parse_recipient(integration: str, raw: str) -> Recipient | str:
    """The recipient a test event goes to, or the message saying why the input is refused."""
    _check(integration)
    text = raw.strip()
    if RECIPIENT_KIND[integration] == "email":
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


def _client(integration: str, settings: Settings) -> MessagingClient:
    key = settings.secret(f"{integration}_api_key")
    if integration == "klaviyo":
        return KlaviyoClient(
            key,
            settings.klaviyo_base_url,
            revision=settings.klaviyo_revision,
            timeout=TEST_TIMEOUT,
            retry=TEST_RETRY,
        )
    if integration == "postscript":
        return PostscriptClient(
            key, settings.postscript_base_url, timeout=TEST_TIMEOUT, retry=TEST_RETRY
        )
    return AttentiveClient(key, settings.attentive_base_url, timeout=TEST_TIMEOUT, retry=TEST_RETRY)


def _sample_products(session: Session) -> tuple[tuple[DueProduct, ...], int, str]:
    """Up to two real products, so the merchant's flow templates render as they will."""
    rows = session.exec(
        select(Product, Variant)
        .join(Variant, Variant.product_id == Product.id)  # type: ignore[arg-type]
        .where(Product.status == "active", Variant.available == True)  # noqa: E712
        .order_by(Product.id, Variant.position)
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
    products = [_with_currency(product, currency) for product in products]
    return tuple(products), sum(product.price_cents for product in products), currency


def _with_currency(product: DueProduct, currency: str) -> DueProduct:
    return replace(product, currency=currency)


def send_test_event(
    session: Session, integration: str, recipient_text: str, base: Settings | None = None
) -> SendResult:
    """Send one "due" event to one integration for a recipient the merchant typed, with the
    saved key, over the real client; the provider's answer as a sentence."""
    _check(integration)
    base = base or get_settings()
    recipient = parse_recipient(integration, recipient_text)
    if isinstance(recipient, str):
        return SendResult("invalid", recipient)
    settings = effective_settings(session, base)
    label = LABELS[integration]
    if not settings.secret(f"{integration}_api_key"):
        return SendResult("invalid", f"No {label} key is saved: save one first.")
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
    client = _client(integration, settings)
    try:
        client.send_event(event)
    except ProviderError as error:
        if error.auth_failed:
            return SendResult(
                "refused_key",
                f"{label} refused the key (HTTP {error.status}): check it has permission to "
                f"send events, then save it again. {error.detail}".strip(),
            )
        return SendResult("error", f"{label} did not accept the event: {error}")
    except ValueError as error:
        return SendResult("invalid", str(error))
    finally:
        client.close()
    return SendResult("accepted", f"{label} accepted the test event for {_shown(recipient)}.")


def _shown(recipient: Recipient) -> str:
    return recipient.email or recipient.phone or "the recipient"


def delivery_log(
    session: Session,
    integration: str,
    *,
    failures_only: bool = False,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> DeliveryLog:
    """One page of an integration's outbox, newest first, without payloads; totals from the
    per-status counts (one GROUP BY), rows by LIMIT/OFFSET on the primary key."""
    _check(integration)
    counts_all = outbox_counts(session).get(integration, {})
    counts = {status: counts_all.get(status, 0) for status in STATUSES}
    total = counts[FAILED] if failures_only else sum(counts.values())
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    query = (
        select(
            OutboxMessage.id,
            OutboxMessage.status,
            OutboxMessage.kind,
            Customer.email,
            OutboxMessage.attempts,
            OutboxMessage.last_error,
            OutboxMessage.skip_reason,
            OutboxMessage.created_at,
            OutboxMessage.sent_at,
        )
        .join(Customer, Customer.id == OutboxMessage.customer_id, isouter=True)  # type: ignore[arg-type]
        .where(OutboxMessage.integration == integration)
    )
    if failures_only:
        query = query.where(OutboxMessage.status == FAILED)
    query = (
        query.order_by(OutboxMessage.id.desc())  # type: ignore[union-attr]
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    rows = [
        DeliveryRow(
            id=int(row_id),
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
        ) in session.exec(query)
    ]
    return DeliveryLog(rows, total, page, pages, counts)


def retry_delivery(session: Session, integration: str, ids: Sequence[int] | None = None) -> int:
    """Queue an integration's failed messages again (all, or the given ids); returns how many."""
    _check(integration)
    return retry_failed(session, ids, integration=integration)


def failed_count(session: Session, integration: str) -> int:
    _check(integration)
    return int(
        session.exec(
            select(func.count()).where(
                OutboxMessage.integration == integration, OutboxMessage.status == FAILED
            )
        ).one()
    )
