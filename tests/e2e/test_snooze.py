""" "Remind me later" on the shopper's cart, at phone (390×844) and desktop (1280×800) sizes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session

from services.cart.snoozes import active_snoozes
from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import Variant
from tests.e2e.conftest import RunningApp, screenshot
from tests.e2e.test_cart_page import open_cart

pytestmark = pytest.mark.e2e


def snoozes(running_app: RunningApp, customer_id: int) -> dict[int | None, datetime]:
    with Session(get_engine(running_app.database_url)) as session:
        return active_snoozes(session, customer_id, utcnow())


def shopper_dates(start: datetime, end: datetime, days: int) -> str:
    """The shopper's date `days` ahead ("Dec 9"), as a pattern for both ends of a click."""
    labels = {f"{d:%b} {d.day}" for d in (start + timedelta(days), end + timedelta(days))}
    return "|".join(re.escape(label) for label in sorted(labels))


def due_row(page: Page, key: str) -> Locator:
    return page.locator(f'[data-testid="section-due"] [data-testid="cart-item"][data-key="{key}"]')


def pick(page: Page, trigger: Locator, choice: str) -> None:
    trigger.click()
    page.get_by_role("menuitem", name=choice).click()


def test_snooze_one_due_product_and_undo(
    page: Page, viewport: str, running_app: RunningApp, customer_id: int
):
    open_cart(page, running_app.cart("due"))
    first = (
        page.get_by_test_id("section-due")
        .get_by_test_id("cart-item")
        .and_(page.locator('[data-available="true"][data-selected="true"]'))
        .first
    )
    expect(first).to_be_visible()
    key = first.get_attribute("data-key") or ""
    row = due_row(page, key)
    with Session(get_engine(running_app.database_url)) as session:
        variant = session.get(Variant, int(key))
        product_id = variant.product_id  # type: ignore[union-attr]

    before = utcnow()
    trigger = row.get_by_role("button", name=re.compile("^Remind me later about "))
    trigger.click()
    menu = page.get_by_role("menu")
    expect(menu.get_by_role("menuitem", name="In 2 weeks")).to_be_visible()
    menu.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")
    screenshot(page, f"snooze-menu-{viewport}")
    page.get_by_role("menuitem", name="In 2 weeks").click()
    expect(row.get_by_test_id("snoozed-until")).to_have_text(
        re.compile(rf"^Reminder paused until ({shopper_dates(before, utcnow(), 14)})$")
    )
    after = utcnow()
    expect(row).to_have_attribute("data-selected", "false")
    expect(row.get_by_role("button", name=re.compile("^Add to cart"))).to_be_visible()
    expect(trigger).to_have_count(0)
    screenshot(page, f"snooze-product-{viewport}")

    until = snoozes(running_app, customer_id)
    assert set(until) == {product_id}
    assert before + timedelta(days=14) <= until[product_id] <= after + timedelta(days=14)

    row.get_by_role("button", name=re.compile("^Undo")).click()
    expect(row.get_by_test_id("snoozed-until")).to_have_count(0)
    expect(row).to_have_attribute("data-selected", "true")
    expect(trigger).to_be_visible()
    assert snoozes(running_app, customer_id) == {}


def test_snooze_the_whole_cart_and_resume(
    page: Page, viewport: str, running_app: RunningApp, customer_id: int
):
    open_cart(page, running_app.cart("due"))
    selected = page.get_by_test_id("section-due").locator('[data-selected="true"]')
    expect(selected.first).to_be_visible()
    selected_before = selected.count()
    banner = page.get_by_test_id("cart-snoozed")
    expect(banner).to_have_count(0)

    before = utcnow()
    pick(
        page,
        page.get_by_role("button", name="Remind me later about my whole cart"),
        "In 1 week",
    )
    expect(banner).to_contain_text(
        re.compile(rf"Reminders are paused until ({shopper_dates(before, utcnow(), 7)})\.")
    )
    expect(page.get_by_role("button", name="Remind me later about my whole cart")).to_have_count(0)
    assert selected.count() == selected_before  # the page they opened stays filled
    assert set(snoozes(running_app, customer_id)) == {None}
    screenshot(page, f"snooze-cart-{viewport}")

    page.reload()
    expect(banner).to_be_visible()

    banner.get_by_role("button", name="Resume reminders").click()
    expect(banner).to_have_count(0)
    expect(page.get_by_role("button", name="Remind me later about my whole cart")).to_be_visible()
    assert snoozes(running_app, customer_id) == {}
