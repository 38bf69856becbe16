"""The Analytics page in Chromium, at phone (390×844) and desktop (1280×800) sizes.

Shoppers open two demo carts first (one checks out), so the charts have cart activity; every
figure on the page is then compared with `analytics_report` on the same database and range.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, func, select

from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.money import format_money
from services.core.tables import CartEvent, CartLink
from services.reporting.analytics.ranges import day_range, preset_days
from services.reporting.analytics.report import AnalyticsReport, analytics_report
from tests.e2e.conftest import SCREENSHOTS, RunningApp, open_admin, screenshot, wait_for

pytestmark = pytest.mark.e2e


def _views(running_app: RunningApp, kind: str) -> int:
    token = running_app.demo.sample_tokens[kind]
    with Session(get_engine(running_app.database_url)) as session:
        return session.exec(
            select(func.count())
            .select_from(CartEvent)
            .join(CartLink, CartLink.id == CartEvent.cart_link_id)  # type: ignore[arg-type]
            .where(CartLink.token == token, CartEvent.kind == "view")
        ).one()


def _shop_on_carts(page: Page, running_app: RunningApp, viewport: str) -> None:
    """One email visit that checks out, one sms visit that does not: real cart events.

    The app writes cart events in batches about once a second; checkout writes at once, a bare
    visit does not, so the sms view is awaited in the database before the figures are read.
    """
    sms_views = _views(running_app, "not_due")
    page.goto(running_app.cart("due", channel="email"))
    expect(page.get_by_role("heading", name=re.compile("Welcome back"))).to_be_visible()
    if viewport == "phone":
        page.get_by_role("button", name=re.compile(r"^Cart, ")).click()
        panel = page.get_by_test_id("cart-drawer")
    else:
        panel = page.get_by_test_id("cart-sidebar")
    panel.get_by_role("button", name="Check Out").click()
    expect(page.get_by_test_id("permalink")).to_be_visible()
    page.goto(running_app.cart("not_due", channel="sms"))
    expect(page.get_by_role("heading", name=re.compile("Welcome back"))).to_be_visible()
    wait_for(lambda: _views(running_app, "not_due") > sms_views, 10, "the sms view to be saved")


def _report(running_app: RunningApp, preset: str, channel: str | None = None) -> AnalyticsReport:
    now = utcnow()
    start, end = day_range(*preset_days(preset, now.date()))
    with Session(get_engine(running_app.database_url)) as session:
        return analytics_report(session, start, end, channel, now=now)


def _money(cents: int | None, currency: str) -> str:
    return "–" if cents is None else format_money(cents, currency)


def _expect_figures(page: Page, report: AnalyticsReport) -> None:
    totals, currency = report.totals, report.currency
    rate = totals.checkout_rate
    expected = {
        "kpi-views": f"{totals.views:,}",
        "kpi-sessions": f"{totals.sessions:,}",
        "kpi-checkouts": f"{totals.checkouts:,}",
        "kpi-checkout-rate": "–" if rate is None else f"{rate * 100:.1f}%",
        "kpi-orders": f"{totals.attributed_orders:,}",
        "kpi-revenue": format_money(totals.attributed_revenue_cents, currency),
        "kpi-aov-cart": _money(totals.aov_cart_cents, currency),
        "kpi-aov-all": _money(totals.aov_all_cents, currency),
        "kpi-revenue-per-session": _money(totals.revenue_per_session_cents, currency),
    }
    for testid, text in expected.items():
        expect(page.get_by_test_id(testid)).to_have_text(text)
    for row in report.moments:
        shown = page.get_by_test_id(f"moment-row-{row.kind}")
        expect(shown.locator("th")).to_have_text(row.label)
        expect(shown.locator("td").first).to_have_text(f"{row.views:,}")
        expect(shown.locator("td").nth(4)).to_have_text(f"{row.attributed_orders:,}")


def test_analytics_shows_the_demo_store_figures_and_charts(
    page: Page, viewport: str, running_app: RunningApp
):
    _shop_on_carts(page, running_app, viewport)
    open_admin(page, running_app, "/admin/analytics")
    expect(page.get_by_test_id("admin-analytics")).to_be_visible()

    report = _report(running_app, "30d")
    assert report.totals.views >= 2 and report.totals.checkouts >= 1
    assert report.totals.all_orders > 0  # the demo store's recent orders
    assert any(row.views and row.attributed_orders for row in report.moments)
    _expect_figures(page, report)

    for chart in ("chart-activity", "chart-revenue", "chart-channels"):
        surface = page.get_by_test_id(chart).locator(".recharts-wrapper > svg.recharts-surface")
        expect(surface).to_be_visible()
        assert surface.bounding_box()["width"] > 200  # type: ignore[index]
    # the activity chart drew its lines, one per figure
    expect(page.get_by_test_id("chart-activity").locator(".recharts-area-curve")).to_have_count(2)
    email = page.get_by_test_id("channel-row-email")
    row = next(row for row in report.channels if row.channel == "email")
    expect(email).to_contain_text(f"{row.views:,}")
    # nothing wider than the screen: the page never scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"admin-analytics-{viewport}")
    page.screenshot(path=str(SCREENSHOTS / f"admin-analytics-full-{viewport}.png"), full_page=True)
    page.get_by_test_id("chart-channels").scroll_into_view_if_needed()
    screenshot(page, f"admin-analytics-channels-{viewport}")
    page.get_by_test_id("moment-table").scroll_into_view_if_needed()
    expect(page.get_by_test_id("moment-row-lapse")).to_be_in_viewport()
    screenshot(page, f"admin-analytics-moments-{viewport}")

    # twelve months: weekly points, the same figures as the report's
    page.get_by_test_id("range-presets").get_by_role("radio", name="12 months").click()
    expect(page.get_by_test_id("range-label")).to_contain_text("per week")
    _expect_figures(page, _report(running_app, "12m"))
    page.get_by_test_id("chart-activity").scroll_into_view_if_needed()
    screenshot(page, f"admin-analytics-12m-{viewport}")

    # one channel: every cart figure narrows to it
    page.get_by_test_id("channel-filter").click()
    page.get_by_role("option", name="SMS").click()
    expect(page.get_by_test_id("range-label")).to_contain_text("sms")
    _expect_figures(page, _report(running_app, "12m", "sms"))


def test_bad_dates_are_refused_and_nothing_is_lost(
    page: Page, viewport: str, running_app: RunningApp
):
    open_admin(page, running_app, "/admin/analytics")
    views = page.get_by_test_id("kpi-views")
    expect(views).to_be_visible()
    before = views.inner_text()
    page.get_by_test_id("date-from").fill("2026-05-10")
    page.get_by_test_id("date-to").fill("2026-05-01")
    page.get_by_test_id("apply-dates").click()
    expect(page.get_by_test_id("range-error")).to_have_text(
        "The start date must be on or before the end date."
    )
    expect(page.get_by_test_id("date-from")).to_have_value("2026-05-10")  # what was typed stays
    expect(views).to_have_text(before)  # the last good figures stay
    page.get_by_test_id("date-from").fill("2020-01-01")
    page.get_by_test_id("date-to").fill("2020-01-31")
    page.get_by_test_id("apply-dates").click()
    expect(page.get_by_test_id("range-error")).to_be_hidden()
    expect(page.get_by_test_id("analytics-empty")).to_be_visible()
    expect(views).to_have_text("0")
    screenshot(page, f"admin-analytics-empty-{viewport}")


def test_the_url_chooses_range_and_channel(page: Page, viewport: str, running_app: RunningApp):
    """A link such as /admin/analytics?range=12m&channel=klaviyo opens that view directly."""
    open_admin(page, running_app, "/admin/analytics?range=12m&channel=klaviyo")
    expect(page.get_by_test_id("range-label")).to_contain_text("per week · klaviyo")
    _expect_figures(page, _report(running_app, "12m", "klaviyo"))
    expect(page.get_by_test_id("channel-row-klaviyo")).to_be_visible()
    expect(page.get_by_test_id("channel-row-email")).to_have_count(0)

    page.goto(f"{running_app.base_url}/admin/analytics?from=2026-13-01&to=2026-02-01")
    expect(page.get_by_test_id("range-error")).to_contain_text("start date is not a date")
    expect(page.get_by_test_id("range-label")).to_contain_text("per day")  # the last 30 days
