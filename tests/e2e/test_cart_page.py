"""The shopper's cart in Chromium, at phone (390×844) and desktop (1280×800) sizes."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, select

from services.cart.links import get_or_create_link, rotate_link
from services.core.db import get_engine
from services.core.tables import CartEvent, CartLink, Customer, Shop, Variant
from tests.e2e.conftest import RunningApp, screenshot

pytestmark = pytest.mark.e2e


def open_cart(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=re.compile("Welcome back"))).to_be_visible()


def selection_panel(page: Page, viewport: str) -> Locator:
    """The drawer on phones (opened from the header button), the sidebar on desktop."""
    if viewport == "phone":
        expect(page.get_by_test_id("cart-sidebar")).to_be_hidden()
        page.get_by_role("button", name=re.compile(r"^Cart, ")).click()
        drawer = page.get_by_test_id("cart-drawer")
        expect(drawer).to_be_visible()
        return drawer
    sidebar = page.get_by_test_id("cart-sidebar")
    expect(sidebar).to_be_visible()
    return sidebar


def cart_count(page: Page) -> int:
    """The count the header button announces on phones, or the sidebar shows on desktop."""
    button = page.get_by_role("button", name=re.compile(r"^Cart, "))
    if button.count():
        label = button.first.get_attribute("aria-label") or ""
    else:
        label = page.get_by_test_id("cart-sidebar").get_by_test_id("item-count").inner_text()
    return int(re.search(r"(\d+)", label).group(1))  # type: ignore[union-attr]


def money(text: str) -> int:
    return round(float(text.replace("$", "").replace(",", "")) * 100)


def section_items(page: Page, section: str) -> Locator:
    return page.get_by_test_id(f"section-{section}").get_by_test_id("cart-item")


def test_due_cart_opens_with_due_items_selected(page: Page, viewport: str, running_app: RunningApp):
    open_cart(page, running_app.cart("due"))
    due = section_items(page, "due")
    expect(due.first).to_be_visible()
    assert due.count() >= 2
    for index in range(due.count()):
        expect(due.nth(index)).to_have_attribute("data-selected", "true")
    expect(page.get_by_role("heading", name="Previously Purchased")).to_be_visible()
    expect(page.get_by_role("heading", name="You Might Also Like")).to_be_visible()
    expect(page.get_by_test_id("banner")).to_contain_text("10% off your reorder")
    for index in range(section_items(page, "previous").count()):
        expect(section_items(page, "previous").nth(index)).to_have_attribute(
            "data-selected", "false"
        )
    quantities = [int(q) for q in due.get_by_test_id("quantity").all_inner_texts()]
    assert cart_count(page) == sum(quantities)
    screenshot(page, f"cart-due-{viewport}")


def test_quantity_and_remove_update_count_and_subtotal(
    page: Page, viewport: str, running_app: RunningApp
):
    open_cart(page, running_app.cart("due"))
    panel = selection_panel(page, viewport)
    subtotal = panel.get_by_test_id("subtotal")
    rows = panel.get_by_test_id("selected-item")
    expect(rows.first).to_be_visible()
    start_total, start_count = money(subtotal.inner_text()), cart_count(page)
    first = rows.first
    key = first.get_attribute("data-key")
    unit = money(first.locator("text=/\\$/").first.inner_text()) // int(
        first.get_by_test_id("quantity").inner_text()
    )

    first.get_by_role("button", name=re.compile("^Increase quantity")).click()
    expect(subtotal).to_have_text(re.compile(re.escape(f"{(start_total + unit) / 100:,.2f}")))
    assert cart_count(page) == start_count + 1

    first.get_by_role("button", name=re.compile("^Decrease quantity")).click()
    expect(subtotal).to_have_text(re.compile(re.escape(f"{start_total / 100:,.2f}")))
    assert cart_count(page) == start_count

    removed_quantity = int(first.get_by_test_id("quantity").inner_text())
    first.get_by_role("button", name=re.compile("^Remove")).click()
    expect(panel.locator(f'[data-testid="selected-item"][data-key="{key}"]')).to_have_count(0)
    expect(subtotal).to_have_text(
        re.compile(re.escape(f"{(start_total - unit * removed_quantity) / 100:,.2f}"))
    )
    assert cart_count(page) == start_count - removed_quantity
    screenshot(page, f"cart-panel-{viewport}")


def test_adding_a_ymal_item_puts_it_in_the_cart(page: Page, viewport: str, running_app: RunningApp):
    open_cart(page, running_app.cart("due"))
    tile = section_items(page, "ymal").and_(page.locator('[data-available="true"]')).first
    tile.scroll_into_view_if_needed()
    key = tile.get_attribute("data-key")
    count = cart_count(page)
    tile.get_by_role("button", name=re.compile("^Add to cart")).click()
    expect(tile).to_have_attribute("data-selected", "true")
    assert cart_count(page) == count + 1
    screenshot(page, f"cart-ymal-added-{viewport}")
    panel = selection_panel(page, viewport)
    expect(panel.locator(f'[data-testid="selected-item"][data-key="{key}"]')).to_be_visible()


def test_check_out_produces_the_exact_permalink(page: Page, viewport: str, running_app: RunningApp):
    open_cart(page, running_app.cart("due", channel="klaviyo"))
    panel = selection_panel(page, viewport)
    rows = panel.get_by_test_id("selected-item")
    expect(rows.first).to_be_visible()
    first_quantity = rows.first.get_by_test_id("quantity")
    before = int(first_quantity.inner_text())
    rows.first.get_by_role("button", name=re.compile("^Increase quantity")).click()
    expect(first_quantity).to_have_text(str(before + 1))
    selected = [
        (row.get_attribute("data-key"), int(row.get_by_test_id("quantity").inner_text()))
        for row in rows.all()
    ]
    with Session(get_engine(running_app.database_url)) as session:
        shop = session.exec(select(Shop)).one()
        link = session.exec(
            select(CartLink).where(CartLink.token == running_app.demo.sample_tokens["due"])
        ).one()
        shopify_ids = {
            str(v.id): v.shopify_id
            for v in session.exec(
                select(Variant).where(Variant.id.in_([int(k) for k, _ in selected]))
            )  # type: ignore[union-attr]
        }
    expected = (
        f"https://{shop.shop_domain}/cart/"
        + ",".join(f"{shopify_ids[key]}:{qty}" for key, qty in selected)
        + f"?discount={quote(shop.discount_code)}"
        + f"&attributes[_repeatcart_cart]={link.id}"
        + "&attributes[_repeatcart_channel]=klaviyo"
    )
    subtotal = money(panel.get_by_test_id("subtotal").inner_text())
    panel.get_by_role("button", name="Check Out").click()
    expect(page.get_by_test_id("permalink")).to_have_text(expected)
    screenshot(page, f"checkout-preview-{viewport}")
    with Session(get_engine(running_app.database_url)) as session:
        events = session.exec(
            select(CartEvent)
            .where(CartEvent.cart_link_id == link.id, CartEvent.channel == "klaviyo")
            .order_by(CartEvent.id.desc())  # type: ignore[union-attr]
        ).all()
    kinds = [event.kind for event in events]
    assert kinds[:3] == ["checkout", "quantity", "view"]
    assert events[0].value_cents == subtotal and events[0].currency == "USD"
    assert events[1].variant_id == int(selected[0][0]) and events[1].quantity == selected[0][1]


def test_not_due_cart_has_empty_selection_and_disabled_checkout(
    page: Page, viewport: str, running_app: RunningApp
):
    open_cart(page, running_app.cart("not_due"))
    expect(page.get_by_test_id("section-due")).to_have_count(0)
    assert cart_count(page) == 0
    panel = selection_panel(page, viewport)
    expect(panel.get_by_test_id("empty-cart-message")).to_be_visible()
    expect(panel.get_by_role("button", name="Check Out")).to_be_disabled()
    screenshot(page, f"cart-not-due-{viewport}")


def test_unavailable_product_is_never_selected(page: Page, viewport: str, running_app: RunningApp):
    open_cart(page, running_app.cart("unavailable"))
    unavailable = page.locator('[data-testid="cart-item"][data-available="false"]')
    expect(unavailable.first).to_be_visible()
    for index in range(unavailable.count()):
        item = unavailable.nth(index)
        expect(item).to_have_attribute("data-selected", "false")
        expect(item.get_by_text("Unavailable")).to_be_visible()
        expect(item.get_by_role("button", name=re.compile("^Add to cart"))).to_have_count(0)
    expect(
        section_items(page, "due").and_(page.locator('[data-selected="true"]')).first
    ).to_be_visible()
    screenshot(page, f"cart-unavailable-{viewport}")


@pytest.mark.parametrize(
    "token",
    ["x" * 32, "not a token!", "a" * 500, "%00%27", "-", "", "abc/def"],
    ids=["unknown", "malformed", "over-long", "nul-byte", "too-short", "empty", "two-segments"],
)
def test_bad_token_shows_the_expired_page(
    page: Page, viewport: str, running_app: RunningApp, token: str
):
    page.goto(f"{running_app.base_url}/cart/{token}")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    expect(page.get_by_role("link", name="Visit the store")).to_be_visible()
    if token == "-":
        screenshot(page, f"expired-{viewport}")


def test_rotated_link_shows_expired_and_new_link_works(
    page: Page, viewport: str, running_app: RunningApp
):
    samples = set(running_app.demo.sample_emails.values())
    with Session(get_engine(running_app.database_url), expire_on_commit=False) as session:
        customer = session.exec(
            select(Customer).where(Customer.email.not_in(samples)).order_by(Customer.id)  # type: ignore[union-attr]
        ).first()
        old = get_or_create_link(session, customer.id)  # type: ignore[union-attr, arg-type]
        new = rotate_link(session, customer.id)  # type: ignore[union-attr, arg-type]
        session.commit()
    page.goto(f"{running_app.base_url}/cart/{old.token}")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    open_cart(page, f"{running_app.base_url}/cart/{new.token}")


def test_phone_bottom_bar_shows_subtotal_and_opens_the_cart(
    page: Page, viewport: str, running_app: RunningApp
):
    open_cart(page, running_app.cart("due"))
    bar = page.get_by_test_id("checkout-bar")
    if viewport == "desktop":
        expect(bar).to_be_hidden()
        return
    expect(bar).to_be_visible()
    page.mouse.wheel(0, 3000)
    expect(bar).to_be_in_viewport()
    subtotal = bar.get_by_text("$").inner_text()
    bar.get_by_role("button", name="Review cart and check out").click()
    drawer = page.get_by_test_id("cart-drawer")
    expect(drawer.get_by_test_id("subtotal")).to_have_text(subtotal)
    expect(drawer.get_by_role("button", name="Check Out")).to_be_enabled()
    screenshot(page, "cart-drawer-phone")


def test_a_moments_link_carries_the_moment_to_the_events_and_checkout(
    page: Page, viewport: str, running_app: RunningApp
):
    """An About To Lapse event links `?ch=postscript&m=lapse`: the visit and the checkout are
    counted under the Moment, and the order will carry it as a cart attribute."""
    open_cart(page, running_app.cart("due", channel="postscript") + "&m=lapse")
    panel = selection_panel(page, viewport)
    panel.get_by_role("button", name="Check Out").click()
    permalink = page.get_by_test_id("permalink")
    expect(permalink).to_contain_text("&attributes[_repeatcart_channel]=postscript")
    expect(permalink).to_contain_text("&attributes[_repeatcart_moment]=lapse")
    with Session(get_engine(running_app.database_url)) as session:
        link = session.exec(
            select(CartLink).where(CartLink.token == running_app.demo.sample_tokens["due"])
        ).one()
        latest = session.exec(
            select(CartEvent)
            .where(CartEvent.cart_link_id == link.id, CartEvent.channel == "postscript")
            .order_by(CartEvent.id.desc())  # type: ignore[union-attr]
            .limit(2)
        ).all()
    assert [(e.kind, e.moment) for e in latest] == [("checkout", "lapse"), ("view", "lapse")]
