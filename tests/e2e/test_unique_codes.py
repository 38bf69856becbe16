"""Unique discount codes in Chromium: two customers' carts show their own codes, and their
checkouts (the app's checkout preview) carry them; the Cart page's settings card and the Sync
page's codes status. The codes are made by the worker's job against the fake Shopify, in an
app of its own started with `REPEATCART_UNIQUE_CODES=1`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from services.cart.links import get_or_create_link
from services.core.clock import utcnow
from services.core.config import Settings, get_settings
from services.core.db import forget_engines, get_engine, migrate
from services.core.provider_http import ProviderError
from services.core.tables import CartLink, DueItem, Shop, SyncState
from services.demo import build_demo_store
from services.discounts.codes import reserve_codes
from services.discounts.creation import STATE, create_pending_codes
from services.shopify.client import ShopifyClient
from services.shopify.discounts import explain
from tests.e2e.app_process import RunningApp, serve_app
from tests.e2e.conftest import open_admin, screenshot
from tests.fakes.shopify import FakeShopify


@dataclass(frozen=True)
class CodesApp:
    app: RunningApp
    tokens: tuple[str, str]
    codes: tuple[str, str]


def _two_due_customers(session: Session, first_token: str) -> list[int]:
    ava = session.exec(select(CartLink.customer_id).where(CartLink.token == first_token)).one()
    other = session.exec(
        select(DueItem.customer_id)
        .where(DueItem.remind_at <= utcnow(), DueItem.customer_id != ava)
        .order_by(col(DueItem.customer_id))
    ).first()
    assert other is not None
    return [ava, other]


@pytest.fixture(scope="module")
def codes_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodesApp]:
    workdir: Path = tmp_path_factory.mktemp("unique-codes")
    database_url = f"sqlite:///{workdir / 'app.db'}"
    migrate(database_url)
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        demo = build_demo_store(session, seed=5, customers=40, now=utcnow())
        session.commit()
        ids = _two_due_customers(session, demo.sample_tokens["due"])
        tokens = tuple(get_or_create_link(session, cid).token for cid in ids)
        reserved = reserve_codes(session, dict.fromkeys(ids), "RC-", utcnow())
        session.commit()
    # the worker's job, against the fake Shopify, on this database
    with pytest.MonkeyPatch.context() as patch, FakeShopify(token="shpat_e2e") as fake:
        patch.setenv("REPEATCART_DATABASE_URL", database_url)
        get_settings.cache_clear()
        forget_engines()
        client = ShopifyClient(fake.shop, "shpat_e2e", "2026-10", fake.base_url)
        with client:
            summary = create_pending_codes(
                client, Settings(unique_codes=True, database_url=database_url), poll_seconds=0.01
            )
        assert summary.created == 2
    get_settings.cache_clear()
    forget_engines()
    env = {"REPEATCART_CHECKOUT_PREVIEW": "1", "REPEATCART_UNIQUE_CODES": "1"}
    with serve_app(workdir, database_url, env) as base_url:
        app = RunningApp(base_url, database_url, demo, workdir / "app.log")
        yield CodesApp(app, (tokens[0], tokens[1]), (reserved[ids[0]], reserved[ids[1]]))


def _panel(page: Page, viewport: str):
    if viewport == "phone":
        page.get_by_role("button", name=re.compile(r"^Cart, ")).click()
        panel = page.get_by_test_id("cart-drawer")
    else:
        panel = page.get_by_test_id("cart-sidebar")
    expect(panel).to_be_visible()
    return panel


@pytest.mark.own_app
def test_two_customers_check_out_with_their_own_codes(
    page: Page, viewport: str, codes_app: CodesApp
):
    with Session(get_engine(codes_app.app.database_url)) as session:
        shared = session.exec(select(Shop.discount_code)).one()
    assert shared and shared not in codes_app.codes
    assert codes_app.codes[0] != codes_app.codes[1]
    for index, (token, code) in enumerate(zip(codes_app.tokens, codes_app.codes, strict=True)):
        page.goto(f"{codes_app.app.base_url}/cart/{token}")
        expect(page.get_by_role("heading", name=re.compile("Welcome back"))).to_be_visible()
        panel = _panel(page, viewport)
        expect(panel.get_by_text(f"Code {code} is applied at checkout.")).to_be_visible()
        check_out = panel.get_by_role("button", name="Check Out")
        expect(check_out).to_be_in_viewport(ratio=1)  # the phone drawer has finished sliding in
        screenshot(page, f"unique-code-cart-{index + 1}-{viewport}")
        check_out.click()
        expect(page.get_by_test_id("permalink")).to_contain_text(f"?discount={code}&")
        expect(page.get_by_text(f"Discount: {code}")).to_be_visible()
        screenshot(page, f"unique-code-checkout-{index + 1}-{viewport}")


@pytest.mark.own_app
def test_the_settings_card_and_the_sync_status(page: Page, viewport: str, codes_app: CodesApp):
    open_admin(page, codes_app.app, "/admin/cart")
    card = page.get_by_test_id("card-codes")
    expect(card.get_by_test_id("input-unique_codes")).to_be_checked()
    expect(card.get_by_test_id("input-unique_code_prefix")).to_have_value("RC-")
    card.scroll_into_view_if_needed()
    screenshot(page, f"unique-code-settings-{viewport}")
    card.get_by_test_id("input-unique_code_days").fill("0")
    card.get_by_test_id("save-codes").click()
    expect(card.get_by_test_id("error-unique_code_days")).to_contain_text("Days valid")
    page.goto(f"{codes_app.app.base_url}/admin/sync")
    expect(page.get_by_test_id("codes-line")).to_contain_text("2 created · 0 waiting · 0 failed")
    page.get_by_test_id("card-codes").scroll_into_view_if_needed()
    screenshot(page, f"unique-code-sync-{viewport}")


@pytest.mark.own_app
def test_the_sync_page_says_why_codes_could_not_be_made(
    page: Page, viewport: str, codes_app: CodesApp
):
    """The job's refusal as it records it (no write_discounts scope), then the page."""
    with Session(get_engine(codes_app.app.database_url)) as session:
        state = session.get(SyncState, STATE)
        assert state is not None and state.last_status == "ok"
        refusal = ProviderError(
            "Shopify",
            "query failed",
            status=200,
            detail="Access denied for discountCodeBasicCreate field. Required access: "
            "`write_discounts` access scope.",
        )
        error = f"Could not create discount codes: {explain(refusal)}"
        state.last_status, state.last_error = "failed", error
        session.add(state)
        session.commit()
    try:
        open_admin(page, codes_app.app, "/admin/sync")
        expect(page.get_by_test_id("codes-error")).to_contain_text("write_discounts")
        page.get_by_test_id("card-codes").scroll_into_view_if_needed()
        screenshot(page, f"unique-code-sync-failed-{viewport}")
    finally:
        with Session(get_engine(codes_app.app.database_url)) as session:
            state = session.get(SyncState, STATE)
            assert state is not None
            state.last_status, state.last_error = "ok", ""
            session.add(state)
            session.commit()
