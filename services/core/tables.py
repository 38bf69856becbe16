"""SQLModel tables. Money is integer cents (currency on the shop or order); times are UTC-aware.

Shopify ids are kept as given (`shopify_gid`, e.g. ``gid://shopify/Order/123``) beside the numeric
tail (`shopify_id`) that URLs such as cart permalinks need.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, TypeDecorator, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from services.core.clock import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back aware datetimes, also on SQLite (which drops offsets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(*, nullable: bool = True, index: bool = False, default: bool = False) -> Any:
    if default:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=nullable, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _bigint(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=BigInteger, nullable=nullable, index=index)


class Shop(SQLModel, table=True):
    """The merchant's shop and cart settings (one row). Learned store-wide figures live here too."""

    id: int | None = Field(default=None, primary_key=True)
    shop_domain: str
    name: str = ""
    currency: str = "USD"
    banner_text: str = ""
    discount_code: str = ""
    lead_days: int = 3
    default_interval_days: float = 30.0
    min_reorder_customers: int = 5
    hide_unavailable: bool = False
    accent_color: str = "grass"
    logo_url: str = ""
    store_url: str = ""
    primary_domain: str = ""  # the host shoppers know the store by, from the Admin API
    timezone: str = ""  # the shop's IANA time zone, from the Admin API
    identity_checked_at: datetime | None = _utc()
    store_interval_days: float | None = None
    store_p75_days: float | None = None
    updated_at: datetime = _utc(nullable=False, default=True)


PRODUCT_SOLD_STATUS = "active"


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    shopify_gid: str = Field(unique=True)
    shopify_id: int | None = _bigint()
    title: str
    handle: str = Field(index=True)
    status: str = "active"  # active | draft | archived | deleted
    image_url: str | None = None
    interval_override_days: float | None = None
    subscription_only: bool = False  # Shopify's requiresSellingPlan: never sold one-time
    replacement_product_id: int | None = Field(default=None, foreign_key="product.id", index=True)
    updated_at: datetime = _utc(nullable=False, default=True)

    @property
    def sold(self) -> bool:
        return self.status == PRODUCT_SOLD_STATUS


class Variant(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    shopify_gid: str = Field(unique=True)
    shopify_id: int = _bigint(nullable=False)
    product_id: int = Field(foreign_key="product.id", index=True)
    title: str = "Default Title"
    sku: str | None = Field(default=None, index=True)
    price_cents: int | None = None
    available: bool = True
    image_url: str | None = None
    position: int = 0


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    shopify_gid: str | None = Field(default=None, unique=True)
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    first_name: str = ""
    last_name: str = ""
    created_at: datetime = _utc(nullable=False, default=True)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        # a customer's orders by date (the dashboard's "last order" column and sort)
        Index("ix_orders_customer_processed", "customer_id", "test", "processed_at"),
        # orders in a date range (analytics)
        Index("ix_orders_processed_at", "processed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shopify_gid: str = Field(unique=True)
    name: str = ""
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    processed_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False, default=True)
    cancelled_at: datetime | None = _utc()
    financial_status: str | None = None
    test: bool = False
    total_cents: int = 0
    currency: str = "USD"
    source: str = "shopify"  # shopify | webhook | csv | demo
    custom_attributes: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    attributed_cart_id: int | None = Field(default=None, index=True)
    attributed_channel: str | None = None
    attributed_moment: str | None = None


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    product_id: int | None = Field(default=None, foreign_key="product.id", index=True)
    variant_id: int | None = Field(default=None, foreign_key="variant.id", index=True)
    quantity: int = 1
    unit_price_cents: int | None = None
    title: str = ""
    sku: str | None = None
    selling_plan_gid: str | None = None  # LineItemSellingPlan.sellingPlanId: a subscription


class SellingPlan(SQLModel, table=True):
    """A product's subscription option (its `sellingPlanGroups`, synced with the catalog), with
    its interval and first pricing policy as Shopify gives them. A plan group often sells many
    products, so a plan gid is stored once per product; `interval_days` matches a cadence."""

    __tablename__ = "selling_plan"
    __table_args__ = (
        UniqueConstraint("product_id", "shopify_gid", name="uq_selling_plan_product_plan"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shopify_gid: str = Field(index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    group_name: str = ""
    name: str = ""  # as the shop names it: "Deliver every 30 days, save 10%"
    interval_unit: str | None = None  # DAY | WEEK | MONTH | YEAR
    interval_count: int | None = None
    interval_days: float | None = None
    adjustment_type: str | None = None  # PERCENTAGE | FIXED_AMOUNT | PRICE
    adjustment_percent: float | None = None  # PERCENTAGE: percent off
    adjustment_cents: int | None = None  # FIXED_AMOUNT: off each item; PRICE: the price
    position: int = 0  # the shop's order, groups then plans


class IntervalStat(SQLModel, table=True):
    """A product's learned per-unit reorder interval, in days."""

    __tablename__ = "interval_stat"

    product_id: int = Field(foreign_key="product.id", primary_key=True)
    p25: float
    median: float
    p75: float
    mean: float
    n: int
    computed_at: datetime = _utc(nullable=False, default=True)


class DueItem(SQLModel, table=True):
    """When one customer is due to reorder one product; indexed so 'who is due' is a range scan."""

    __tablename__ = "due_item"
    __table_args__ = (
        Index("ix_due_item_remind_at", "remind_at"),
        Index("ix_due_item_late_at", "late_at"),
        Index("ix_due_item_lapse_at", "lapse_at"),  # About To Lapse: who lapsed since
        # Primed For Cross-sell: who ordered N days ago
        Index("ix_due_item_last_purchased_at", "last_purchased_at"),
        Index("ix_due_item_due_at", "due_at"),  # the customers due per day ahead (Insights)
        Index("ix_due_item_computed_at", "computed_at", "customer_id"),  # profiles: re-dated since
        # the primary key leads with the customer: who is due for a product, and the foreign
        # key checks when a product or variant is deleted, need their own
        Index("ix_due_item_product_id", "product_id"),
        Index("ix_due_item_variant_id", "variant_id"),
    )

    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    product_id: int = Field(foreign_key="product.id", primary_key=True)
    variant_id: int | None = Field(default=None, foreign_key="variant.id")
    last_purchased_at: datetime = _utc(nullable=False)
    last_quantity: int
    interval_days: float
    interval_source: str
    due_at: datetime = _utc(nullable=False)
    remind_at: datetime = _utc(nullable=False)
    late_at: datetime = _utc(nullable=False)
    # the customer's About To Lapse point, on the row of the product that sets it (else NULL)
    lapse_at: datetime | None = _utc()
    computed_at: datetime = _utc(nullable=False, default=True)


class CrossSellPair(SQLModel, table=True):
    """A learned cross-sell pair: buyers of `product_id` also buy `paired_product_id` `lift`
    times as often as the store's customers at large. The nightly recompute rewrites the table,
    keeping a product's few best partners (`rank` 1 first) with at least the minimum support."""

    __tablename__ = "cross_sell_pair"
    __table_args__ = (Index("ix_cross_sell_pair_paired", "paired_product_id"),)

    product_id: int = Field(foreign_key="product.id", primary_key=True)
    paired_product_id: int = Field(foreign_key="product.id", primary_key=True)
    rank: int
    lift: float
    support: int  # customers who bought both
    computed_at: datetime = _utc(nullable=False, default=True)


class CrossSellPin(SQLModel, table=True):
    """The merchant's own partner for a product (Products page); it overrides the learned ones."""

    __tablename__ = "cross_sell_pin"
    __table_args__ = (Index("ix_cross_sell_pin_paired", "paired_product_id"),)

    product_id: int = Field(foreign_key="product.id", primary_key=True)
    paired_product_id: int = Field(foreign_key="product.id")
    pinned_at: datetime = _utc(nullable=False, default=True)


class CartLink(SQLModel, table=True):
    """A customer's secret cart token. Rotating revokes the old row and creates a new one."""

    __tablename__ = "cart_link"
    # at most one live link per customer, however many processes create or rotate links at once
    __table_args__ = (
        Index(
            "ux_cart_link_live_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        # Klaviyo profiles: whose links were made or revoked since the last run (covering, so
        # the range is read instead of every link in customer order)
        Index("ix_cart_link_created_at", "created_at", "customer_id"),
        Index("ix_cart_link_revoked_at", "revoked_at", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    token: str = Field(unique=True)
    created_at: datetime = _utc(nullable=False, default=True)
    revoked_at: datetime | None = _utc()


class CartEvent(SQLModel, table=True):
    """One shopper action on a cart, for the merchant's analytics."""

    __tablename__ = "cart_event"
    # covers the analytics report: a kind's events in a date range, with their cart and channel
    __table_args__ = (
        Index("ix_cart_event_kind_time", "kind", "occurred_at", "cart_link_id", "channel"),
        # the Analytics page's per-Moment figures: only visits from a Moment's link have one
        Index("ix_cart_event_moment_time", "moment", "occurred_at", "kind", "cart_link_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # both None on a featured product link's cart, which belongs to no one
    cart_link_id: int | None = Field(default=None, foreign_key="cart_link.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    # a featured cart's visit (one per page opened), its session key; None on personal carts
    featured_visit: str | None = Field(default=None, max_length=32)
    kind: str  # view | add | remove | quantity | checkout | snooze
    variant_id: int | None = None
    quantity: int | None = None
    value_cents: int | None = None
    currency: str | None = None
    channel: str | None = None
    moment: str | None = None  # the Moment whose event linked to the cart (`&m=`), if any
    occurred_at: datetime = _utc(nullable=False, default=True)


class YmalItem(SQLModel, table=True):
    """The merchant's 'You Might Also Like' list, the same on every cart."""

    __tablename__ = "ymal_item"

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", unique=True)
    position: int = 0


class SyncState(SQLModel, table=True):
    """Where a sync stream (orders, products) stands, so a restart resumes instead of redoing.

    `cursor` is the `updatedAt` up to which every record is stored; a sync restarts from it
    minus an overlap window, so a record updated during the last run is not missed.
    """

    __tablename__ = "sync_state"

    name: str = Field(primary_key=True)  # orders | products
    cursor: datetime | None = _utc()
    bulk_operation_id: str | None = None
    bulk_started_at: datetime | None = _utc()
    recompute_pending: bool = False
    running: bool = False
    progress_done: int = 0
    progress_total: int | None = None
    last_started_at: datetime | None = _utc()
    last_finished_at: datetime | None = _utc()
    last_status: str = ""  # ok | failed
    last_summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    last_error: str = ""


class PendingRelearn(SQLModel, table=True):
    """A product whose interval must be relearned and its buyers re-dated, by the worker.

    An order re-dates only its own customer; relearning moves every buyer's dates, so it is
    queued here and done in chunks by the `relearn` job. The row stays until the work is done,
    so a crash leaves it for the next run; `requests` counts orders since, so a row re-queued
    while a run was working is kept. No foreign key: a product deleted meanwhile is skipped.
    """

    __tablename__ = "pending_relearn"

    product_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    requests: int = 1
    queued_at: datetime = _utc(nullable=False, default=True)


class JobLease(SQLModel, table=True):
    """A job's lease: whoever holds an unexpired row runs the job; others skip this turn."""

    __tablename__ = "job_lease"

    name: str = Field(primary_key=True)
    holder: str
    token: int = Field(default=0, sa_type=BigInteger)
    """The fencing token: counts every acquisition, so a holder that lost the lease is told apart
    from the next one even when the row is the same."""
    acquired_at: datetime = _utc(nullable=False, default=True)
    expires_at: datetime = _utc(nullable=False)


class WebhookEvent(SQLModel, table=True):
    """A received Shopify webhook: stored first (deduplicated by event id), processed after.

    The payload is cleared once processed, so personal data does not linger in a queue.
    """

    __tablename__ = "webhook_event"
    __table_args__ = (Index("ix_webhook_event_status", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True)
    body_sha256: str | None = Field(default=None, unique=True, index=True)
    """The raw body's digest: the signature covers the body only, so a body resent under a new
    event id (or another topic) is the same delivery. None on rows stored before it existed."""
    topic: str
    shop_domain: str
    received_at: datetime = _utc(nullable=False, default=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = "pending"  # pending | done | failed | ignored
    attempts: int = 0
    processed_at: datetime | None = _utc()
    error: str = ""


class PrivacyExport(SQLModel, table=True):
    """A customer's stored data, gathered for a `customers/data_request`, for the merchant."""

    __tablename__ = "privacy_export"

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True)
    customer_gid: str | None = None
    email: str | None = None
    found: bool = False
    created_at: datetime = _utc(nullable=False, default=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class Snooze(SQLModel, table=True):
    """A shopper's "Remind me later": one product (or the whole cart when `product_id` is
    None) is left out of reminders until `until`."""

    __tablename__ = "snooze"
    __table_args__ = (
        Index("ix_snooze_customer_until", "customer_id", "until"),
        Index("ix_snooze_until", "until"),  # the due scan: snoozes that ended since its last run
        Index("ix_snooze_created_at", "created_at", "customer_id"),  # profiles: snoozed since
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    product_id: int | None = Field(default=None, foreign_key="product.id", index=True)
    until: datetime = _utc(nullable=False)
    created_at: datetime = _utc(nullable=False, default=True)


class OutboxMessage(SQLModel, table=True):
    """One message to one integration, written before it is sent (the outbox).

    `idempotency_key` is stable for a customer's due cycle, so a scan run twice writes nothing
    new and a retried delivery is recognised by providers that de-duplicate on it.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("integration", "idempotency_key", name="uq_outbox_integration_key"),
        # delivery claims one integration's rows of some kinds, oldest first
        Index("ix_outbox_claim", "status", "integration", "kind", "next_attempt_at"),
        Index("ix_outbox_customer", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    integration: str  # a provider's name, as the messaging registry lists it
    kind: str  # due | late | cart_url
    customer_id: int = Field(foreign_key="customer.id")
    idempotency_key: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = "pending"  # pending | sending | sent | failed | skipped
    attempts: int = 0
    next_attempt_at: datetime = _utc(nullable=False, default=True)
    claimed_by: str | None = None
    claimed_until: datetime | None = _utc()
    last_error: str = ""
    provider_status: int | None = None
    skip_reason: str = ""
    created_at: datetime = _utc(nullable=False, default=True)
    sent_at: datetime | None = _utc()


class IntegrationStatus(SQLModel, table=True):
    """Why delivery to an integration is stopped (a refused key), until the key changes."""

    __tablename__ = "integration_status"

    name: str = Field(primary_key=True)
    key_fingerprint: str = ""
    auth_failed_at: datetime | None = _utc()
    last_error: str = ""
    updated_at: datetime = _utc(nullable=False, default=True)


class AdminUser(SQLModel, table=True):
    """A merchant who may sign in to the dashboard; only an argon2 hash of the password is kept."""

    __tablename__ = "admin_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    password_hash: str
    created_at: datetime = _utc(nullable=False, default=True)


class AdminSession(SQLModel, table=True):
    """A signed-in browser. The token lives only in the browser; this row keeps its sha256."""

    __tablename__ = "admin_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    user_id: int = Field(foreign_key="admin_user.id", index=True)
    created_at: datetime = _utc(nullable=False, default=True)
    expires_at: datetime = _utc(nullable=False)
    revoked_at: datetime | None = _utc()


class LoginThrottle(SQLModel, table=True):
    """Recent failed sign-ins for one key (an email or a client address), so repeated guesses
    are slowed down across every web process."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True)
    failures: int = 0
    window_started_at: datetime = _utc(nullable=False, default=True)
    locked_until: datetime | None = _utc()


class AppSetting(SQLModel, table=True):
    """A setting the merchant changed in the dashboard; it overrides the `REPEATCART_*`
    environment value of the same name (`services.settings.effective`).

    Secrets (tokens, API keys) are stored Fernet-encrypted in `value`, with only their last four
    characters in clear for the dashboard to show.
    """

    __tablename__ = "app_setting"

    name: str = Field(primary_key=True)
    value: str = ""
    encrypted: bool = False
    last4: str = ""
    updated_at: datetime = _utc(nullable=False, default=True)
    updated_by: str = ""


class ImportRun(SQLModel, table=True):
    """One order-export CSV upload from the dashboard: its progress and per-row error report."""

    __tablename__ = "import_run"

    id: int | None = Field(default=None, primary_key=True)
    filename: str = ""
    status: str = "running"  # running | done | failed
    bytes_total: int = 0
    bytes_done: int = 0
    rows_done: int = 0
    orders_imported: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    error_count: int = 0
    summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    started_at: datetime = _utc(nullable=False, default=True)
    finished_at: datetime | None = _utc()
    failure: str = ""


class CartEventDay(SQLModel, table=True):
    """One closed UTC day of cart events, counted once (analytics read these, not the events).

    `channel` "" holds the day's totals, where a cart opened from two channels is one session;
    the other rows are per channel. Today is never stored: it is still being written.
    """

    __tablename__ = "cart_event_day"

    day: str = Field(primary_key=True)  # YYYY-MM-DD, UTC
    channel: str = Field(primary_key=True)
    views: int = 0
    checkouts: int = 0
    sessions: int = 0
    checkout_sessions: int = 0


class ProfileFingerprint(SQLModel, table=True):
    """A hash of the profile properties an integration last *accepted* for a customer.

    A profile is sent again only when what it would say changes, and the hash is written only
    after the provider accepted it, so a failed run leaves the next one everything to resend.
    """

    __tablename__ = "profile_fingerprint"

    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    integration: str = Field(primary_key=True)  # a provider's name, as the registry lists it
    fingerprint: str
    accepted_at: datetime = _utc(nullable=False, default=True)


class UniqueCode(SQLModel, table=True):
    """A customer's own discount code: reserved `pending` by the due scan, then `created` in
    Shopify (under `discount_gid`, valid until `ends_at`) or `failed` (`error`). One live
    (not `retired_at`) code per customer; a code is never given to anyone else."""

    __tablename__ = "unique_code"
    __table_args__ = (
        Index("ux_unique_code_live_customer", "customer_id", unique=True,
              sqlite_where=text("retired_at IS NULL"), postgresql_where=text("retired_at IS NULL")),
        Index("ix_unique_code_state", "state", "id"),
    )  # fmt: skip

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    code: str = Field(unique=True)
    state: str = "pending"  # pending | created | failed
    error: str = ""
    discount_gid: str = ""
    ends_at: datetime | None = _utc()
    reserved_at: datetime = _utc(nullable=False, default=True)
    settled_at: datetime | None = _utc()
    retired_at: datetime | None = _utc()
