"""The dashboard's Customers page in Chromium, at phone and desktop sizes: search, the detail
panel, paging and sorting, and the cart link (copy, rotate, the old link expired)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, select

from services.core.db import get_engine
from services.core.tables import Customer
from tests.e2e.conftest import RunningApp, open_admin, screenshot

pytestmark = pytest.mark.e2e

PATH = "/admin/customers"


def rows(page: Page, viewport: str) -> Locator:
    """The table's rows on desktop, the stacked cards on a phone."""
    return page.get_by_test_id("customer-row" if viewport == "desktop" else "customer-card")


def search(page: Page, text: str) -> None:
    box = page.get_by_test_id("customer-search")
    box.fill(text)
    box.press("Enter")


def settled(page: Page) -> None:
    """Let a dialog finish opening before a screenshot (its fade-in is a CSS animation)."""
    page.wait_for_function("() => document.getAnimations().every((a) => a.playState !== 'running')")


def untouched_customer(running_app: RunningApp, viewport: str) -> str:
    """A customer no other browser test uses (not a sample, not the cart page's rotation,
    one per viewport), so rotating their link disturbs nobody."""
    samples = set(running_app.demo.sample_emails.values())
    with Session(get_engine(running_app.database_url)) as session:
        emails = session.exec(
            select(Customer.email)
            .where(Customer.email.not_in(samples))  # type: ignore[union-attr]
            .order_by(Customer.id.desc())  # type: ignore[union-attr]
            .limit(2)
        ).all()
    return str(emails[0 if viewport == "phone" else 1])


def test_search_a_customer_and_see_recent_orders(
    page: Page, viewport: str, running_app: RunningApp
):
    open_admin(page, running_app, PATH)
    expect(page.get_by_test_id("range-label")).to_have_text("1–25 of 200")
    expect(rows(page, viewport)).to_have_count(25)
    screenshot(page, f"admin-customers-{viewport}")

    search(page, "ava.due")
    expect(rows(page, viewport)).to_have_count(1)
    expect(page.get_by_test_id("range-label")).to_have_text("1–1 of 1")
    found = rows(page, viewport).first
    expect(found).to_contain_text("Ava Delgado")
    expect(found.get_by_test_id("status")).to_have_text(re.compile("Due now|Late"))
    found.get_by_test_id("customer-open").click()

    detail = page.get_by_test_id("customer-detail")
    expect(detail).to_be_visible()
    expect(detail.get_by_test_id("detail-name")).to_have_text("Ava Delgado")
    expect(detail.get_by_test_id("recent-order")).to_have_count(3)
    expect(detail.get_by_test_id("recent-order").first).to_contain_text("Fig & Cedar")
    expect(detail.get_by_test_id("due-product").first).to_be_visible()
    expect(detail.get_by_test_id("link-url")).to_contain_text("/cart/")
    settled(page)
    screenshot(page, f"admin-customers-detail-{viewport}")
    detail.get_by_test_id("detail-close").click()
    expect(detail).to_be_hidden()


def test_phone_search_paging_sorting_and_no_match(
    page: Page, viewport: str, running_app: RunningApp
):
    open_admin(page, running_app, PATH)
    search(page, "(415) 555-0142")
    expect(rows(page, viewport)).to_have_count(1)
    expect(rows(page, viewport).first).to_contain_text("Ava Delgado")

    search(page, "")
    expect(page.get_by_test_id("range-label")).to_have_text("1–25 of 200")
    page.get_by_test_id("next-page").click()
    expect(page.get_by_test_id("range-label")).to_have_text("26–50 of 200")
    expect(page.get_by_test_id("previous-page")).to_be_enabled()

    page.get_by_test_id("customer-sort").click()
    page.get_by_role("option", name="Next due date").click()
    expect(page.get_by_test_id("range-label")).to_have_text("1–25 of 200")
    expect(rows(page, viewport).first.get_by_test_id("status")).to_have_text("Late")

    search(page, "nobody-at-all")
    expect(page.get_by_test_id("no-match")).to_contain_text("No customer matches “nobody-at-all”")
    expect(rows(page, viewport)).to_have_count(0)
    if viewport == "phone":
        screenshot(page, "admin-customers-no-match-phone")
    page.get_by_test_id("clear-search").click()
    expect(page.get_by_test_id("range-label")).to_have_text("1–25 of 200")
    expect(page.get_by_test_id("customer-search")).to_have_value("")


def test_copy_then_rotate_the_cart_link(page: Page, viewport: str, running_app: RunningApp):
    page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=running_app.base_url
    )
    email = untouched_customer(running_app, viewport)
    open_admin(page, running_app, PATH)
    search(page, email)
    expect(rows(page, viewport)).to_have_count(1)
    rows(page, viewport).first.get_by_test_id("customer-open").click()
    detail = page.get_by_test_id("customer-detail")
    link = detail.get_by_test_id("link-url")
    expect(link).to_contain_text("/cart/")
    old_url = link.inner_text().strip()

    detail.get_by_test_id("copy-link").click()
    expect(detail.get_by_test_id("copy-link")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == old_url

    detail.get_by_test_id("rotate-link").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text("stops working")
    if viewport == "phone":
        settled(page)
        screenshot(page, "admin-customers-rotate-phone")
    confirm.get_by_test_id("confirm-rotate").click()
    expect(detail.get_by_test_id("link-notice")).to_contain_text("expired page")
    expect(link).not_to_have_text(old_url)
    expect(detail.get_by_test_id("copy-link")).to_have_text("Copy")
    new_url = link.inner_text().strip()
    assert new_url.startswith(f"{running_app.base_url}/cart/")
    settled(page)
    screenshot(page, f"admin-customers-rotated-{viewport}")
    with page.expect_popup() as opened:
        detail.get_by_test_id("preview-link").click()
    assert opened.value.url == f"{new_url}?preview=1"
    opened.value.close()

    page.goto(old_url)
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    page.goto(new_url)
    expect(page.get_by_role("heading", name=re.compile("Welcome back"))).to_be_visible()
