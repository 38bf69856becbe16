"""The Products page's cross-sell card in Chromium at phone and desktop sizes: the merchant pins
a pair and unpins it, and a store with too few orders is told it has too little support; the
Cart page's Moments card saves the cross-sell days; and an offer's cart link opens with the
offer selected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import (
    AppSetting,
    CartLink,
    CrossSellPair,
    CrossSellPin,
    DueItem,
    Product,
    SyncState,
    Variant,
)
from services.engine.cross_sell_learning import STATE_NAME, learn_cross_sell_pairs
from services.products.cross_sell import cross_sell_panel
from services.settings.effective import effective_settings, save_settings
from tests.e2e.conftest import RunningApp, open_admin, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def relearned(running_app: RunningApp) -> Iterator[Session]:
    """A session on the shared demo store, its pairs learned with a minimum support of 3 (the
    small demo store has no pair that 5 customers bought); afterwards its pins are gone and its
    pairs relearned with the default."""
    with Session(get_engine(running_app.database_url)) as session:
        save_settings(session, {"cross_sell_min_support": "3"})
        learn_cross_sell_pairs(session, utcnow())
        session.commit()
        yield session
        session.rollback()
        session.execute(delete(CrossSellPin))
        session.execute(delete(AppSetting).where(col(AppSetting.name) == "cross_sell_min_support"))
        learn_cross_sell_pairs(session, utcnow())
        session.commit()


def _two_products(session: Session) -> tuple[str, str]:
    titles = session.exec(
        select(Product.title).where(Product.status == "active").order_by(col(Product.id)).limit(2)
    ).all()
    return titles[0], titles[1]


def _open_card(page: Page, running_app: RunningApp):  # noqa: ANN202  # a Playwright Locator
    open_admin(page, running_app, "/admin/products")
    card = page.get_by_test_id("card-cross-sell")
    card.scroll_into_view_if_needed()
    expect(card).to_be_visible()
    return card


def test_the_merchant_pins_and_unpins_a_cross_sell_pair(
    page: Page, viewport: str, running_app: RunningApp, relearned: Session
) -> None:
    buyers_of, offered = _two_products(relearned)
    learned = cross_sell_panel(relearned)
    card = _open_card(page, running_app)
    status = card.get_by_test_id("xsell-status")
    expect(status).to_have_attribute(
        "data-too-little", "true" if learned.too_little_support else "false"
    )
    expect(status).to_contain_text(f"{learned.orders:,} orders")
    assert learned.learned, "the demo store has pairs 3 customers bought"
    expect(card.get_by_test_id("xsell-learned")).to_have_count(len(learned.learned))
    expect(card.get_by_test_id("xsell-learned").first).to_contain_text(
        f"{learned.learned[0].product_title} → {learned.learned[0].paired_title}"
    )

    card.get_by_label("Buyers of").fill(buyers_of.lower())
    card.get_by_label("are offered").fill(offered)
    card.get_by_test_id("xsell-pin-save").click()
    expect(card.get_by_test_id("xsell-notice")).to_contain_text(
        f"Buyers of {buyers_of} are offered {offered}"
    )
    pin = card.get_by_test_id("xsell-pin")
    expect(pin).to_have_count(1)
    expect(pin).to_contain_text(f"{buyers_of} → {offered}")
    expect(card.get_by_label("Buyers of")).to_have_value("")  # the form is cleared for the next
    [saved] = relearned.exec(select(CrossSellPin)).all()
    assert relearned.get(Product, saved.paired_product_id).title == offered  # type: ignore[union-attr]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    pin.scroll_into_view_if_needed()
    screenshot(page, f"admin-cross-sell-{viewport}")

    card.get_by_label("are offered").fill("no such product anywhere")
    card.get_by_label("Buyers of").fill(buyers_of)
    card.get_by_test_id("xsell-pin-save").click()
    expect(card.get_by_test_id("xsell-error")).to_contain_text("No product matches")

    card.get_by_test_id("xsell-unpin").click()
    expect(card.get_by_test_id("xsell-pin")).to_have_count(0)
    expect(card.get_by_test_id("xsell-notice")).to_contain_text("Pin removed")
    relearned.expire_all()
    assert relearned.exec(select(CrossSellPin)).all() == []


def test_a_store_with_too_few_orders_is_told_it_has_too_little_support(
    page: Page, viewport: str, running_app: RunningApp, relearned: Session
) -> None:
    # what the nightly run records for a store of 42 orders: no pairs, and why
    state = relearned.get(SyncState, STATE_NAME) or SyncState(name=STATE_NAME)
    state.last_summary = {"orders": 42, "customers": 30, "pairs": 0, "min_support": 5}
    state.last_finished_at = utcnow()
    relearned.add(state)
    relearned.execute(delete(CrossSellPin))
    relearned.execute(delete(CrossSellPair))
    relearned.commit()

    card = _open_card(page, running_app)
    status = card.get_by_test_id("xsell-status")
    expect(status).to_have_attribute("data-too-little", "true")
    expect(status).to_contain_text("Too little support: the store has 42 orders")
    expect(status).to_contain_text("from 100 up")
    expect(card.get_by_test_id("xsell-learned")).to_have_count(0)
    screenshot(page, f"admin-cross-sell-too-little-{viewport}")


def test_the_cross_sell_days_are_saved_on_the_cart_page(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    open_admin(page, running_app, "/admin/cart")
    card = page.get_by_test_id("card-moments")
    card.scroll_into_view_if_needed()
    try:
        days = card.get_by_label("Cross-sell days")
        expect(days).to_have_value("7")
        days.fill("10")
        card.get_by_test_id("save-moments").click()
        expect(card.get_by_test_id("saved-moments")).to_be_visible()
        with Session(get_engine(running_app.database_url)) as session:
            assert effective_settings(session).cross_sell_days == 10
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, f"admin-cart-moments-{viewport}")
    finally:
        with Session(get_engine(running_app.database_url)) as session:
            session.execute(delete(AppSetting).where(col(AppSetting.name) == "cross_sell_days"))
            session.commit()


def test_a_cross_sell_link_opens_the_cart_with_the_offer_selected(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    token = running_app.demo.sample_tokens["due"]
    with Session(get_engine(running_app.database_url)) as session:
        customer = session.exec(select(CartLink.customer_id).where(CartLink.token == token)).one()
        bought = set(
            session.exec(select(DueItem.product_id).where(DueItem.customer_id == customer))
        )
        offer, variant = session.exec(
            select(Product, Variant)
            .join(Variant, col(Variant.product_id) == col(Product.id))
            .where(
                Product.status == "active",
                col(Variant.available).is_(True),
                col(Product.id).not_in(bought),
            )
            .order_by(col(Product.id))
        ).first()  # type: ignore[misc]
    page.goto(f"{running_app.base_url}/cart/{token}?ch=klaviyo&pick={offer.id}")
    ymal = page.get_by_test_id("section-ymal").get_by_test_id("cart-item")
    expect(ymal.first).to_have_attribute("data-key", str(variant.id))
    expect(ymal.first).to_have_attribute("data-selected", "true")
    expect(ymal.first).to_contain_text(offer.title)
    ymal.first.scroll_into_view_if_needed()
    screenshot(page, f"cart-cross-sell-{viewport}")
