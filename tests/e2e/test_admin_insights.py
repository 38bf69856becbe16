"""The Insights page in Chromium at phone and desktop sizes: both charts draw (SVG), the
percentiles are marked, and the product picker switches the distribution."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from repeatcart_app.state.admin_products import format_days
from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import IntervalStat, Product
from services.reporting.insights import moment_outlook
from tests.e2e.conftest import RunningApp, open_admin, screenshot

pytestmark = pytest.mark.e2e


def learned_median(running_app: RunningApp, title: str) -> str:
    """A product's median gap as the page shows it. Not a constant: the demo store is built
    back from the moment the tests start, and gaps are counted in UTC days, so the figure
    depends on the hour of that moment."""
    with Session(get_engine(running_app.database_url)) as session:
        median = session.exec(
            select(IntervalStat.median).join(Product).where(Product.title == title)
        ).one()
    return format_days(median)


def test_insights_draws_both_charts_and_switches_product(
    page: Page, viewport: str, running_app: RunningApp
):
    median = learned_median(running_app, "House Blend Coffee")
    open_admin(page, running_app, "/admin/insights")
    distribution = page.get_by_test_id("distribution-chart")
    expect(distribution.locator("svg.recharts-surface[role=application]")).to_be_visible()
    expect(distribution.locator(".recharts-bar-rectangle").first).to_be_visible()
    expect(distribution.locator(".recharts-reference-line")).to_have_count(1)
    expect(distribution).to_contain_text(f"Median {median} d")
    expect(distribution).to_contain_text("Middle half (P25–P75)")
    expect(distribution).to_contain_text("Days between reorders")
    expect(page.get_by_test_id("insights-product")).to_have_text("House Blend Coffee")
    expect(page.get_by_test_id("insights-median")).to_have_text(f"{median} d")

    due = page.get_by_test_id("due-chart")
    expect(due.locator("svg.recharts-surface[role=application]")).to_be_visible()
    expect(due.locator(".recharts-bar-rectangle").first).to_be_attached()
    expect(due).to_contain_text("Customers")
    assert int(page.get_by_test_id("due-total").inner_text().replace(",", "")) > 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"admin-insights-{viewport}")

    page.get_by_test_id("insights-search").fill("shampoo")
    page.get_by_test_id("insights-search-submit").click()
    page.get_by_test_id("insights-result").filter(has_text="Argan Repair Shampoo").click()
    expect(page.get_by_test_id("insights-product")).to_have_text("Argan Repair Shampoo")
    expect(distribution.locator(".recharts-bar-rectangle").first).to_be_visible()
    due.scroll_into_view_if_needed()
    screenshot(page, f"admin-insights-due-{viewport}")


def test_insights_counts_customers_reaching_each_moment(
    page: Page, viewport: str, running_app: RunningApp
):
    with Session(get_engine(running_app.database_url)) as session:
        expected = moment_outlook(session, utcnow())
    assert any(moment.upcoming for moment in expected)  # the demo store has customers coming due
    open_admin(page, running_app, "/admin/insights")
    card = page.get_by_test_id("moments-card")
    for moment in expected:
        row = card.get_by_test_id(f"moment-{moment.kind}")
        expect(row).to_contain_text(moment.label)
        expect(row.get_by_test_id("moment-today")).to_have_text(f"{moment.today:,}")
        expect(row.get_by_test_id("moment-upcoming")).to_have_text(f"{moment.upcoming:,}")
    card.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"admin-insights-moments-{viewport}")
