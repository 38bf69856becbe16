"""The Store page: a token saved is shown by its last 4 characters only, bad values are refused
with nothing lost, and Test connection explains its failure (the e2e app reaches no Shopify)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from services.core.db import get_engine
from services.settings.store import remove_store_secret
from tests.e2e.conftest import RunningApp, open_admin, screenshot

pytestmark = pytest.mark.e2e


def _received_frames(page: Page) -> list[str]:
    """Everything the server pushes to the browser (state deltas) over the websocket."""
    frames: list[str] = []
    page.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda payload: frames.append(str(payload))),
    )
    return frames


@pytest.fixture
def token_removed_after(running_app: RunningApp) -> Iterator[None]:
    """The shared app has no token again afterwards, even when the test fails half-way: the
    other browser tests expect a demo store that is not connected to Shopify."""
    yield
    with Session(get_engine(running_app.database_url)) as session:
        remove_store_secret(session, "shopify_token")
        session.commit()


@pytest.mark.usefixtures("token_removed_after")
def test_token_is_saved_and_never_sent_back(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    token = f"shpat_e2e{uuid.uuid4().hex}Q7{viewport[:2]}"
    frames = _received_frames(page)
    open_admin(page, running_app, "/admin/store")
    token_field = page.get_by_label("Admin API access token")
    expect(token_field).to_have_value("")
    token_field.fill(token)
    page.get_by_test_id("save-store").click()
    expect(page.get_by_test_id("store-message")).to_have_text("Saved.")
    note = page.get_by_test_id("note-shopify_token")
    expect(note).to_contain_text(f"••••{token[-4:]}")
    expect(page.get_by_label("Admin API access token")).to_have_value("")

    page.reload()
    expect(page.get_by_test_id("note-shopify_token")).to_contain_text(f"••••{token[-4:]}")
    expect(page.get_by_label("Shop domain")).to_have_value("demo-repeatcart.myshopify.com")
    assert token not in page.content()
    screenshot(page, f"admin-store-{viewport}")
    # no horizontal page scroll, at phone width too
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # Test connection uses the saved token; no Shopify is reachable from the e2e app
    page.get_by_test_id("test-connection").click()
    result = page.get_by_test_id("connection-result")
    expect(result).to_contain_text("Could not reach Shopify at demo-repeatcart.myshopify.com")
    result.scroll_into_view_if_needed()
    screenshot(page, f"admin-store-connection-{viewport}")

    assert not [frame for frame in frames if token in frame]
    assert token not in running_app.log.read_text()
    assert token not in page.content()

    # leave the app as it was for the other browser tests
    page.get_by_test_id("remove-shopify_token").click()
    expect(page.get_by_test_id("note-shopify_token")).to_have_text("Not set.")


def test_bad_values_are_refused_and_nothing_is_lost(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    open_admin(page, running_app, "/admin/store")
    page.get_by_label("Shop domain").fill("my-shop.com")
    page.get_by_label("API version").fill("2026-1")
    page.get_by_label("Public base URL").fill("ftp://carts.example.com")
    page.get_by_test_id("save-store").click()
    expect(page.get_by_test_id("store-message")).to_have_text(
        "Nothing was saved: correct the fields marked in red."
    )
    expect(page.get_by_test_id("error-shopify_shop")).to_contain_text("myshopify domain")
    expect(page.get_by_test_id("error-shopify_api_version")).to_contain_text("YYYY-MM")
    expect(page.get_by_test_id("error-public_url")).to_contain_text("https://")
    expect(page.get_by_label("Shop domain")).to_have_value("my-shop.com")  # as typed
    page.get_by_test_id("error-shopify_shop").scroll_into_view_if_needed()
    screenshot(page, f"admin-store-errors-{viewport}")

    page.reload()
    expect(page.get_by_label("Shop domain")).to_have_value("demo-repeatcart.myshopify.com")
    expect(page.get_by_label("API version")).to_have_value("2026-10")
    expect(page.get_by_label("Public base URL")).to_have_value(running_app.base_url)


def test_connecting_another_shop_over_the_demo_asks_before_erasing(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    open_admin(page, running_app, "/admin/store")
    page.get_by_label("Shop domain").fill("northwind-goods.myshopify.com")
    page.get_by_test_id("save-store").click()
    error = page.get_by_test_id("error-shopify_shop")
    expect(error).to_contain_text("holds the data of demo-repeatcart.myshopify.com")
    expect(error).to_contain_text("northwind-goods.myshopify.com")
    expect(page.get_by_test_id("store-message")).to_contain_text("confirm the change of shop")
    confirm = page.get_by_test_id("switch-shop")
    expect(confirm).to_contain_text("Erase the orders, customers, products and carts of")
    confirm.scroll_into_view_if_needed()
    screenshot(page, f"admin-store-switch-{viewport}")
    # nothing changed: the demo's carts still check out at the demo shop
    page.reload()
    expect(page.get_by_label("Shop domain")).to_have_value("demo-repeatcart.myshopify.com")
    expect(page.get_by_test_id("connected-shop")).to_contain_text("demo-repeatcart.myshopify.com")
    expect(page.get_by_test_id("switch-shop")).to_have_count(0)
