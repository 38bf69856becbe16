"""The dashboard's Cart page in Chromium: settings reach the shopper's cart on its next load.

The app is shared by every e2e test of the run, so each test restores what it changed (straight
in the database, in a `finally`), and uses values unique to its viewport.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import delete, func
from sqlmodel import Session, select

from services.core.db import get_engine
from services.core.tables import CartEvent, CartLink, Customer, DueItem, Product, Shop, YmalItem
from tests.e2e.conftest import RunningApp, open_admin, screenshot, wait_for

pytestmark = pytest.mark.e2e

SHOP_FIELDS = (
    "banner_text",
    "discount_code",
    "lead_days",
    "default_interval_days",
    "min_reorder_customers",
    "hide_unavailable",
    "accent_color",
    "logo_url",
)


def db(running_app: RunningApp) -> Session:
    return Session(get_engine(running_app.database_url), expire_on_commit=False)


def shop_settings(running_app: RunningApp) -> dict[str, object]:
    with db(running_app) as session:
        shop = session.exec(select(Shop)).one()
        return {name: getattr(shop, name) for name in SHOP_FIELDS}


@contextmanager
def restored_settings(running_app: RunningApp) -> Iterator[dict[str, object]]:
    """Put the shop's cart settings and YMAL list back as they were, whatever the test did."""
    before = shop_settings(running_app)
    with db(running_app) as session:
        ymal = [(item.product_id, item.position) for item in session.exec(select(YmalItem))]
    try:
        yield before
    finally:
        with db(running_app) as session:
            shop = session.exec(select(Shop)).one()
            for name, value in before.items():
                setattr(shop, name, value)
            session.add(shop)
            session.execute(delete(YmalItem))
            for product_id, position in ymal:
                session.add(YmalItem(product_id=product_id, position=position))
            session.commit()


def open_cart_settings(page: Page, running_app: RunningApp) -> None:
    open_admin(page, running_app, "/admin/cart")
    expect(page.get_by_test_id("admin-cart")).to_be_visible()


def open_cart(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=re.compile("Welcome back"))).to_be_visible()


def selection_panel(page: Page, viewport: str) -> Locator:
    if viewport == "phone":
        page.get_by_role("button", name=re.compile(r"^Cart, ")).click()
        panel = page.get_by_test_id("cart-drawer")
    else:
        panel = page.get_by_test_id("cart-sidebar")
    expect(panel).to_be_visible()
    return panel


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"page scrolls sideways by {overflow}px"


def test_banner_discount_and_colour_show_on_the_next_cart_load(
    page: Page, viewport: str, running_app: RunningApp
):
    banner = f"Spring restock week ({viewport}): free shipping"
    code = f"ÉTÉ-{viewport.upper()}-10"  # unicode is allowed; the link must encode it
    with restored_settings(running_app) as before:
        open_cart_settings(page, running_app)
        no_horizontal_scroll(page)
        screenshot(page, f"admin-cart-{viewport}")
        page.get_by_label("Banner text").fill(banner)
        page.get_by_label("Discount code").fill(f"  {code} ")
        page.get_by_test_id("save-banner").click()
        expect(page.get_by_test_id("saved-banner")).to_be_visible()
        expect(page.get_by_label("Discount code")).to_have_value(code)

        page.get_by_test_id("accent-trigger").click()
        page.get_by_role("option", name="Violet").click()
        expect(page.get_by_test_id("accent-trigger")).to_contain_text("Violet")
        page.get_by_role("checkbox", name=re.compile("^Hide unavailable items")).click()
        page.get_by_test_id("save-appearance").click()
        expect(page.get_by_test_id("saved-appearance")).to_be_visible()
        saved = shop_settings(running_app)
        assert (saved["banner_text"], saved["discount_code"]) == (banner, code)
        assert saved["accent_color"] == "violet"
        assert saved["hide_unavailable"] is (not before["hide_unavailable"])

        open_cart(page, running_app.cart("due"))
        expect(page.get_by_test_id("banner")).to_have_text(banner)
        expect(page.locator('.radix-themes[data-accent-color="violet"]').first).to_be_attached()
        screenshot(page, f"admin-cart-result-cart-{viewport}")
        panel = selection_panel(page, viewport)
        panel.get_by_role("button", name="Check Out").click()
        permalink = page.get_by_test_id("permalink")
        expect(permalink).to_contain_text(f"?discount={quote(code, safe='')}&")
        assert "%C3%89T%C3%89" in permalink.inner_text()


def test_bad_input_gets_messages_next_to_the_fields_and_nothing_is_saved(
    page: Page, viewport: str, running_app: RunningApp
):
    with restored_settings(running_app) as before:
        open_cart_settings(page, running_app)
        page.get_by_label("Banner text").fill("Never saved")
        page.get_by_label("Discount code").fill("TWO WORDS")
        page.get_by_test_id("save-banner").click()
        expect(page.get_by_test_id("error-discount_code")).to_contain_text("spaces")
        expect(page.get_by_test_id("saved-banner")).to_have_count(0)

        page.get_by_label("Lead days").fill("-1")
        page.get_by_label("Default interval (days)").fill("99999")
        page.get_by_label("Minimum reorder customers").fill("abc")
        page.get_by_test_id("save-timing").click()
        expect(page.get_by_test_id("error-lead_days")).to_contain_text("0 to 60")
        expect(page.get_by_test_id("error-default_interval_days")).to_contain_text("1 to 365")
        expect(page.get_by_test_id("error-min_reorder_customers")).to_contain_text("whole number")
        # what was typed is kept so it can be corrected
        expect(page.get_by_label("Lead days")).to_have_value("-1")

        page.get_by_label("Logo URL").fill("javascript:alert(1)")
        page.get_by_test_id("save-appearance").click()
        expect(page.get_by_test_id("error-logo_url")).to_contain_text("https://")
        expect(page.get_by_test_id("logo-preview")).to_have_count(0)
        page.get_by_test_id("card-timing").scroll_into_view_if_needed()
        screenshot(page, f"admin-cart-errors-{viewport}")
        assert shop_settings(running_app) == before


def test_xss_banner_is_shown_as_text_and_never_runs(
    page: Page, viewport: str, running_app: RunningApp
):
    attack = f'<img src=x onerror="window.__xss=1"> {viewport}'
    with restored_settings(running_app):
        open_cart_settings(page, running_app)
        page.get_by_label("Banner text").fill(attack)
        page.get_by_test_id("save-banner").click()
        expect(page.get_by_test_id("saved-banner")).to_be_visible()
        open_cart(page, running_app.cart("due"))
        banner = page.get_by_test_id("banner")
        expect(banner).to_have_text(attack)
        expect(banner.locator("img")).to_have_count(0)
        assert page.evaluate("typeof window.__xss") == "undefined"


def _product_to_suggest(running_app: RunningApp, customer_email: str) -> Product:
    """A sold product not yet suggested and not in this customer's own cart sections."""
    with db(running_app) as session:
        customer = session.exec(select(Customer).where(Customer.email == customer_email)).one()
        owned = select(DueItem.product_id).where(DueItem.customer_id == customer.id)
        listed = select(YmalItem.product_id)
        return session.exec(
            select(Product)
            .where(
                Product.status == "active",
                Product.id.not_in(owned),  # type: ignore[union-attr]
                Product.id.not_in(listed),  # type: ignore[union-attr]
                Product.replacement_product_id.is_(None),  # type: ignore[union-attr]
            )
            .order_by(Product.title)
        ).first()


def test_picked_ymal_products_show_on_a_cart_in_order(
    page: Page, viewport: str, running_app: RunningApp
):
    product = _product_to_suggest(running_app, running_app.demo.sample_emails["not_due"])
    assert product is not None
    with restored_settings(running_app):
        open_cart_settings(page, running_app)
        listed = page.get_by_test_id("ymal-item")
        count = listed.count()
        assert count >= 1
        page.get_by_test_id("ymal-search-query").fill(product.title[:12].lower())
        page.get_by_test_id("ymal-search-query").press("Enter")
        hit = page.locator(f'[data-testid="ymal-hit"][data-product="{product.id}"]')
        expect(hit).to_be_visible()
        hit.get_by_role("button", name=f"Add: {product.title}").click()
        expect(listed).to_have_count(count + 1)
        expect(hit.get_by_text("In the list")).to_be_visible()
        # move it to the top of the list: the cart shows suggestions in this order
        row = page.locator(f'[data-testid="ymal-item"][data-product="{product.id}"]')
        expect(listed.last).to_have_attribute("data-product", str(product.id))
        for position in range(count - 1, -1, -1):
            row.get_by_role("button", name=f"Move up: {product.title}").click()
            expect(listed.nth(position)).to_have_attribute("data-product", str(product.id))
        expect(row.get_by_role("button", name=f"Move up: {product.title}")).to_be_disabled()
        screenshot(page, f"admin-cart-ymal-{viewport}")

        open_cart(page, running_app.cart("not_due"))
        tiles = page.get_by_test_id("section-ymal").get_by_test_id("cart-item")
        expect(tiles.first).to_contain_text(product.title)

        page.goto(f"{running_app.base_url}/admin/cart")  # still signed in
        page.get_by_role("button", name=f"Remove: {product.title}").click()
        expect(page.get_by_test_id("ymal-item")).to_have_count(count)
        with db(running_app) as session:
            assert (
                session.exec(select(YmalItem).where(YmalItem.product_id == product.id)).first()
                is None
            )


def _events(running_app: RunningApp, link_id: int) -> dict[str, int]:
    with db(running_app) as session:
        rows = session.exec(
            select(CartEvent.kind, func.count())
            .where(CartEvent.cart_link_id == link_id)
            .group_by(CartEvent.kind)
        ).all()
    return dict(rows)


def test_preview_opens_a_marked_cart_that_records_no_events(
    page: Page, viewport: str, running_app: RunningApp
):
    email = running_app.demo.sample_emails["due"]
    with db(running_app) as session:
        link = session.exec(
            select(CartLink).where(CartLink.token == running_app.demo.sample_tokens["due"])
        ).one()
    before = _events(running_app, link.id)  # type: ignore[arg-type]
    open_cart_settings(page, running_app)
    page.get_by_test_id("customer-query").fill(email.split("@")[0].upper())
    page.get_by_test_id("customer-query").press("Enter")
    hits = page.get_by_test_id("customer-hit")
    expect(hits).to_have_count(1)
    expect(hits.first).to_contain_text(email)
    hits.first.get_by_role("button", name=re.compile("^Preview the cart of")).click()
    opener = page.get_by_test_id("open-preview")
    expect(opener).to_have_attribute("href", re.compile(r"/cart/[\w-]+\?preview=1$"))
    expect(opener).to_have_attribute("target", "_blank")
    page.get_by_test_id("card-preview").scroll_into_view_if_needed()
    screenshot(page, f"admin-cart-preview-{viewport}")
    with page.context.expect_page() as opened:
        opener.click()
    preview = opened.value
    expect(preview.get_by_role("heading", name=re.compile("Welcome back"))).to_be_visible()
    expect(preview.get_by_test_id("preview-marker")).to_have_text("Preview · not counted")
    tile = (
        preview.get_by_test_id("section-ymal")
        .get_by_test_id("cart-item")
        .and_(preview.locator('[data-available="true"]'))
        .first
    )
    tile.scroll_into_view_if_needed()
    tile.get_by_role("button", name=re.compile("^Add to cart")).click()
    expect(tile).to_have_attribute("data-selected", "true")
    screenshot(preview, f"cart-preview-{viewport}")
    # the same page opened by the shopper (no ?preview) is counted and unmarked
    open_cart(page, running_app.cart("due"))
    expect(page.get_by_test_id("preview-marker")).to_have_count(0)
    # cart events are written in batches, about a second apart: wait for the shopper's view,
    # which is queued after anything the preview could have recorded
    wait_for(
        lambda: _events(running_app, link.id).get("view", 0) > before.get("view", 0),  # type: ignore[arg-type]
        10,
        "the shopper's view to be written",
    )
    after = _events(running_app, link.id)  # type: ignore[arg-type]
    assert after.get("add", 0) == before.get("add", 0)
    assert after.get("view", 0) == before.get("view", 0) + 1  # only the shopper's own visit


def test_new_reminder_timing_recomputes_due_dates(
    page: Page, viewport: str, running_app: RunningApp
):
    with restored_settings(running_app) as before:
        lead = int(before["lead_days"])  # type: ignore[arg-type]
        open_cart_settings(page, running_app)
        note = page.get_by_test_id("recompute-note")
        try:
            page.get_by_label("Lead days").fill(str(lead + 2))
            page.get_by_test_id("save-timing").click()
            expect(note).to_have_attribute("data-runs", "1", timeout=60_000)
            expect(note).to_contain_text("Due dates recomputed for")
            assert shop_settings(running_app)["lead_days"] == lead + 2
            with db(running_app) as session:
                gaps = session.exec(select(DueItem.due_at, DueItem.remind_at)).all()
            assert any((due - remind).days == lead + 2 for due, remind in gaps)
            note.scroll_into_view_if_needed()
            screenshot(page, f"admin-cart-recomputed-{viewport}")
        finally:
            # put the shared app's due dates back as the other tests expect them
            page.get_by_label("Lead days").fill(str(lead))
            page.get_by_test_id("save-timing").click()
            expect(note).to_have_attribute("data-runs", "2", timeout=60_000)
            expect(note).to_contain_text("Due dates recomputed for")
