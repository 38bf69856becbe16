"""Runs the real app (production build) on a demo database and drives it with Chromium."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlmodel import Session, select

from services.cart.snoozes import clear_snooze
from services.core.db import get_engine
from services.core.tables import CartLink, Snooze
from tests.e2e.app_process import CHROMIUM, CHROMIUM_FLAGS, VIEWPORTS, RunningApp, serve_demo_app

SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/test.sh, which installs it")
    with serve_demo_app(tmp_path_factory.mktemp("e2e")) as app:
        yield app


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def page(browser: Browser, viewport: str) -> Iterator[Page]:
    context = browser.new_context(
        viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone", has_touch=viewport == "phone"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll the database (not the UI) until the app's background work shows up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def open_admin(page: Page, running_app: RunningApp, path: str = "/admin") -> None:
    """Sign in as the demo admin through the login form, then open `path` in the dashboard."""
    page.goto(f"{running_app.base_url}/admin/login")
    expect(page.get_by_test_id("login-ready")).to_be_attached()
    page.get_by_label("Email").fill(running_app.demo.admin_email)
    page.get_by_label("Password").fill(running_app.demo.admin_password)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("admin-frame")).to_be_visible()
    if path.rstrip("/") != "/admin":
        page.goto(f"{running_app.base_url}{path}")
        expect(page.get_by_test_id("admin-frame")).to_be_visible()


@pytest.fixture
def customer_id(running_app: RunningApp) -> Iterator[int]:
    """The due sample customer; whatever a test snoozed is gone after it (the app is shared)."""
    with Session(get_engine(running_app.database_url)) as session:
        token = running_app.demo.sample_tokens["due"]
        customer = session.exec(select(CartLink.customer_id).where(CartLink.token == token)).one()
    yield customer
    with Session(get_engine(running_app.database_url)) as session:
        for row in session.exec(select(Snooze).where(Snooze.customer_id == customer)).all():
            clear_snooze(session, customer, row.product_id)
        session.commit()
