"""The Products page's cross-sell card in Chromium at phone and desktop sizes: the merchant pins
a pair and unpins it, and a store with too few orders is told it has too little support."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import CrossSellPair, CrossSellPin, Product, SyncState
from services.engine.cross_sell_learning import STATE_NAME, learn_cross_sell_pairs
from services.products.cross_sell import cross_sell_panel
from tests.e2e.conftest import RunningApp, open_admin, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def relearned(running_app: RunningApp) -> Iterator[Session]:
    """A session on the shared demo store; afterwards its pins are gone and its pairs relearned."""
    with Session(get_engine(running_app.database_url)) as session:
        yield session
        session.rollback()
        session.execute(delete(CrossSellPin))
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
    expect(card.get_by_test_id("xsell-learned")).to_have_count(len(learned.learned))

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
