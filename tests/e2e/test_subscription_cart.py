"""The subscription cart in Chromium, phone and desktop: a demo store whose due customer's first
due product has a selling plan, served with a Storefront token and the fake Storefront.

`?sub=1` opens with "Subscribe & save" chosen, the plan's interval and price on the line; Check
Out creates a Storefront cart with the plan and goes to its checkout URL (intercepted: the shop
does not exist). Switching to "One-time purchase" checks out through the permalink instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from services.cart.links import CART_ATTRIBUTE, CHANNEL_ATTRIBUTE
from services.core.clock import utcnow
from services.core.db import get_engine, migrate
from services.core.tables import CartLink, DueItem, Product, SellingPlan, Variant
from services.demo import build_demo_store
from tests.e2e.app_process import serve_app
from tests.e2e.conftest import screenshot
from tests.e2e.test_cart_page import selection_panel
from tests.fakes.shopify_storefront import FakeStorefront

pytestmark = [pytest.mark.e2e, pytest.mark.own_app]

TOKEN = "storefront_demo_e2e_9876"


@dataclass(frozen=True)
class SubscriptionApp:
    base_url: str
    shop: str
    token: str  # the due customer's cart token
    link_id: int
    plan_gid: str
    plan_variant_gid: str
    storefront: FakeStorefront
    admin: tuple[str, str]  # the demo admin's email and password

    def cart(self, query: str = "sub=1") -> str:
        return f"{self.base_url}/cart/{self.token}?{query}"


def _seed_plans(
    database_url: str, storefront: FakeStorefront
) -> tuple[str, str, str, int, tuple[str, str]]:
    """A 30-day plan, 10 % off, on the due customer's first due product; every variant on sale
    in the fake Storefront. Returns (plan GID, its variant's GID, cart token, link id, the
    admin's sign-in)."""
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        demo = build_demo_store(session, seed=11, customers=40, now=utcnow())
        session.commit()
        token = demo.sample_tokens["due"]
        link = session.exec(select(CartLink).where(CartLink.token == token)).one()
        due = session.exec(
            select(DueItem)
            .where(DueItem.customer_id == link.customer_id)
            .order_by(col(DueItem.due_at))
        ).first()
        assert due is not None
        # the demo's own plans give way to the one plan this test names
        session.execute(delete(SellingPlan))
        session.execute(update(Product).values(subscription_only=False))
        plan = SellingPlan(
            shopify_gid="gid://shopify/SellingPlan/690000001",
            product_id=due.product_id,
            group_name="Subscribe & save",
            name="Deliver every 30 days, save 10%",
            interval_unit="DAY",
            interval_count=30,
            interval_days=30,
            adjustment_type="PERCENTAGE",
            adjustment_percent=10,
        )
        session.add(plan)
        session.commit()
        rows = session.exec(
            select(Variant.shopify_gid, Variant.shopify_id, Product.shopify_gid, Product.id).join(
                Product, col(Product.id) == col(Variant.product_id)
            )
        ).all()
        plan_variant = ""
        for variant_gid, numeric, product_gid, product_id in rows:
            gid = variant_gid or f"gid://shopify/ProductVariant/{numeric}"
            plans = (plan.shopify_gid,) if product_id == due.product_id else ()
            storefront.add_variant(gid, product_gid or "", plans)
            if product_id == due.product_id and not plan_variant:
                plan_variant = gid
        assert link.id is not None
        admin = (demo.admin_email, demo.admin_password)
        return plan.shopify_gid, plan_variant, token, link.id, admin


@pytest.fixture(scope="module")
def sub_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SubscriptionApp]:
    workdir: Path = tmp_path_factory.mktemp("subscription")
    database_url = f"sqlite:///{workdir / 'app.db'}"
    migrate(database_url)
    shop = "demo-repeatcart.myshopify.com"
    with FakeStorefront(shop=shop, token=TOKEN) as storefront:
        plan_gid, variant_gid, token, link_id, admin = _seed_plans(database_url, storefront)
        env = {
            "REPEATCART_CHECKOUT_PREVIEW": "0",  # Check Out leaves for the (intercepted) shop
            "REPEATCART_SHOPIFY_STOREFRONT_TOKEN": TOKEN,
            "REPEATCART_SHOPIFY_STOREFRONT_BASE_URL": storefront.base_url,
        }
        with serve_app(workdir, database_url, env) as base_url:
            yield SubscriptionApp(
                base_url, shop, token, link_id, plan_gid, variant_gid, storefront, admin
            )


def _intercept_shop(page: Page, shop: str) -> None:
    """The shop does not exist: its pages answer a stub, so the URL Check Out went to shows."""

    def stub(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body="<h1>Shopify checkout</h1>")

    page.route(re.compile(rf"^https://{re.escape(shop)}/.*"), stub)


def settle(page: Page) -> None:
    """Wait for running transitions (the segmented control's slide, the drawer) to finish, so a
    screenshot shows where things end up."""
    page.evaluate("Promise.all(document.getAnimations().map((a) => a.finished))")


def _open(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=re.compile("Welcome back"))).to_be_visible()


def test_a_subscription_cart_checks_out_through_the_storefront_cart(
    page: Page, viewport: str, sub_app: SubscriptionApp
):
    _intercept_shop(page, sub_app.shop)
    _open(page, sub_app.cart("sub=1&ch=email"))
    choice = page.get_by_test_id("purchase-option")
    expect(choice).to_be_visible()
    expect(choice.get_by_role("radio", name="Subscribe & save")).to_be_checked()
    line = page.get_by_test_id("cart-item").filter(has=page.get_by_test_id("plan-label")).first
    expect(line.get_by_test_id("plan-label")).to_have_text("Delivered every 30 days")
    settle(page)
    screenshot(page, f"cart-subscription-{viewport}")

    carts_before = len(sub_app.storefront.carts)
    panel = selection_panel(page, viewport)
    check_out = panel.get_by_role("button", name="Check Out")
    expect(check_out).to_be_in_viewport(ratio=1)  # the phone drawer has finished sliding in
    expect(panel.get_by_test_id("plan-label")).to_have_text(["Delivered every 30 days"])
    if viewport == "phone":
        settle(page)
        screenshot(page, f"cart-subscription-drawer-{viewport}")
    check_out.click()
    page.wait_for_url(re.compile(rf"^https://{re.escape(sub_app.shop)}/cart/c/"))
    assert len(sub_app.storefront.carts) == carts_before + 1
    cart = sub_app.storefront.carts[-1]
    assert page.url == cart.checkout_url
    subscribed = [item for item in cart.lines if item.get("sellingPlanId")]
    assert subscribed == [
        {
            "merchandiseId": sub_app.plan_variant_gid,
            "quantity": subscribed[0]["quantity"],
            "sellingPlanId": sub_app.plan_gid,
        }
    ]
    assert cart.attributes[CART_ATTRIBUTE] == str(sub_app.link_id)
    assert cart.attributes[CHANNEL_ATTRIBUTE] == "email"


def test_switching_to_one_time_checks_out_through_the_permalink(
    page: Page, viewport: str, sub_app: SubscriptionApp
):
    _intercept_shop(page, sub_app.shop)
    _open(page, sub_app.cart())
    line = page.get_by_test_id("cart-item").filter(has=page.get_by_test_id("plan-label")).first
    key = line.get_attribute("data-key")
    price = line.get_by_test_id("line-price")
    subscription_price = price.inner_text()
    page.get_by_test_id("purchase-option").get_by_role("radio", name="One-time purchase").click()
    row = page.locator(f'[data-testid="cart-item"][data-key="{key}"]')
    expect(row.get_by_test_id("one-time-label")).to_have_text("One-time purchase")
    expect(row.get_by_test_id("line-price")).not_to_have_text(subscription_price)
    settle(page)
    screenshot(page, f"cart-subscription-one-time-{viewport}")
    carts_before = len(sub_app.storefront.carts)
    selection_panel(page, viewport).get_by_role("button", name="Check Out").click()
    page.wait_for_url(re.compile(rf"^https://{re.escape(sub_app.shop)}/cart/\d+:\d+"))
    assert len(sub_app.storefront.carts) == carts_before  # no Storefront cart for one-time
    assert f"attributes%5B{CART_ATTRIBUTE}%5D={sub_app.link_id}" in page.url or (
        f"attributes[{CART_ATTRIBUTE}]={sub_app.link_id}" in page.url
    )


def test_a_storefront_failure_falls_back_to_the_permalink(
    page: Page, viewport: str, sub_app: SubscriptionApp
):
    _intercept_shop(page, sub_app.shop)
    _open(page, sub_app.cart())
    expect(page.get_by_test_id("plan-label").first).to_be_visible()
    carts_before = len(sub_app.storefront.carts)
    sub_app.storefront.fail_next(500, times=3)  # every try of the shopper's Check Out
    panel = selection_panel(page, viewport)
    panel.get_by_role("button", name="Check Out").click()
    # the shopper stays on the cart, told it is one-time now, with the one-time prices
    note = panel.get_by_test_id("subscription-note")
    expect(note).to_contain_text("couldn't set up your subscription")
    expect(panel.get_by_test_id("plan-label")).to_have_count(0)  # no line subscribes now
    note.scroll_into_view_if_needed()
    screenshot(page, f"cart-subscription-fallback-{viewport}")
    assert len(sub_app.storefront.carts) == carts_before
    panel.get_by_role("button", name="Check Out").click()  # the drawer stayed open on phones
    page.wait_for_url(re.compile(rf"^https://{re.escape(sub_app.shop)}/cart/\d+:\d+"))
    assert len(sub_app.storefront.carts) == carts_before


def test_the_store_page_saves_the_storefront_token_and_shows_its_last_4(
    page: Page, viewport: str, sub_app: SubscriptionApp
):
    page.goto(f"{sub_app.base_url}/admin/login")
    expect(page.get_by_test_id("login-ready")).to_be_attached()
    page.get_by_label("Email").fill(sub_app.admin[0])
    page.get_by_label("Password").fill(sub_app.admin[1])
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("admin-frame")).to_be_visible()
    page.goto(f"{sub_app.base_url}/admin/store")
    note = page.get_by_test_id("note-shopify_storefront_token")
    # from the environment until the first viewport's run saved it here
    expect(note).to_contain_text(re.compile(r"••••9876 \((from the environment|saved here)\)"))
    field = page.get_by_label("Storefront API access token")
    field.fill(TOKEN)  # the same token, now saved in the dashboard
    page.get_by_test_id("save-store").click()
    # "No changes to save." on the second viewport's run: the same token is saved already
    expect(page.get_by_test_id("store-message")).to_have_text(
        re.compile(r"^(Saved\.|No changes to save\.)$")
    )
    expect(note).to_contain_text(f"Ends in ••••{TOKEN[-4:]} (saved here)")
    expect(page.get_by_label("Storefront API access token")).to_have_value("")
    assert TOKEN not in page.content()
    page.get_by_label("Storefront API access token").scroll_into_view_if_needed()
    screenshot(page, f"admin-store-storefront-{viewport}")
