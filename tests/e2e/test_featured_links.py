"""Featured product links in Chromium, phone and desktop: the cart they open, its checkout at the
shop, and the page every link that cannot open a cart shows."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from services.core.db import get_engine
from services.core.tables import CartEvent, Product, Shop, Variant, YmalItem
from services.products.featured_links import QR_SCALE
from tests.e2e.conftest import RunningApp, open_admin, screenshot
from tests.e2e.test_cart_page import cart_count, selection_panel

pytestmark = pytest.mark.e2e


def a_variant(running_app: RunningApp, status: str = "active") -> tuple[int, str, Shop]:
    """A variant for sale (Shopify id, product title) outside You Might Also Like, and the shop."""
    with Session(get_engine(running_app.database_url)) as session:
        shop = session.exec(select(Shop)).one()
        shopify_id, title = session.exec(
            select(Variant.shopify_id, Product.title)
            .join(Product, col(Product.id) == col(Variant.product_id))
            .where(
                Product.status == status,
                col(Variant.available).is_(True),
                col(Product.id).not_in(select(YmalItem.product_id)),
            )
            .order_by(col(Variant.id))
        ).first()  # type: ignore[misc]
    return shopify_id, title, shop


def test_a_featured_link_opens_its_product_and_checks_out_at_the_shop(
    page: Page, viewport: str, running_app: RunningApp
):
    shopify_id, title, shop = a_variant(running_app)
    page.goto(f"{running_app.base_url}/replenish?v={shopify_id}&ch=qr&q=2")
    expect(page.get_by_role("heading", name="Ready to reorder")).to_be_visible()
    expect(page.get_by_text("Welcome back")).to_have_count(0)
    expect(page.get_by_test_id("banner")).to_contain_text("10% off your reorder")
    pick = page.get_by_test_id("section-due")
    expect(pick.get_by_role("heading", name="Your pick")).to_be_visible()
    expect(pick.get_by_test_id("cart-item")).to_have_count(1)
    expect(pick.get_by_test_id("cart-item")).to_contain_text(title)
    expect(pick.get_by_test_id("cart-item")).to_have_attribute("data-selected", "true")
    expect(page.get_by_role("button", name=re.compile("Remind me"))).to_have_count(0)
    expect(page.get_by_role("heading", name="You Might Also Like")).to_be_visible()
    expect(page.get_by_test_id("section-ymal").get_by_test_id("cart-item").first).to_be_visible()
    assert cart_count(page) == 2
    screenshot(page, f"featured-cart-{viewport}")

    panel = selection_panel(page, viewport)
    expect(panel.get_by_test_id("selected-item")).to_have_count(1)
    check_out = panel.get_by_role("button", name="Check Out")
    expect(check_out).to_be_in_viewport(ratio=1)  # the phone drawer has finished sliding in
    screenshot(page, f"featured-cart-panel-{viewport}")
    check_out.click()
    expected = (
        f"https://{shop.shop_domain}/cart/{shopify_id}:2"
        f"?discount={quote(shop.discount_code)}&attributes[_repeatcart_channel]=qr"
    )
    expect(page.get_by_test_id("permalink")).to_have_text(expected)
    screenshot(page, f"featured-checkout-preview-{viewport}")

    # the visit is counted apart from personal carts: no link, no customer, one visit id
    with Session(get_engine(running_app.database_url)) as session:
        checkout = session.exec(
            select(CartEvent)
            .where(col(CartEvent.featured_visit).is_not(None), CartEvent.channel == "qr")
            .order_by(col(CartEvent.id).desc())
        ).first()
        assert checkout is not None and checkout.kind == "checkout"
        assert (checkout.cart_link_id, checkout.customer_id) == (None, None)
        visit = session.exec(
            select(CartEvent.kind).where(CartEvent.featured_visit == checkout.featured_visit)
        ).all()
    assert sorted(visit) == ["checkout", "view"]
    open_admin(page, running_app, "/admin/analytics")
    row = page.get_by_test_id("featured-row-qr")
    expect(row).to_contain_text("QR code")
    page.get_by_test_id("featured-table").scroll_into_view_if_needed()
    screenshot(page, f"admin-analytics-featured-{viewport}")


@pytest.mark.parametrize("query", ["v=abc", "v={archived}", "v=987654321987", "v={active}&q=0"])
def test_a_link_that_cannot_open_a_cart_says_the_product_is_no_longer_available(
    page: Page, viewport: str, running_app: RunningApp, query: str
):
    active, _, shop = a_variant(running_app)
    archived, _, _ = a_variant(running_app, "archived")
    page.goto(f"{running_app.base_url}/replenish?{query.format(active=active, archived=archived)}")
    gone = page.get_by_test_id("unavailable")
    expect(gone.get_by_role("heading", name="This product is no longer available")).to_be_visible()
    store = gone.get_by_role("link", name="Visit the store")
    expect(store).to_have_attribute(
        "href", re.compile(re.escape(shop.store_url or shop.shop_domain))
    )
    expect(page.get_by_test_id("section-due")).to_have_count(0)
    if query == "v=abc":
        screenshot(page, f"featured-unavailable-{viewport}")


def _qr_modules(pixels: int) -> int:
    """A QR symbol's modules per side from its image size (10 px a module, 4 of margin each
    side): 21, 25, 29... for versions 1, 2, 3..., so anything else is not a QR code."""
    assert pixels % QR_SCALE == 0
    modules = pixels // QR_SCALE - 8
    assert modules >= 21 and (modules - 21) % 4 == 0, pixels
    return modules


def test_products_page_copies_a_variant_s_link_and_downloads_its_qr_code(
    page: Page, viewport: str, running_app: RunningApp
):
    with Session(get_engine(running_app.database_url)) as session:
        handle, product_id = session.exec(
            select(Product.handle, Product.id)
            .where(Product.status == "active", col(Product.shopify_id).is_not(None))
            .order_by(col(Product.title))
        ).first()  # type: ignore[misc]
        shopify_ids = session.exec(
            select(Variant.shopify_id)
            .where(Variant.product_id == product_id)
            .order_by(col(Variant.position), col(Variant.id))
        ).all()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_admin(page, running_app, "/admin/products")
    listed = page.get_by_test_id("products-table" if viewport == "desktop" else "products-cards")
    listed.locator(f'[data-product="{handle}"]').get_by_role(
        "button", name=re.compile("^Featured links for ")
    ).click()
    dialog = page.get_by_test_id("featured-links-dialog")
    links = dialog.get_by_test_id("featured-link")
    expect(links).to_have_count(len(shopify_ids))
    first = links.first
    url = f"{running_app.base_url}/replenish?v={shopify_ids[0]}"
    expect(first.get_by_test_id("featured-url")).to_have_text(url)
    first.get_by_role("button", name="Copy link").click()
    expect(first.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == url
    screenshot(page, f"admin-products-featured-links-{viewport}")

    with page.expect_download() as svg_download:
        first.get_by_role("button", name="Download QR code (SVG)").click()
    assert svg_download.value.suggested_filename == f"qr-{shopify_ids[0]}.svg"
    svg = ElementTree.parse(svg_download.value.path()).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("width") == svg.get("height")
    _qr_modules(int(svg.get("width") or 0))
    title = svg.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == f"{url}&ch=qr"  # what the code encodes
    assert svg.find("{http://www.w3.org/2000/svg}path") is not None

    with page.expect_download() as png_download:
        first.get_by_role("button", name="Download QR code (PNG)").click()
    assert png_download.value.suggested_filename == f"qr-{shopify_ids[0]}.png"
    png = Path(png_download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height and _qr_modules(width) == _qr_modules(int(svg.get("width") or 0))

    page.goto(url)  # the copied link opens its cart
    expect(page.get_by_role("heading", name="Ready to reorder")).to_be_visible()
