"""A migrated database, the three messaging fakes and a small store built by hand: what the
dispatch tests (Due, Late, each Moment, the switches, a worker's stop) share. Its fixtures reach
every integration test through conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlmodel import Session, select

from services.cart.links import get_or_create_link
from services.core.config import Settings
from services.core.db import get_engine
from services.core.provider_http import RetryPolicy
from services.core.tables import (
    CartLink,
    Customer,
    DueItem,
    Order,
    OrderLine,
    OutboxMessage,
    Product,
    Shop,
    Variant,
)
from services.dispatch import DispatchSummary, deliver, scan_due
from services.engine.recompute import recompute_customers
from services.messaging import AttentiveClient, KlaviyoClient, MessagingClient, PostscriptClient
from tests.fakes.messaging import serve_messaging_fakes
from tests.fakes.provider import ProviderFake

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
PUBLIC = "https://carts.example.com"
BOUGHT = NOW - timedelta(days=30)  # due (30-day interval, 3 lead days) since 3 days ago
PROVIDERS = ("klaviyo", "postscript", "attentive")


# --- fakes and settings ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[ProviderFake, str]]]:
    with serve_messaging_fakes() as served:
        yield served


@dataclass
class World:
    """A migrated database, the three fakes and settings pointing at them."""

    url: str
    fakes: dict[str, ProviderFake]
    urls: dict[str, str]
    overrides: dict[str, object] = field(default_factory=dict)

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": self.url,
            "public_url": PUBLIC,
            "klaviyo_api_key": self.fakes["klaviyo"].api_key,
            "klaviyo_base_url": self.urls["klaviyo"],
            "postscript_api_key": self.fakes["postscript"].api_key,
            "postscript_base_url": self.urls["postscript"],
            "attentive_api_key": self.fakes["attentive"].api_key,
            "attentive_base_url": self.urls["attentive"],
            "delivery_backoff_seconds": 60,
            **self.overrides,
            **overrides,
        }
        return Settings(**values)  # type: ignore[arg-type]

    def clients(self, settings: Settings | None = None, **options) -> list[MessagingClient]:
        settings = settings or self.settings()
        options.setdefault("timeout", 2.0)
        options.setdefault(
            "retry", RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02, sleep=no_sleep)
        )
        made: list[MessagingClient] = []
        if settings.secret("klaviyo_api_key"):
            made.append(
                KlaviyoClient(
                    settings.secret("klaviyo_api_key"), settings.klaviyo_base_url, **options
                )
            )
        if settings.secret("postscript_api_key"):
            made.append(
                PostscriptClient(
                    settings.secret("postscript_api_key"), settings.postscript_base_url, **options
                )
            )
        if settings.secret("attentive_api_key"):
            made.append(
                AttentiveClient(
                    settings.secret("attentive_api_key"), settings.attentive_base_url, **options
                )
            )
        return made

    def scan(self, at: datetime = NOW, **overrides: object) -> DispatchSummary:
        with Session(get_engine(self.url), expire_on_commit=False) as session:
            return scan_due(session, self.settings(**overrides), at)

    def deliver(self, at: datetime = NOW, **overrides: object) -> DispatchSummary:
        settings = self.settings(**overrides)
        clients = self.clients(settings)
        try:
            return deliver(settings, clients=clients, clock=lambda: at)
        finally:
            for client in clients:
                client.close()

    def outbox(self, **where: object) -> list[OutboxMessage]:
        with Session(get_engine(self.url)) as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            for name, value in where.items():
                query = query.where(getattr(OutboxMessage, name) == value)
            return list(session.exec(query).all())

    def events(self, name: str) -> list[dict]:
        return self.fakes[name].events

    def sweep(self, at: datetime, **overrides: object) -> DispatchSummary:
        """A full scan (the look-back window swept again), as the nightly run does."""
        with Session(get_engine(self.url), expire_on_commit=False) as session:
            return scan_due(session, self.settings(**overrides), at, full=True)

    def moment_events(self, name: str, metric: str, postscript_type: str) -> list[dict]:
        """What one fake received of one Moment, by the name that provider knows it by: the
        Klaviyo metric (Attentive's type is the same) or the Postscript type."""
        found = []
        for body in self.events(name):
            if name == "klaviyo":
                attributes = body["data"]["attributes"]
                if attributes["metric"]["data"]["attributes"]["name"] == metric:
                    found.append(attributes)
            elif body["type"] == (postscript_type if name == "postscript" else metric):
                found.append(body)
        return found


def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
def world(database_url: str, servers) -> Iterator[World]:
    for fake, _url in servers.values():
        fake.reset()
    yield World(
        database_url,
        {name: fake for name, (fake, _url) in servers.items()},
        {name: url for name, (_fake, url) in servers.items()},
    )
    for fake, _url in servers.values():
        fake.wait_idle(10)


# --- a small store, built by hand -------------------------------------------------------------

_ids = count(1000)


class Store:
    """Products, customers and due rows written directly, so each test says what it means."""

    def __init__(self, session: Session) -> None:
        self.session = session
        session.add(Shop(shop_domain="evergreen.myshopify.com", name="Evergreen", currency="USD"))
        session.commit()

    def product(
        self,
        title: str,
        price: int = 2400,
        *,
        status: str = "active",
        image: str | None = None,
        variant_title: str = "Default Title",
    ) -> tuple[Product, Variant]:
        pid, vid = 7_000_000_000_000 + next(_ids), 40_000_000_000_000 + next(_ids)
        handle = title.lower().replace(" ", "-")
        product = Product(
            shopify_gid=f"gid://shopify/Product/{pid}",
            shopify_id=pid,
            title=title,
            handle=handle,
            status=status,
            image_url=image,
        )
        self.session.add(product)
        self.session.flush()
        variant = Variant(
            shopify_gid=f"gid://shopify/ProductVariant/{vid}",
            shopify_id=vid,
            product_id=product.id,
            title=variant_title,
            price_cents=price,
        )
        self.session.add(variant)
        self.session.commit()
        return product, variant

    def customer(
        self,
        email: str | None = "ava@example.com",
        phone: str | None = "(415) 555-2671",
        gid: int | None = 5551234,
    ) -> Customer:
        customer = Customer(
            email=email,
            phone=phone,
            shopify_gid=f"gid://shopify/Customer/{gid}" if gid else None,
            first_name="Ava",
        )
        self.session.add(customer)
        self.session.commit()
        return customer

    def due(
        self,
        customer: Customer,
        item: tuple[Product, Variant],
        bought: datetime = BOUGHT,
        *,
        interval: float = 30,
        late: float = 40,
        quantity: int = 1,
    ) -> DueItem:
        product, variant = item
        due_at = bought + timedelta(days=interval * quantity)
        row = DueItem(
            customer_id=customer.id,
            product_id=product.id,
            variant_id=variant.id,
            last_purchased_at=bought,
            last_quantity=quantity,
            interval_days=interval,
            interval_source="product",
            due_at=due_at,
            remind_at=due_at - timedelta(days=3),
            late_at=bought + timedelta(days=late * quantity),
            computed_at=bought,
        )
        self.session.add(row)
        self.session.commit()
        return row

    def link(self, customer: Customer) -> CartLink:
        link = get_or_create_link(self.session, customer.id)
        self.session.commit()
        return link


@pytest.fixture
def store(session: Session) -> Store:
    return Store(session)


def place_order(
    session: Session,
    customer: Customer,
    items: list[tuple[Product, Variant]],
    at: datetime,
    *,
    plan: str | None = None,
    cancelled: bool = False,
    recompute: bool = True,
) -> None:
    """A paid order of `items` (bought with selling plan `plan` when given), then, unless
    history is being built in bulk, the recompute a sync runs after storing it."""
    order = Order(
        shopify_gid=f"gid://shopify/Order/{next(_ids)}",
        customer_id=customer.id,
        processed_at=at,
        updated_at=at,
        cancelled_at=at if cancelled else None,
        financial_status="paid",
        total_cents=sum(variant.price_cents or 0 for _product, variant in items),
    )
    session.add(order)
    session.flush()
    for product, variant in items:
        session.add(
            OrderLine(
                order_id=order.id,
                product_id=product.id,
                variant_id=variant.id,
                selling_plan_gid=plan,
            )
        )
    session.flush()
    if recompute:
        recompute_customers(session, [customer.id], at)
    session.commit()
