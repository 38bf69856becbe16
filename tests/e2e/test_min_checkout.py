"""Minimum checkout quantity in Chromium: Check Out waits until the cart holds enough items."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from services.core.db import get_engine
from services.settings.cart import load_cart_settings
from services.settings.effective import clear_setting, save_settings
from tests.e2e.conftest import RunningApp, open_admin, screenshot
from tests.e2e.test_cart_page import cart_count, open_cart, selection_panel

pytestmark = pytest.mark.e2e


@pytest.fixture
def set_minimum(running_app: RunningApp) -> Iterator[Callable[[int], None]]:
    """Save a minimum as the Cart page does; the next cart load reads it. Cleared afterwards."""
    engine = get_engine(running_app.database_url)

    def save(quantity: int) -> None:
        with Session(engine) as session:
            save_settings(session, {"min_checkout_quantity": str(quantity)})
            session.commit()

    yield save
    with Session(engine) as session:
        clear_setting(session, "min_checkout_quantity")
        session.commit()


def test_min_checkout_quantity_blocks_then_allows_check_out(
    page: Page, viewport: str, running_app: RunningApp, set_minimum: Callable[[int], None]
):
    open_cart(page, running_app.cart("due"))
    selected = cart_count(page)
    set_minimum(selected + 2)
    open_cart(page, running_app.cart("due"))
    panel = selection_panel(page, viewport)
    message = panel.get_by_test_id("min-checkout-message")
    check_out = panel.get_by_role("button", name="Check Out")
    expect(message).to_have_text("Add 2 more items to check out")
    expect(check_out).to_be_disabled()
    expect(check_out).to_be_in_viewport(ratio=1)  # the phone drawer has finished sliding in
    screenshot(page, f"cart-min-checkout-{viewport}")

    increase = panel.get_by_role("button", name=re.compile("^Increase quantity of ")).first
    increase.click()
    expect(message).to_have_text("Add 1 more item to check out")
    expect(check_out).to_be_disabled()
    increase.click()
    expect(message).to_have_count(0)
    expect(check_out).to_be_enabled()
    check_out.click()
    expect(page.get_by_test_id("permalink")).to_contain_text("/cart/")


def test_the_cart_page_saves_the_minimum_and_refuses_a_bad_one(
    page: Page, viewport: str, running_app: RunningApp, set_minimum: Callable[[int], None]
):
    open_admin(page, running_app, "/admin/cart")
    field = page.get_by_label("Minimum checkout quantity")
    expect(field).to_have_value("0")  # off by default
    field.fill("1.5")
    page.get_by_test_id("save-banner").click()
    expect(page.get_by_test_id("error-min_checkout_quantity")).to_contain_text("0 to 999")
    field.fill("3")
    page.get_by_test_id("save-banner").click()
    expect(page.get_by_test_id("saved-banner")).to_be_visible()
    expect(page.get_by_label("Minimum checkout quantity")).to_have_value("3")
    screenshot(page, f"admin-cart-min-checkout-{viewport}")
    with Session(get_engine(running_app.database_url)) as session:
        assert load_cart_settings(session).min_checkout_quantity == 3
