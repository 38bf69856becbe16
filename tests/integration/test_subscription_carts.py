"""Subscription carts on SQLite and PostgreSQL, against the fake Storefront and fake Klaviyo over
real HTTP: the Storefront client (a cart, a null cart, userErrors, 429 then a cart, a refused
token), the subscription link only for carts with a product that has a selling plan (profile
property and Due event property), the cart's plans and prices, and Check Out's fallbacks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import pytest
import time_machine
from cryptography.fernet import Fernet
from sqlmodel import Session, select

from services.cart.links import (
    CART_ATTRIBUTE,
    CHANNEL_ATTRIBUTE,
    MOMENT_ATTRIBUTE,
    cart_url,
    checkout_attributes,
    checkout_permalink,
    get_or_create_link,
)
from services.cart.page import load_cart
from services.cart.subscriptions import (
    FALLBACK_NOTE,
    PlanOffer,
    interval_label,
    subscription_checkout,
    subscription_price,
)
from services.core.config import Settings
from services.core.provider_http import ProviderError, RetryPolicy
from services.core.tables import (
    AppSetting,
    Customer,
    DueItem,
    OutboxMessage,
    Product,
    SellingPlan,
    Shop,
    Variant,
)
from services.dispatch import scan_due, sync_profiles
from services.dispatch.payloads import wire_body
from services.messaging import KlaviyoClient
from services.messaging.payloads import SUBSCRIPTION_CART_URL_PROPERTY
from services.settings.store import save_store, store_view
from services.shopify.storefront import StorefrontClient, StorefrontLine
from tests.fakes.klaviyo import FakeKlaviyo
from tests.fakes.shopify_storefront import FakeStorefront

SHOP = "evergreen.myshopify.com"
TOKEN = "storefront_evergreen_1234"
PUBLIC = "https://carts.example.com"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
_ids = count(5000)


@pytest.fixture(scope="module")
def storefront() -> Iterator[FakeStorefront]:
    with FakeStorefront(shop=SHOP, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def fake(storefront: FakeStorefront) -> FakeStorefront:
    storefront.carts.clear()
    storefront.requests.clear()
    return storefront


def client(fake: FakeStorefront, token: str = TOKEN, sleeps: list[float] | None = None):
    recorded = sleeps if sleeps is not None else []
    policy = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02, sleep=recorded.append)
    return StorefrontClient(SHOP, token, "2026-10", fake.base_url, timeout=5, policy=policy)


def settings(database_url: str, fake: FakeStorefront | None, **values: Any) -> Settings:
    defaults: dict[str, Any] = {
        "database_url": database_url,
        "public_url": PUBLIC,
        "shopify_shop": SHOP,
        "shopify_storefront_token": TOKEN if fake is not None else "",
        "shopify_storefront_base_url": fake.base_url if fake is not None else "",
    }
    return Settings(**{**defaults, **values})


def add_plan(
    session: Session,
    product: Product,
    *,
    days: int = 30,
    percent: float | None = 10,
    position: int = 0,
) -> SellingPlan:
    """A selling plan as the catalog sync stores one: every `days` days, `percent` off."""
    plan = SellingPlan(
        shopify_gid=f"gid://shopify/SellingPlan/{next(_ids)}",
        product_id=product.id,
        group_name="Subscribe & save",
        name=f"Deliver every {days} days, save {percent}%",
        interval_unit="DAY",
        interval_count=days,
        interval_days=days,
        adjustment_type="PERCENTAGE" if percent is not None else None,
        adjustment_percent=percent,
        position=position,
    )
    session.add(plan)
    session.commit()
    return plan


class Store:
    """A shop, products and customers with due rows, written directly."""

    def __init__(self, session: Session) -> None:
        self.session = session
        session.add(Shop(shop_domain=SHOP, name="Evergreen", currency="USD"))
        session.commit()

    def product(
        self, title: str, price: int = 2400, *, only: bool = False
    ) -> tuple[Product, Variant]:
        pid, vid = 7_000_000_000_000 + next(_ids), 40_000_000_000_000 + next(_ids)
        product = Product(
            shopify_gid=f"gid://shopify/Product/{pid}",
            shopify_id=pid,
            title=title,
            handle=title.lower().replace(" ", "-"),
            status="active",
            subscription_only=only,
        )
        self.session.add(product)
        self.session.flush()
        variant = Variant(
            shopify_gid=f"gid://shopify/ProductVariant/{vid}",
            shopify_id=vid,
            product_id=product.id,
            title="Default Title",
            price_cents=price,
        )
        self.session.add(variant)
        self.session.commit()
        return product, variant

    def customer(self, email: str, *items: tuple[Product, Variant]) -> tuple[Customer, str]:
        customer = Customer(email=email, shopify_gid=f"gid://shopify/Customer/{next(_ids)}")
        self.session.add(customer)
        self.session.commit()
        assert customer.id is not None
        token = get_or_create_link(self.session, customer.id, NOW - timedelta(days=40)).token
        for product, variant in items:
            self.session.add(
                DueItem(
                    customer_id=customer.id,
                    product_id=product.id,
                    variant_id=variant.id,
                    last_purchased_at=NOW - timedelta(days=28),
                    last_quantity=2,
                    interval_days=30,
                    interval_source="product",
                    due_at=NOW + timedelta(days=2),
                    remind_at=NOW - timedelta(hours=1),
                    late_at=NOW + timedelta(days=12),
                    computed_at=NOW - timedelta(days=28),
                )
            )
        self.session.commit()
        return customer, token


@pytest.fixture
def store(session: Session) -> Store:
    return Store(session)


def seed(fake: FakeStorefront, item: tuple[Product, Variant], *plans: SellingPlan) -> None:
    product, variant = item
    fake.add_variant(
        variant.shopify_gid or "",
        product.shopify_gid or "",
        tuple(plan.shopify_gid for plan in plans),
        subscription_only=product.subscription_only,
    )


# --- the Storefront client against the fake ------------------------------------------------


def test_cart_create_sends_lines_plans_discount_and_attributes(fake, store, session) -> None:
    vitamins, tea = store.product("Vitamins"), store.product("Tea")
    plan = add_plan(session, vitamins[0])
    seed(fake, vitamins, plan)
    seed(fake, tea)
    lines = [
        StorefrontLine(vitamins[1].shopify_gid or "", 2, plan.shopify_gid),
        StorefrontLine(tea[1].shopify_gid or "", 1),
    ]
    attributes = checkout_attributes(42, "klaviyo", "due")
    with client(fake) as storefront:
        url = storefront.create_cart(lines, discount_codes=["BACK10"], attributes=attributes)
    (cart,) = fake.carts
    assert url == cart.checkout_url and url.startswith(f"https://{SHOP}/cart/c/")
    assert "?key=" in url
    assert cart.lines == [
        {
            "merchandiseId": vitamins[1].shopify_gid,
            "quantity": 2,
            "sellingPlanId": plan.shopify_gid,
        },
        {"merchandiseId": tea[1].shopify_gid, "quantity": 1},
    ]
    assert cart.discount_codes == ["BACK10"]
    assert cart.attributes == {
        CART_ATTRIBUTE: "42",
        CHANNEL_ATTRIBUTE: "klaviyo",
        MOMENT_ATTRIBUTE: "due",
    }


def test_a_subscription_only_product_without_its_plan_is_a_null_cart(fake, store, session) -> None:
    box = store.product("Coffee Club", only=True)
    seed(fake, box, add_plan(session, box[0]))
    with client(fake) as storefront, pytest.raises(ProviderError, match="returned no cart"):
        storefront.create_cart([StorefrontLine(box[1].shopify_gid or "", 1)])
    assert fake.carts == []


def test_user_errors_are_raised_with_shopifys_message(fake, store, session) -> None:
    vitamins, tea = store.product("Vitamins"), store.product("Tea")
    seed(fake, vitamins, add_plan(session, vitamins[0]))
    tea_plan = add_plan(session, tea[0])
    seed(fake, tea, tea_plan)
    wrong_plan = StorefrontLine(vitamins[1].shopify_gid or "", 1, tea_plan.shopify_gid)
    with client(fake) as storefront, pytest.raises(ProviderError) as refused:
        storefront.create_cart([wrong_plan])
    assert "is not available for this merchandise" in str(refused.value)
    unknown = StorefrontLine("gid://shopify/ProductVariant/1", 1)
    with client(fake) as storefront, pytest.raises(ProviderError, match="does not exist"):
        storefront.create_cart([unknown])
    assert fake.carts == []


def test_a_429_is_retried_after_its_retry_after_then_the_cart_is_made(fake, store) -> None:
    tea = store.product("Tea")
    seed(fake, tea)
    fake.fail_next(429, retry_after=1)
    fake.fail_next(503)
    sleeps: list[float] = []
    with client(fake, sleeps=sleeps) as storefront:
        url = storefront.create_cart([StorefrontLine(tea[1].shopify_gid or "", 1)])
    assert url == fake.carts[0].checkout_url
    assert [seen.status for seen in fake.requests] == [429, 503, 200]
    assert len(sleeps) == 2 and sleeps[0] >= 1  # Retry-After honoured


def test_a_refused_token_is_an_auth_failure_that_names_no_token(fake, store) -> None:
    tea = store.product("Tea")
    seed(fake, tea)
    with (
        client(fake, token="wrong_token_5678") as storefront,
        pytest.raises(ProviderError) as refused,
    ):
        storefront.create_cart([StorefrontLine(tea[1].shopify_gid or "", 1)])
    assert refused.value.auth_failed and "token was refused" in str(refused.value)
    assert "wrong_5678" not in str(refused.value)
    assert len(fake.requests) == 1  # a refusal is not retried


def test_no_token_is_a_clear_error_before_any_request(fake) -> None:
    with pytest.raises(ProviderError, match="REPEATCART_SHOPIFY_STOREFRONT_TOKEN"):
        StorefrontClient(SHOP, "", "2026-10", fake.base_url)
    assert fake.requests == []


# --- Check Out: the Storefront cart, or the permalink with a note -------------------------


def _checkout(store: Store, session: Session, fake: FakeStorefront, database_url: str, **kw):
    vitamins = store.product("Vitamins")
    plan = add_plan(session, vitamins[0])
    seed(fake, vitamins, plan)
    permalink = checkout_permalink(SHOP, [(vitamins[1].shopify_id or 0, 1)], cart_id=7)
    lines = [StorefrontLine(vitamins[1].shopify_gid or "", 1, plan.shopify_gid)]
    return permalink, subscription_checkout(
        lines, permalink, attributes=checkout_attributes(7, "email", None), **kw
    )


def test_checkout_goes_to_the_storefront_carts_url(fake, store, session, database_url) -> None:
    permalink, result = _checkout(
        store, session, fake, database_url, settings=settings(database_url, fake)
    )
    assert result.subscribed and result.url == fake.carts[0].checkout_url != permalink
    assert result.note == ""


@pytest.mark.parametrize("failure", ["no token", "refused token", "server error"])
def test_checkout_falls_back_to_the_permalink_with_a_note(
    fake, store, session, database_url, failure
) -> None:
    if failure == "no token":
        config = settings(database_url, None)
    elif failure == "refused token":
        config = settings(database_url, fake, shopify_storefront_token="not_the_token")
    else:
        fake.fail_next(500, times=3)
        config = settings(database_url, fake)
    permalink, result = _checkout(store, session, fake, database_url, settings=config)
    assert (result.url, result.subscribed, result.note) == (permalink, False, FALLBACK_NOTE)
    assert fake.carts == []


def test_the_storefront_token_is_saved_encrypted_and_shown_by_last4(session, database_url) -> None:
    base = Settings(database_url=database_url, secret_key=Fernet.generate_key().decode())
    values = {
        "shopify_shop": SHOP,
        "shopify_api_version": "2026-10",
        "public_url": PUBLIC,
        "shopify_token": "",
        "shopify_webhook_secret": "",
        "shopify_storefront_token": TOKEN,
    }
    assert save_store(session, values, settings=base).ok
    session.commit()
    view = store_view(session, base)
    assert (view.storefront_token.last4, view.storefront_token.source) == ("1234", "saved")
    row = session.get(AppSetting, "shopify_storefront_token")
    assert row is not None and row.encrypted and TOKEN not in row.value
    # a blank field keeps the saved token
    assert save_store(session, {**values, "shopify_storefront_token": ""}, settings=base).ok
    session.commit()
    assert store_view(session, base).storefront_token.last4 == "1234"


# --- the cart's plans and prices -------------------------------------------------------------


def test_only_the_subscription_cart_reads_plans_first_plan_by_position(store, session) -> None:
    vitamins, tea = store.product("Vitamins", 2499), store.product("Tea", 1250)
    add_plan(session, vitamins[0], days=60, percent=5, position=1)
    first = add_plan(session, vitamins[0], days=30, percent=15, position=0)
    _customer, token = store.customer("ada@example.com", vitamins, tea)
    plain = load_cart(session, token, NOW)
    assert plain is not None and plain.plans == {}
    view = load_cart(session, token, NOW, subscription=True)
    assert view is not None and set(view.plans) == {vitamins[0].id}
    offer = view.plans[vitamins[0].id]
    assert offer.gid == first.shopify_gid and offer.label == "Delivered every 30 days"
    assert subscription_price(2499, offer) == 2124  # 24.99 less 15 %, rounded half up
    assert view.variant_gids[vitamins[1].id] == vitamins[1].shopify_gid


def _offer(kind: str | None, percent: float | None = None, cents: int | None = None, **kw):
    values: dict[str, Any] = {"interval_unit": "MONTH", "interval_count": 1, **kw}
    return PlanOffer(
        1,
        "gid",
        "Monthly",
        adjustment_type=kind,
        adjustment_percent=percent,
        adjustment_cents=cents,
        **values,
    )


def test_the_plans_adjustment_and_interval_as_the_cart_shows_them() -> None:
    assert subscription_price(1999, _offer("PERCENTAGE", 10)) == 1799  # 17.991 → 17.99
    assert subscription_price(1250, _offer("PERCENTAGE", 12.5)) == 1094  # 1093.75 → 10.94
    assert subscription_price(1000, _offer("FIXED_AMOUNT", cents=250)) == 750
    assert subscription_price(200, _offer("FIXED_AMOUNT", cents=250)) == 0
    assert subscription_price(1000, _offer("PRICE", cents=899)) == 899
    assert subscription_price(1000, _offer(None)) == 1000
    assert interval_label(_offer(None)) == "Delivered every month"
    assert interval_label(_offer(None, interval_unit="WEEK", interval_count=2)) == (
        "Delivered every 2 weeks"
    )
    assert interval_label(_offer(None, interval_unit=None)) == "Monthly"


# --- the subscription link: only for carts with a product that has a plan --------------------


def test_cart_url_with_the_subscription_flag() -> None:
    assert cart_url("tok", PUBLIC, channel="klaviyo", subscription=True) == (
        f"{PUBLIC}/cart/tok?ch=klaviyo&sub=1"
    )
    assert "sub=" not in cart_url("tok", PUBLIC, channel="klaviyo")


@pytest.fixture(scope="module")
def klaviyo() -> Iterator[tuple[FakeKlaviyo, str]]:
    fake = FakeKlaviyo()
    with fake.serve() as server:
        yield fake, server.url


def _klaviyo_settings(database_url: str, klaviyo: tuple[FakeKlaviyo, str]) -> Settings:
    fake, url = klaviyo
    return settings(database_url, None, klaviyo_api_key=fake.api_key, klaviyo_base_url=url)


def _sync(database_url: str, klaviyo: tuple[FakeKlaviyo, str]) -> None:
    fake, url = klaviyo
    policy = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.02, sleep=lambda _s: None)
    with time_machine.travel(NOW, tick=False):
        sync_profiles(
            _klaviyo_settings(database_url, klaviyo),
            client=KlaviyoClient(fake.api_key, url, timeout=5.0, retry=policy),
            full=True,
        )


def test_the_profile_property_only_for_carts_with_a_plan(store, session, database_url, klaviyo):
    fake, _url = klaviyo
    fake.reset()
    vitamins, tea = store.product("Vitamins"), store.product("Tea")
    _ada, ada_token = store.customer("ada@example.com", vitamins, tea)
    _ben, _ben_token = store.customer("ben@example.com", tea)
    _sync(database_url, klaviyo)  # no plan anywhere: the property is never sent
    assert SUBSCRIPTION_CART_URL_PROPERTY not in (fake.properties_of(email="ada@example.com") or {})
    add_plan(session, vitamins[0])
    _sync(database_url, klaviyo)
    ada = fake.properties_of(email="ada@example.com") or {}
    ben = fake.properties_of(email="ben@example.com") or {}
    assert ada[SUBSCRIPTION_CART_URL_PROPERTY] == f"{PUBLIC}/cart/{ada_token}?ch=klaviyo&sub=1"
    assert ben[SUBSCRIPTION_CART_URL_PROPERTY] == ""  # emptied: nothing to subscribe to


def test_the_due_event_carries_the_subscription_link_only_with_a_plan(
    store, session, database_url, klaviyo
) -> None:
    vitamins, tea = store.product("Vitamins"), store.product("Tea")
    add_plan(session, vitamins[0])
    ada, ada_token = store.customer("ada@example.com", vitamins)
    ben, _ben_token = store.customer("ben@example.com", tea)
    config = _klaviyo_settings(database_url, klaviyo)
    scan_due(session, config, NOW, integrations=["klaviyo"], full=True)
    rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "due")).all()
    by_customer = {row.customer_id: row for row in rows}
    properties = {
        cid: wire_body("klaviyo", "due", row.payload)["data"]["attributes"]["properties"]
        for cid, row in by_customer.items()
    }
    assert properties[ada.id][SUBSCRIPTION_CART_URL_PROPERTY] == (
        f"{PUBLIC}/cart/{ada_token}?ch=klaviyo&m=due&sub=1"
    )
    assert SUBSCRIPTION_CART_URL_PROPERTY not in properties[ben.id]


def test_the_fake_is_strict_about_the_schema_the_token_and_the_version(fake) -> None:
    endpoint = f"{fake.base_url}/api/2026-10/graphql.json"
    headers = {"X-Shopify-Storefront-Access-Token": TOKEN, "Content-Type": "application/json"}
    misspelt = "mutation { cartCreate(input: {}) { cart { checkoutURL } userErrors { message } } }"
    reply = httpx.post(endpoint, json={"query": misspelt}, headers=headers)
    assert reply.status_code == 200 and "checkoutURL" in reply.json()["errors"][0]["message"]
    assert "data" not in reply.json()
    bad_line = (
        "mutation { cartCreate(input: {lines: [{quantity: 1}]}) { cart { id } "
        "userErrors { message } } }"
    )
    assert httpx.post(endpoint, json={"query": bad_line}, headers=headers).json()["errors"]
    ok = "mutation { cartCreate(input: {}) { cart { id } userErrors { message } } }"
    assert httpx.post(endpoint, json={"query": ok}).status_code == 401
    old = f"{fake.base_url}/api/2019-04/graphql.json"
    assert httpx.post(old, json={"query": ok}, headers=headers).status_code == 404


def test_a_graphql_error_and_an_unknown_version_are_clear_errors(fake, store) -> None:
    tea = store.product("Tea")
    seed(fake, tea)
    line = StorefrontLine(tea[1].shopify_gid or "", 1)
    wrong_version = StorefrontClient(SHOP, TOKEN, "2019-04", fake.base_url)
    with wrong_version, pytest.raises(ProviderError, match="no Storefront API at this address"):
        wrong_version.create_cart([line])
    with client(fake) as storefront, pytest.raises(ProviderError, match="query failed"):
        storefront._execute("mutation { cartCreate { cart { nope } } }", {})
