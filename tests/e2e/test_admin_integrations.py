"""The Integrations page: a key saved is shown by its last 4 characters only and never sent
back; bad test recipients are refused; the delivery log pages and retries failures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete
from sqlmodel import Session, select

from services.core.clock import utcnow
from services.core.config import Settings
from services.core.db import get_engine
from services.core.tables import AppSetting, Customer, IntegrationStatus, OutboxMessage
from services.dispatch import key_fingerprint
from services.settings.effective import clear_setting, save_settings
from tests.e2e.app_process import SECRET_KEY
from tests.e2e.conftest import RunningApp, open_admin, screenshot

pytestmark = pytest.mark.e2e


def _received_frames(page: Page) -> list[str]:
    frames: list[str] = []
    page.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda payload: frames.append(str(payload))),
    )
    return frames


def test_key_is_saved_and_only_its_last4_shown(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    key = f"pk_e2e{uuid.uuid4().hex}K9{viewport[:2]}"
    frames = _received_frames(page)
    open_admin(page, running_app, "/admin/integrations")
    switch = page.get_by_test_id("klaviyo-enabled")
    # off first, so the app's worker never tries to reach Klaviyo with the made-up key
    if switch.get_attribute("data-state") == "checked":
        switch.click()
    expect(switch).to_have_attribute("data-state", "unchecked")

    page.get_by_label("API key").first.fill(key)
    page.get_by_test_id("klaviyo-save-key").click()
    expect(page.get_by_test_id("klaviyo-key-message")).to_have_text("Key saved.")
    expect(page.get_by_test_id("klaviyo-key-note")).to_contain_text(f"••••{key[-4:]}")
    expect(page.get_by_test_id("klaviyo-key-input")).to_have_value("")
    expect(page.get_by_test_id("klaviyo-header")).to_contain_text("Off")

    page.reload()
    expect(page.get_by_test_id("klaviyo-key-note")).to_contain_text(f"••••{key[-4:]}")
    expect(page.get_by_test_id("klaviyo-key-input")).to_have_value("")
    assert key not in page.content()
    screenshot(page, f"admin-integrations-{viewport}")
    # no horizontal page scroll, at phone width too
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # a recipient the provider would refuse is refused here, before anything is sent
    page.get_by_test_id("klaviyo-recipient").fill("owner@")
    page.get_by_test_id("klaviyo-send-test").click()
    expect(page.get_by_test_id("klaviyo-test-result")).to_contain_text("Enter an email address")
    page.get_by_test_id("postscript-recipient").fill("12")
    page.get_by_test_id("postscript-send-test").click()
    expect(page.get_by_test_id("postscript-test-result")).to_contain_text("country code")
    page.get_by_test_id("postscript-test-result").scroll_into_view_if_needed()
    screenshot(page, f"admin-integrations-test-event-{viewport}")

    assert not [frame for frame in frames if key in frame]
    assert key not in running_app.log.read_text()

    # leave the app as it was for the other browser tests
    page.get_by_test_id("klaviyo-remove-key").click()
    expect(page.get_by_test_id("klaviyo-key-note")).to_have_text("No key saved.")
    page.get_by_test_id("klaviyo-enabled").click()
    expect(page.get_by_test_id("klaviyo-enabled")).to_have_attribute("data-state", "checked")


@pytest.fixture
def failed_messages(running_app: RunningApp, viewport: str) -> Iterator[int]:
    """25 failed Attentive messages (no Attentive key is set: nothing delivers them)."""
    prefix = f"e2e-{viewport}-"
    engine = get_engine(running_app.database_url)
    with Session(engine) as session:
        customer = session.exec(select(Customer).where(Customer.email != None).limit(1)).one()  # noqa: E711
        for i in range(25):
            session.add(
                OutboxMessage(
                    integration="attentive",
                    kind="due",
                    customer_id=customer.id,
                    idempotency_key=f"{prefix}{i}",
                    status="failed",
                    attempts=8,
                    last_error="attentive: still failing after 6 attempts (HTTP 503)",
                )
            )
        session.commit()
    yield 25
    with Session(engine) as session:
        session.execute(
            delete(OutboxMessage).where(OutboxMessage.idempotency_key.like(f"{prefix}%"))  # type: ignore[attr-defined]
        )
        session.commit()


def test_delivery_log_pages_and_retries_failures(
    page: Page, viewport: str, running_app: RunningApp, failed_messages: int
) -> None:
    open_admin(page, running_app, "/admin/integrations")
    log = page.get_by_test_id("delivery-log")
    log.get_by_role("radio", name="Attentive").click()
    page.get_by_test_id("failures-only").click()
    summary = page.get_by_test_id("log-summary")
    expect(summary).to_contain_text("failed messages · page 1 of")
    expect(log.get_by_test_id("log-row")).to_have_count(20)
    expect(log.get_by_test_id("log-row").first).to_contain_text("HTTP 503")
    log.scroll_into_view_if_needed()
    screenshot(page, f"admin-integrations-log-{viewport}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_test_id("log-next").click()
    expect(summary).to_contain_text("page 2 of")
    log.get_by_test_id("retry-row").first.click()
    expect(log).to_contain_text("1 message queued again")
    page.get_by_test_id("retry-all").click()
    expect(log).to_contain_text("messages queued again")
    expect(summary).to_contain_text("No failed messages")


@pytest.fixture
def stopped_postscript(running_app: RunningApp) -> Iterator[str]:
    """Postscript switched off, with a saved key the provider refused (nothing is sent)."""
    key = f"sk_refused_{uuid.uuid4().hex}"
    settings = Settings(database_url=running_app.database_url, secret_key=SECRET_KEY)
    engine = get_engine(running_app.database_url)
    with Session(engine) as session:
        save_settings(
            session, {"postscript_api_key": key, "postscript_enabled": False}, settings=settings
        )
        session.merge(
            IntegrationStatus(
                name="postscript",
                key_fingerprint=key_fingerprint(key),
                auth_failed_at=utcnow(),
                last_error="postscript: GET /api/v2/me rejected the API key (HTTP 401)",
            )
        )
        session.commit()
    yield key
    with Session(engine) as session:
        clear_setting(session, "postscript_api_key")
        clear_setting(session, "postscript_enabled")
        session.execute(delete(IntegrationStatus).where(IntegrationStatus.name == "postscript"))
        session.commit()


def test_a_refused_key_is_explained_and_can_be_tried_again(
    page: Page, viewport: str, running_app: RunningApp, stopped_postscript: str
) -> None:
    open_admin(page, running_app, "/admin/integrations")
    stopped = page.get_by_test_id("postscript-stopped")
    expect(stopped).to_contain_text("Delivery is stopped: the key was refused")
    expect(stopped).to_contain_text("HTTP 401")
    stopped.scroll_into_view_if_needed()
    screenshot(page, f"admin-integrations-stopped-{viewport}")
    assert stopped_postscript not in page.content()
    page.get_by_test_id("postscript-resume").click()
    expect(page.get_by_test_id("postscript-key-message")).to_have_text(
        "Delivery resumes on the next pass."
    )
    expect(page.get_by_test_id("postscript-stopped")).to_have_count(0)


def _saved(running_app: RunningApp, name: str) -> str | None:
    with Session(get_engine(running_app.database_url)) as session:
        row = session.get(AppSetting, name)
        return None if row is None else row.value


def test_each_moment_is_switched_per_integration(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    open_admin(page, running_app, "/admin/integrations")
    lapse = page.get_by_test_id("postscript-moment-lapse")
    expect(lapse).to_have_attribute("data-state", "checked")
    lapse.click()
    expect(lapse).to_have_attribute("data-state", "unchecked")
    expect(page.get_by_test_id("postscript-key-message")).to_have_text(
        "About To Lapse is off for Postscript."
    )
    assert _saved(running_app, "postscript_moments_off") == "lapse"
    # the other integrations keep theirs
    expect(page.get_by_test_id("klaviyo-moment-lapse")).to_have_attribute("data-state", "checked")

    # Due off takes Late with it: the Late switch shows off and cannot be turned on alone
    page.get_by_test_id("postscript-moment-due").click()
    late = page.get_by_test_id("postscript-moment-late")
    expect(late).to_have_attribute("data-state", "unchecked")
    expect(late).to_be_disabled()
    expect(page.get_by_test_id("postscript-moments")).to_contain_text("so it is off too")
    assert _saved(running_app, "postscript_moments_off") == "due,lapse"
    page.get_by_test_id("postscript-moments").scroll_into_view_if_needed()
    screenshot(page, f"admin-integrations-moments-{viewport}")

    page.reload()
    expect(page.get_by_test_id("postscript-moment-lapse")).to_have_attribute(
        "data-state", "unchecked"
    )
    # leave the app as it was for the other browser tests
    page.get_by_test_id("postscript-moment-due").click()
    page.get_by_test_id("postscript-moment-lapse").click()
    expect(page.get_by_test_id("postscript-moment-late")).to_have_attribute("data-state", "checked")
    expect(page.get_by_test_id("postscript-moment-lapse")).to_have_attribute(
        "data-state", "checked"
    )
    assert _saved(running_app, "postscript_moments_off") == ""
