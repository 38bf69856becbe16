"""A real store, end to end, as a new merchant meets it: no demo, the fake Shopify over HTTP.

From a fresh database and an admin made with `repeatcart create-admin`: sign in, connect the
store on the Store page, Sync now, open a due customer's cart, Check Out to the shop's own
permalink (intercepted), `repeatcart dispatch` a Due event whose cart URL opens the same cart,
then a signed `orders/create` webhook takes the product out of Due to Reorder and no Late event
follows. Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import func
from sqlmodel import Session, select

from services.core.clock import utcnow
from services.core.config import PROJECT_ROOT, Settings
from services.core.db import get_engine
from services.core.tables import (
    CartLink,
    Customer,
    DueItem,
    Order,
    OrderLine,
    Product,
    SyncState,
    Variant,
    WebhookEvent,
)
from services.dispatch import run_dispatch
from tests.conftest import new_postgres_database
from tests.e2e.app_process import SECRET_KEY, VIEWPORTS, app_env, serve_app
from tests.e2e.conftest import screenshot, wait_for
from tests.fakes.klaviyo import FakeKlaviyo
from tests.fakes.shopify import FakeShopify, order_webhook_payload, send_webhook

pytestmark = [pytest.mark.e2e, pytest.mark.own_app]

SHOP = "northwind-goods.myshopify.com"
TOKEN = "shpat_northwind_e2e_token"
WEBHOOK_SECRET = "northwind-webhook-secret"
KLAVIYO_KEY = "pk_northwind_e2e"
ADMIN = "owner@northwind-goods.test"
PASSWORD = "correct horse battery staple"
DUE_EMAIL = "ada@northwind-goods.test"


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind: no schema, no demo."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with new_postgres_database("repeatcart_e2e") as url:
        yield url


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    """The store: two products, a customer due for vitamins (every 30 days, last 29 days ago)
    and one who bought tea last week."""
    with FakeShopify(
        shop=SHOP,
        token=TOKEN,
        shop_name="Northwind Goods",
        currency="USD",
        primary_domain="shop.northwind-goods.test",
        restore_rate=50_000,
    ) as fake:
        vitamins = fake.add_product("Daily Vitamins", [("60 capsules", "VIT-60", "24.00")])
        tea = fake.add_product("Green Tea", [("Loose leaf", "TEA-LL", "12.50")])
        ada = fake.add_customer(email=DUE_EMAIL, first_name="Ada")
        ben = fake.add_customer(email="ben@northwind-goods.test", first_name="Ben")
        now = utcnow()
        for days in (89, 59, 29):
            fake.add_order(
                [vitamins["variants"][0]], customer=ada, created_at=now - timedelta(days)
            )
        fake.add_order([tea["variants"][0]], customer=ben, created_at=now - timedelta(days=7))
        yield fake


@pytest.fixture
def klaviyo() -> Iterator[tuple[FakeKlaviyo, str]]:
    """The fake Klaviyo and its base URL."""
    fake = FakeKlaviyo(api_key=KLAVIYO_KEY)
    with fake.serve() as server:
        yield fake, server.url


def repeatcart(env: dict[str, str], *args: str, stdin: str = "") -> str:
    """Run the `repeatcart` command as an operator would; fails the test with its output."""
    done = subprocess.run(
        ["repeatcart", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"repeatcart {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/login")
    expect(page.get_by_test_id("login-ready")).to_be_attached()
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("admin-frame")).to_be_visible()


def connect_store(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/store")
    expect(page.get_by_test_id("store-form")).to_be_visible()
    page.get_by_test_id("field-shopify_shop").fill(SHOP)
    page.get_by_test_id("field-shopify_token").fill(TOKEN)
    page.get_by_test_id("field-shopify_webhook_secret").fill(WEBHOOK_SECRET)
    page.get_by_test_id("field-public_url").fill(base_url)
    page.get_by_test_id("save-store").click()
    expect(page.get_by_test_id("store-message")).to_have_text("Saved.")
    # Save asks Shopify who the shop is, and says so
    expect(page.get_by_test_id("connection-result")).to_contain_text(
        f"Connected to Northwind Goods ({SHOP})"
    )
    connected = page.get_by_test_id("connected-shop")
    expect(connected).to_contain_text(f"Connected to Northwind Goods ({SHOP})")
    expect(connected).to_contain_text("shop.northwind-goods.test · USD · America/New_York")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "admin-store-real-desktop")


def sync_now(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/sync")
    expect(page.get_by_test_id("sync-card-products")).to_be_visible()
    for kind in ("products", "orders"):
        page.get_by_test_id(f"sync-now-{kind}").click()
        expect(page.get_by_test_id(f"sync-finished-{kind}")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id(f"sync-error-{kind}")).to_have_count(0)
        # once it has finished, the card says how it went rather than "Sync started."
        expect(page.get_by_test_id(f"sync-message-{kind}")).to_have_count(0)


def due_titles(page: Page) -> list[str]:
    return page.get_by_test_id("section-due").get_by_test_id("cart-item").all_inner_texts()


def test_a_real_store_from_connection_to_reorder(
    fresh_database: str,
    shopify: FakeShopify,
    klaviyo: tuple[FakeKlaviyo, str],
    browser: Browser,
    tmp_path: Path,
) -> None:
    klaviyo_fake, klaviyo_url = klaviyo
    extra = {
        # where the app is reached is only known once it runs: the Store page saves it, and
        # everything (the CLI included) must follow the saved value, not this one
        "REPEATCART_PUBLIC_URL": "http://localhost:3000",
        "REPEATCART_SHOPIFY_BASE_URL": shopify.base_url,
        "REPEATCART_KLAVIYO_API_KEY": KLAVIYO_KEY,
        "REPEATCART_KLAVIYO_BASE_URL": klaviyo_url,
    }
    env = app_env(fresh_database, "http://localhost:3000", extra)
    repeatcart(env, "migrate")
    assert "created" in repeatcart(env, "create-admin", ADMIN, stdin=PASSWORD + "\n")
    with serve_app(tmp_path, fresh_database, extra) as base_url:
        context = browser.new_context(viewport=VIEWPORTS["desktop"])
        page = context.new_page()
        page.set_default_timeout(20_000)
        sign_in(page, base_url)
        connect_store(page, base_url)
        sync_now(page, base_url)
        phone_screens(browser, base_url, "admin-store-real", "/admin/store")
        screenshot(page, "admin-sync-real-desktop")
        phone_screens(browser, base_url, "admin-sync-real", "/admin/sync")

        # the due customer's cart, through the link the CLI prints: at the saved public URL
        cart = repeatcart(env, "cart-link", DUE_EMAIL).strip()
        assert cart.startswith(f"{base_url}/cart/")
        page.goto(cart)
        expect(page.get_by_role("heading", name=re.compile("Welcome back, Ada"))).to_be_visible()
        expect(page.get_by_test_id("section-due").get_by_test_id("cart-item")).to_have_count(1)
        assert "Daily Vitamins" in due_titles(page)[0]
        screenshot(page, "cart-real-desktop")
        phone_cart(browser, cart)

        # Check Out leaves for the shop itself: catch the navigation there
        checkouts: list[str] = []

        def at_the_shop(route: Route) -> None:
            checkouts.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body="<h1>Shopify checkout</h1>")

        page.route(f"https://{SHOP}/**", at_the_shop)
        page.get_by_test_id("cart-sidebar").get_by_role("button", name="Check Out").click()
        expect(page.get_by_role("heading", name="Shopify checkout")).to_be_visible()
        variant_id = vitamin_variant_id(fresh_database)
        link_id = cart_link_id(fresh_database)
        assert [unquote(url) for url in checkouts] == [
            f"https://{SHOP}/cart/{variant_id}:1"
            f"?attributes[_repeatcart_cart]={link_id}&attributes[_repeatcart_channel]=direct"
        ]

        # `repeatcart dispatch` tells Klaviyo; the event's cart URL opens the same cart
        summary = repeatcart(env, "dispatch")
        assert "klaviyo: queued" in summary
        due_events = events_named(klaviyo_fake, "Repeat - Due To Replenish")
        assert len(due_events) == 1
        properties = due_events[0]["data"]["attributes"]["properties"]
        assert properties["reorderable_product_titles"] == ["Daily Vitamins"]
        event_cart = properties["Repeat Cart URL"]
        assert event_cart == f"{cart}?ch=klaviyo&m=due"  # attributed to the Moment that sent it
        page.goto(event_cart)
        expect(page.get_by_role("heading", name=re.compile("Welcome back, Ada"))).to_be_visible()
        assert "Daily Vitamins" in due_titles(page)[0]

        # she reorders: Shopify's signed webhook takes the product out of Due to Reorder
        order = shopify.add_order(
            [shopify_variant(shopify, "VIT-60")],
            customer=next(
                customer
                for customer in shopify.customers.values()
                if (customer["defaultEmailAddress"] or {}).get("emailAddress") == DUE_EMAIL
            ),
        )
        response = send_webhook(
            f"{base_url}/webhooks/shopify",
            "orders/create",
            order_webhook_payload(order),
            secret=WEBHOOK_SECRET,
            shop_domain=SHOP,
        )
        assert response.status_code == 200
        wait_for(lambda: webhooks_done(fresh_database), 60, "the order webhook to be processed")
        page.goto(cart)
        expect(page.get_by_role("heading", name=re.compile("Welcome back, Ada"))).to_be_visible()
        expect(page.get_by_test_id("section-due")).to_have_count(0)
        expect(page.get_by_test_id("section-previous")).to_contain_text("Daily Vitamins")

        # the token is revoked: the Store and Sync pages say so, and nothing stored changes
        before = stored_counts(fresh_database)
        page.goto(f"{base_url}/admin/store")
        page.get_by_test_id("field-shopify_token").fill("shpat_revoked_token")
        page.get_by_test_id("save-store").click()
        expect(page.get_by_test_id("connection-result")).to_contain_text(
            "Shopify refused the token (HTTP 401)"
        )
        page.goto(f"{base_url}/admin/sync")
        page.get_by_test_id("sync-now-orders").click()
        expect(page.get_by_test_id("sync-error-orders")).to_contain_text(
            "Shopify refused the token (HTTP 401)"
        )
        expect(page.get_by_test_id("sync-message-orders")).to_have_count(0)
        screenshot(page, "admin-sync-refused-token-desktop")
        assert stored_counts(fresh_database) == before
        context.close()

    # where the old cycle would have turned late, nothing is sent: she has reordered
    settings = Settings(
        database_url=fresh_database,
        public_url=base_url,
        secret_key=SECRET_KEY,
        klaviyo_api_key=KLAVIYO_KEY,
        klaviyo_base_url=klaviyo_url,
    )
    run_dispatch(settings, now=utcnow() + timedelta(days=3))
    assert events_named(klaviyo_fake, "Repeat - Late Due To Replenish") == []
    assert len(events_named(klaviyo_fake, "Repeat - Due To Replenish")) == 1


def phone_screens(browser: Browser, base_url: str, name: str, path: str) -> None:
    """The same dashboard page at phone size, signed in afresh in its own context."""
    context = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, base_url)
    page.goto(f"{base_url}{path}")
    expect(page.get_by_test_id("admin-frame")).to_be_visible()
    screenshot(page, f"{name}-phone")
    context.close()


def phone_cart(browser: Browser, cart: str) -> None:
    context = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{cart}?preview=1")  # a preview: the shopper's analytics stay as they are
    expect(page.get_by_role("heading", name=re.compile("Welcome back, Ada"))).to_be_visible()
    screenshot(page, "cart-real-phone")
    page.get_by_role("button", name=re.compile(r"^Cart, ")).click()
    expect(page.get_by_test_id("cart-drawer")).to_be_visible()
    screenshot(page, "cart-real-drawer-phone")
    context.close()


def shopify_variant(fake: FakeShopify, sku: str) -> dict:
    variants = (v for product in fake.products.values() for v in product["variants"])
    return next(variant for variant in variants if variant.get("sku") == sku)


def vitamin_variant_id(database_url: str) -> int:
    with Session(get_engine(database_url)) as session:
        return session.exec(select(Variant.shopify_id).where(Variant.sku == "VIT-60")).one()


def cart_link_id(database_url: str) -> int:
    with Session(get_engine(database_url)) as session:
        return session.exec(
            select(CartLink.id)
            .join(Customer, Customer.id == CartLink.customer_id)
            .where(Customer.email == DUE_EMAIL, CartLink.revoked_at.is_(None))  # type: ignore[union-attr]
        ).one()


def stored_counts(database_url: str) -> dict[str, object]:
    """Rows of the store's data, and the sync cursors."""
    with Session(get_engine(database_url)) as session:
        counts: dict[str, object] = {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in (Customer, Order, OrderLine, Product, Variant, DueItem)
        }
        counts["cursors"] = sorted(
            (state.name, state.cursor) for state in session.exec(select(SyncState))
        )
    return counts


def webhooks_done(database_url: str) -> bool:
    with Session(get_engine(database_url)) as session:
        statuses = session.exec(select(WebhookEvent.status)).all()
    return bool(statuses) and all(status == "done" for status in statuses)


def events_named(fake: FakeKlaviyo, metric: str) -> list[dict]:
    return [
        event
        for event in fake.events
        if event["data"]["attributes"]["metric"]["data"]["attributes"]["name"] == metric
    ]
