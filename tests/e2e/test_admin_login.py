"""Signing in to the dashboard, its frame, and signing out, at phone and desktop sizes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, WebSocket, expect
from sqlalchemy import delete, update
from sqlmodel import Session, select

from repeatcart_app.state.admin_customers import AdminCustomersState
from repeatcart_app.state.auth import AuthState
from services.auth import admins as auth
from services.auth.admins import REFUSED
from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import AdminSession, Customer, LoginThrottle
from tests.e2e.conftest import RunningApp, open_admin, screenshot
from tests.e2e.raw_events import RawEventClient, handler_name, redirects_to
from tests.e2e.test_admin_raw_events import _delta_sets, _signed_in_token

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


@pytest.fixture
def throttle_reset(running_app: RunningApp) -> Iterator[None]:
    """Leave the shared app's sign-in throttle as the other tests expect it: empty."""
    yield
    with Session(get_engine(running_app.database_url)) as session:
        session.execute(delete(LoginThrottle))
        session.commit()


def test_another_client_hammering_the_merchants_email_does_not_lock_the_merchant_out(
    page: Page, viewport: str, running_app: RunningApp, throttle_reset: None
) -> None:
    demo = running_app.demo
    attacker = f"203.0.113.{7 if viewport == 'phone' else 8}"
    refusals: list[str] = []
    with Session(get_engine(running_app.database_url)) as session:
        for _ in range(8):
            try:
                auth.sign_in(session, demo.admin_email, "a guess", utcnow(), client=attacker)
            except auth.AuthError as refusal:
                refusals.append(str(refusal))
            session.commit()
    assert refusals[-1].startswith(auth.THROTTLED)  # the guesser must wait now
    # the merchant, who never failed, signs in at once from this browser
    open_login(page, running_app)
    sign_in(page, demo.admin_email, demo.admin_password)
    expect(page).to_have_url(HOME_URL)
    expect(page.get_by_test_id("admin-frame")).to_be_visible()


def test_guesses_from_one_browser_must_wait_and_are_told_how_long(
    page: Page, viewport: str, running_app: RunningApp, throttle_reset: None
) -> None:
    ghost = f"nobody-{viewport}@example.com"
    open_login(page, running_app)
    # a few typos are free; the events are handled in order, one after the other
    for _ in range(auth.FREE_FAILURES_PER_PAIR + 1):
        sign_in(page, ghost, "not the password")
    expect(page.get_by_test_id("login-error")).to_have_text(REFUSED)
    sign_in(page, ghost, "not the password")
    expect(page.get_by_test_id("login-error")).to_have_text(
        re.compile(re.escape(auth.THROTTLED) + r" Try again in \d+ seconds\.")
    )
    screenshot(page, f"admin-login-throttled-{viewport}")
    # the wait is this browser's for this email only: the merchant's own email still works
    sign_in(page, running_app.demo.admin_email, running_app.demo.admin_password)
    expect(page).to_have_url(HOME_URL)


def _shown_emails(running_app: RunningApp, text: str) -> list[str]:
    with Session(get_engine(running_app.database_url)) as session:
        emails = session.exec(select(Customer.email)).all()
    return [email for email in emails if email and email in text]


def test_after_sign_out_neither_reload_nor_back_shows_the_customers_seen_before(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    frames: list[str] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    open_admin(page, running_app, "/admin/customers")
    expect(page.get_by_test_id("range-label")).to_be_visible()
    seen = _shown_emails(running_app, page.content())
    assert seen, "the Customers page should show customers' emails"
    page.goto(f"{running_app.base_url}/admin/store")  # so Back leads to the Customers page
    expect(page.get_by_test_id("admin-frame")).to_be_visible()
    frames.clear()
    sign_out(page, viewport)
    expect(page).to_have_url(LOGIN_URL)
    assert not any(c["value"] for c in page.context.cookies() if c["name"] == "repeatcart_admin")

    page.go_back()
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_test_id("login-ready")).to_be_attached()
    assert _shown_emails(running_app, page.content()) == []
    page.reload()
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_test_id("login-ready")).to_be_attached()
    assert _shown_emails(running_app, page.content()) == []
    assert frames and [email for email in seen if any(email in f for f in frames)] == []


def test_after_sign_out_the_tab_state_sent_over_the_websocket_holds_no_customer(
    running_app: RunningApp,
) -> None:
    """What a reload of the tab receives, read off the wire by a bare Socket.IO client."""
    token = _signed_in_token(running_app)
    client = RawEventClient(running_app.base_url)
    try:
        client.hydrate("/admin/customers", {"session_token": token})
        client.send(handler_name(AdminCustomersState, "load"), {}, "/admin/customers")
        client.wait_for(lambda update: _delta_sets(update, "loaded", True))
        seen = _shown_emails(running_app, json.dumps(client.received))
        assert seen, "the Customers page's state should carry customers' emails"
        client.send(handler_name(AuthState, "sign_out"), {}, "/admin/customers")
        client.wait_for(lambda update: redirects_to(update, "/admin/login"))
        client.received.clear()
        client.hydrate("/admin/login", {"session_token": ""})  # the same tab, reloaded
    finally:
        client.close()
    sent = json.dumps(client.received)
    assert "customers" in sent.lower()  # the whole state came, the Customers page's included
    assert [email for email in seen if email in sent] == []
