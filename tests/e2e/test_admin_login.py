"""Signing in to the dashboard, its frame, and signing out, at phone and desktop sizes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlmodel import Session

from services.auth import REFUSED
from services.db import get_engine
from services.models import AdminSession, utcnow
from tests.e2e.conftest import RunningApp, screenshot

pytestmark = pytest.mark.e2e

LOGIN_URL = re.compile(r"/admin/login/?$")
HOME_URL = re.compile(r"/admin/?$")


def open_login(page: Page, running_app: RunningApp, path: str = "/admin/login") -> None:
    page.goto(f"{running_app.base_url}{path}")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_test_id("login-ready")).to_be_attached()


def sign_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_test_id("sign-in").click()


def signed_in_email(page: Page, viewport: str):
    """Where the frame names the user: the sidebar on desktop, the menu on phones."""
    if viewport == "phone":
        page.get_by_test_id("admin-menu").click()
        return page.get_by_test_id("admin-menu-email")
    return page.get_by_test_id("admin-email")


def sign_out(page: Page, viewport: str) -> None:
    if viewport == "phone":
        page.get_by_test_id("admin-menu").click()
        page.get_by_role("menuitem", name="Sign out").click()
    else:
        page.get_by_test_id("sign-out").click()


def test_admin_without_a_session_goes_to_the_login_page(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    open_login(page, running_app, "/admin")
    expect(page.get_by_test_id("admin-frame")).to_have_count(0)
    expect(page.get_by_role("heading", name="RepeatCart")).to_be_visible()
    screenshot(page, f"admin-login-{viewport}")


def test_a_wrong_password_is_refused_clearly(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    open_login(page, running_app)
    sign_in(page, running_app.demo.admin_email, "not the password")
    expect(page.get_by_test_id("login-error")).to_have_text(REFUSED)
    expect(page).to_have_url(LOGIN_URL)
    screenshot(page, f"admin-login-refused-{viewport}")


def test_the_demo_admin_signs_in_sees_the_frame_and_signs_out(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    demo = running_app.demo
    open_login(page, running_app)
    sign_in(page, demo.admin_email.upper(), demo.admin_password)
    expect(page).to_have_url(HOME_URL)
    expect(page.get_by_test_id("admin-frame")).to_be_visible()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("count-customers")).to_have_text(f"{demo.customers:,}")
    expect(page.get_by_test_id("count-due")).to_have_text(f"{demo.due_customers:,}")
    screenshot(page, f"admin-home-{viewport}")
    expect(signed_in_email(page, viewport)).to_have_text(demo.admin_email)
    if viewport == "phone":
        # the menu fades in: capture it once its animations have finished
        page.get_by_role("menu").evaluate(
            "el => Promise.all(el.getAnimations().map(a => a.finished))"
        )
        screenshot(page, "admin-menu-phone")
        page.keyboard.press("Escape")
        expect(page.get_by_role("menu")).to_have_count(0)
    cookie = next(c for c in page.context.cookies() if c["name"] == "repeatcart_admin")
    assert cookie["value"] and cookie["sameSite"] == "Strict"

    # signed in, the login page leads straight back to the dashboard
    page.goto(f"{running_app.base_url}/admin/login")
    expect(page).to_have_url(HOME_URL)
    expect(page.get_by_test_id("count-customers")).to_be_visible()

    sign_out(page, viewport)
    expect(page).to_have_url(LOGIN_URL)
    open_login(page, running_app, "/admin")
    expect(page.get_by_test_id("admin-frame")).to_have_count(0)


def test_a_session_ended_on_the_server_is_refused_at_once(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    demo = running_app.demo
    open_login(page, running_app)
    sign_in(page, demo.admin_email, demo.admin_password)
    expect(page.get_by_test_id("count-customers")).to_be_visible()
    with Session(get_engine(running_app.database_url)) as session:
        session.execute(
            update(AdminSession)
            .where(AdminSession.revoked_at.is_(None))  # type: ignore[union-attr]
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    # the page is still open and the cookie still set; the next admin handler call refuses it
    page.get_by_test_id("refresh").click()
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_test_id("count-customers")).to_have_count(0)
    open_login(page, running_app, "/admin")
    expect(page.get_by_test_id("admin-frame")).to_have_count(0)
