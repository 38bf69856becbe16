"""The checkout preview in Chromium: active products by name, at most 100 lines, and the
not-found page when the preview is off (a second demo app, started with it turned off)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from services.cart.checkout_preview import MAX_LINES
from services.cart.links import checkout_permalink
from services.core.clock import utcnow
from services.core.db import get_engine, migrate
from services.core.tables import Product, Shop, Variant
from services.demo import build_demo_store
from tests.e2e.app_process import RunningApp, serve_app
from tests.e2e.conftest import screenshot


def preview(running_app: RunningApp, permalink: str) -> str:
    return preview_at(running_app.base_url, permalink)


def preview_at(base_url: str, permalink: str) -> str:
    return f"{base_url}/checkout-preview?{urlencode({'permalink': permalink})}"


def demo_variants(running_app: RunningApp) -> tuple[str, tuple[int, str], int]:
    """The shop domain, an active product's (variant id, title), an archived one's variant id."""
    return variants_in(running_app.database_url)


def variants_in(database_url: str) -> tuple[str, tuple[int, str], int]:
    with Session(get_engine(database_url)) as session:
        shop = session.exec(select(Shop)).one().shop_domain

        def first(status: str) -> tuple[int, str, str]:
            return session.exec(
                select(Variant.shopify_id, Product.title, Variant.title)
                .join(Product, Product.id == Variant.product_id)
                .where(Product.status == status)
                .order_by(Variant.id)
            ).first()  # type: ignore[return-value]

        active_id, product, variant = first("active")
        archived_id, _, _ = first("archived")
    title = product if variant == "Default Title" else f"{product} — {variant}"
    return shop, (active_id, title), archived_id


def test_the_preview_names_active_products_only(page: Page, viewport: str, running_app: RunningApp):
    shop, (active_id, title), archived_id = demo_variants(running_app)
    permalink = checkout_permalink(shop, [(active_id, 2), (archived_id, 1)], discount_code="BACK")
    page.goto(preview(running_app, permalink))
    expect(page.get_by_test_id("permalink")).to_have_text(permalink)
    expect(page.get_by_test_id("preview-title")).to_have_text([title, "Unknown item"])
    expect(page.get_by_test_id("preview-quantity")).to_have_text(["2", "1"])
    screenshot(page, f"checkout-preview-lines-{viewport}")


def test_a_cart_of_more_than_100_lines_is_refused(
    page: Page, viewport: str, running_app: RunningApp
):
    shop, (active_id, _), _ = demo_variants(running_app)
    permalink = checkout_permalink(shop, [(active_id, 1)] * (MAX_LINES + 1))
    page.goto(preview(running_app, permalink))
    expect(page.get_by_test_id("preview-refused")).to_contain_text(
        "101 lines; the preview shows carts of at most 100"
    )
    expect(page.get_by_test_id("preview-variant")).to_have_count(0)
    expect(page.get_by_test_id("permalink")).to_have_count(0)
    screenshot(page, f"checkout-preview-refused-{viewport}")


@pytest.fixture(scope="module")
def preview_off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A small demo store served with `REPEATCART_CHECKOUT_PREVIEW=0`: (base URL, database)."""
    workdir = tmp_path_factory.mktemp("preview-off")
    database_url = f"sqlite:///{workdir / 'app.db'}"
    migrate(database_url)
    with Session(get_engine(database_url)) as session:
        build_demo_store(session, seed=5, customers=20, now=utcnow())
        session.commit()
    with serve_app(workdir, database_url, {"REPEATCART_CHECKOUT_PREVIEW": "0"}) as base_url:
        yield base_url, database_url


@pytest.mark.own_app
def test_the_preview_is_not_found_while_it_is_off(
    page: Page, viewport: str, preview_off: tuple[str, str]
):
    base_url, database_url = preview_off
    shop, (active_id, _), _ = variants_in(database_url)
    page.goto(preview_at(base_url, checkout_permalink(shop, [(active_id, 1)])))
    expect(page.get_by_test_id("not-found")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_be_visible()
    expect(page.get_by_test_id("permalink")).to_have_count(0)
    expect(page.get_by_test_id("preview-variant")).to_have_count(0)
    screenshot(page, f"checkout-preview-off-{viewport}")
