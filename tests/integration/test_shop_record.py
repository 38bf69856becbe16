"""The shop row follows the settings: Store page, Test connection, syncs, imports and the CLI.

A real store (not the demo) is configured here against the fake Shopify over HTTP, and checkout
links must reach that store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func
from sqlmodel import Session, select

from services.cart.links import checkout_permalink, get_or_create_link
from services.cart.page import load_cart, shop_view
from services.cli import main as cli_main
from services.core.config import DEMO_SHOP_DOMAIN, Settings, get_settings
from services.core.db import get_engine
from services.core.provider_http import RetryPolicy
from services.core.tables import AppSetting, Customer, Order, Product, Shop, SyncState
from services.settings.cart import save_cart_settings
from services.settings.store import check_saved_connection, save_store
from services.shopify.client import ShopifyClient
from services.sync.shop_record import (
    ShopSetupError,
    ShopSwitchRefused,
    checkout_host,
    checkout_preview_on,
    record_shop,
)
from services.sync.store_sync import sync_orders, sync_products
from tests.fakes.shopify import FakeShopify

SHOP = "real-store.myshopify.com"
TOKEN = "shpat_real_store_token"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
FAST_RETRY = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.02)
FORM = {
    "shopify_shop": SHOP,
    "shopify_api_version": "2026-10",
    "public_url": "https://carts.real-store.com",
    "shopify_token": TOKEN,
    "shopify_webhook_secret": "",
}


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(
        shop=SHOP,
        token=TOKEN,
        shop_name="Real Store",
        currency="CAD",
        primary_domain="www.real-store.com",
        timezone="America/Toronto",
        restore_rate=50_000,
    ) as shop:
        yield shop


@pytest.fixture
def env(
    database_url: str, fake: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """A real store configured by environment, as an operator would (`REPEATCART_*`)."""
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", SHOP)
    monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", TOKEN)
    monkeypatch.setenv("REPEATCART_SHOPIFY_BASE_URL", fake.base_url)
    monkeypatch.setenv("REPEATCART_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("REPEATCART_CHECKOUT_PREVIEW", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """`repeatcart sync` sets up JSON logging on the root logger: put it back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def client_for(fake: FakeShopify, token: str = TOKEN) -> ShopifyClient:
    return ShopifyClient(SHOP, token, "2026-10", fake.base_url, policy=FAST_RETRY)


def the_shop(url: str) -> Shop | None:
    with Session(get_engine(url)) as session:
        return session.exec(select(Shop)).first()


def counts(url: str) -> tuple[int, int, int]:
    with Session(get_engine(url)) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Customer, Order, Product)
        )


def demo_data(session: Session) -> None:
    """The demo shop with a customer, an order and a product, as `repeatcart demo` leaves it."""
    session.add(Shop(shop_domain=DEMO_SHOP_DOMAIN, name="Demo", banner_text="Demo banner"))
    customer = Customer(email="demo@example.com")
    session.add(customer)
    session.add(Product(shopify_gid="gid://shopify/Product/1", title="Soap", handle="soap"))
    session.flush()
    session.add(
        Order(shopify_gid="gid://shopify/Order/1", customer_id=customer.id, processed_at=NOW)
    )
    session.commit()


# --- the Store page ---------------------------------------------------------------------------


def test_saving_the_store_page_creates_the_shop_and_cart_settings_then_save(
    session: Session, env: Settings
) -> None:
    assert save_store(session, FORM, settings=env).ok
    session.commit()
    shop = the_shop(env.database_url)
    assert shop is not None and shop.shop_domain == SHOP
    assert shop.store_url == f"https://{SHOP}"
    # the Cart page used to refuse every save for a real store: there was no shop row
    result = save_cart_settings(session, {"banner_text": "Free shipping on reorders"})
    session.commit()
    assert result.saved, result.errors


def test_test_connection_records_what_shopify_says(session: Session, env: Settings) -> None:
    assert save_store(session, FORM, settings=env).ok
    session.commit()
    result = check_saved_connection(env)
    assert result.ok, result.message
    shop = the_shop(env.database_url)
    assert shop is not None
    assert (shop.name, shop.currency, shop.timezone) == ("Real Store", "CAD", "America/Toronto")
    assert shop.primary_domain == "www.real-store.com"
    assert shop.store_url == "https://www.real-store.com"
    assert shop.identity_checked_at is not None


def test_a_save_to_another_shop_is_refused_while_the_demo_data_is_there(
    session: Session, env: Settings
) -> None:
    demo_data(session)
    result = save_store(session, FORM, settings=env)
    session.commit()
    assert not result.ok
    message = result.errors["shopify_shop"]
    assert DEMO_SHOP_DOMAIN in message and SHOP in message
    assert result.switch_from == DEMO_SHOP_DOMAIN
    assert session.exec(select(AppSetting)).all() == []  # nothing saved
    assert counts(env.database_url) == (1, 1, 1)
    assert the_shop(env.database_url).shop_domain == DEMO_SHOP_DOMAIN  # type: ignore[union-attr]


def test_confirming_the_switch_erases_the_old_shop_and_connects_the_new_one(
    session: Session, env: Settings
) -> None:
    demo_data(session)
    with Session(get_engine(env.database_url)) as other:
        other.add(SyncState(name="orders", cursor=NOW))
        other.commit()
    result = save_store(session, FORM, settings=env, replace_data=True)
    session.commit()
    assert result.ok, result.errors
    assert counts(env.database_url) == (0, 0, 0)
    shop = the_shop(env.database_url)
    assert shop is not None and shop.shop_domain == SHOP
    assert shop.banner_text == ""  # the demo's banner and code mean nothing at the new shop
    with Session(get_engine(env.database_url)) as fresh:
        assert fresh.exec(select(SyncState)).all() == []  # the new shop's sync starts afresh


def test_record_shop_refuses_what_is_not_a_shop(session: Session) -> None:
    with pytest.raises(ShopSetupError, match="not a myshopify domain"):
        record_shop(session, "www.real-store.com", NOW)
    with pytest.raises(ShopSetupError, match="not a myshopify domain"):
        record_shop(session, "", NOW)


# --- syncs ------------------------------------------------------------------------------------


def test_every_sync_refreshes_the_shop_row(env: Settings, fake: FakeShopify) -> None:
    fake.generate_products(3, seed=1)
    with client_for(fake) as client:
        sync_products(client, settings=env, clock=lambda: NOW)
    shop = the_shop(env.database_url)
    assert shop is not None and (shop.name, shop.currency) == ("Real Store", "CAD")
    fake.shop_name = "Real Store (renamed)"
    with client_for(fake) as client:
        sync_orders(client, settings=env, clock=lambda: NOW, poll_seconds=0.01)
    assert the_shop(env.database_url).name == "Real Store (renamed)"  # type: ignore[union-attr]


def test_a_refused_token_stops_the_sync_and_keeps_data_and_cursors(
    env: Settings, fake: FakeShopify
) -> None:
    products = fake.generate_products(4, seed=2)
    fake.generate_orders(30, seed=2, products=products, start=NOW - timedelta(days=200))
    with client_for(fake) as client:
        sync_products(client, settings=env, clock=lambda: NOW)
        sync_orders(client, settings=env, clock=lambda: NOW, poll_seconds=0.01)
    before = counts(env.database_url)
    with Session(get_engine(env.database_url)) as session:
        cursors = {state.name: state.cursor for state in session.exec(select(SyncState))}
    fake.generate_orders(5, seed=3, products=products, start=NOW - timedelta(days=2))
    with client_for(fake, token="shpat_revoked") as client, pytest.raises(ShopSetupError) as info:
        sync_orders(client, settings=env, clock=lambda: NOW + timedelta(hours=1))
    assert "Shopify refused the token (HTTP 401)" in str(info.value)
    assert counts(env.database_url) == before
    with Session(get_engine(env.database_url)) as session:
        states = {state.name: state for state in session.exec(select(SyncState))}
    assert {name: state.cursor for name, state in states.items()} == cursors
    assert states["orders"].last_status == "failed"
    assert "refused the token" in states["orders"].last_error  # what the Sync page shows
    assert not states["orders"].running


def test_a_sync_of_another_shop_is_refused_and_names_both(
    session: Session, env: Settings, fake: FakeShopify
) -> None:
    demo_data(session)
    fake.generate_products(2, seed=4)
    with client_for(fake) as client, pytest.raises(ShopSwitchRefused) as info:
        sync_products(client, settings=env, clock=lambda: NOW)
    assert DEMO_SHOP_DOMAIN in str(info.value) and SHOP in str(info.value)
    assert counts(env.database_url) == (1, 1, 1)


# --- checkout ---------------------------------------------------------------------------------


def test_a_real_store_cart_checks_out_at_that_store(session: Session, env: Settings) -> None:
    assert save_store(session, FORM, settings=env).ok
    customer = Customer(email="ada@example.com")
    session.add(customer)
    session.commit()
    link = get_or_create_link(session, customer.id)  # type: ignore[arg-type]
    session.commit()
    view = load_cart(session, link.token, NOW)
    assert view is not None
    assert view.shop.checkout_host == SHOP
    assert view.shop.checkout_preview is False
    url = checkout_permalink(view.shop.checkout_host, [(47001, 2)], discount_code="AGAIN 10")
    assert url == f"https://{SHOP}/cart/47001:2?discount=AGAIN%2010"


def test_no_checkout_link_is_built_without_a_shop_host() -> None:
    for host in ("", " ", "no-dot", "https://x.myshopify.com", "a/b.com"):
        with pytest.raises(ValueError, match="unknown shop host"):
            checkout_permalink(host, [(1, 1)])
    assert checkout_host(None) == ""
    assert shop_view(None).checkout_host == ""


def test_checkout_preview_is_for_the_demo_shop_or_when_set(env: Settings) -> None:
    assert checkout_preview_on(DEMO_SHOP_DOMAIN, env)
    assert not checkout_preview_on(SHOP, env)
    assert checkout_preview_on(SHOP, env.model_copy(update={"checkout_preview": True}))
    assert not checkout_preview_on(
        DEMO_SHOP_DOMAIN, env.model_copy(update={"checkout_preview": False})
    )


# --- the command line -------------------------------------------------------------------------


def test_connect_shop_records_the_shop_and_says_where_checkout_goes(
    env: Settings, capsys: pytest.CaptureFixture
) -> None:
    assert cli_main(["connect-shop"]) == 0
    out = capsys.readouterr().out
    assert "Connected to Real Store (real-store.myshopify.com): currency CAD" in out
    assert f"https://{SHOP}/cart/" in out
    assert the_shop(env.database_url).timezone == "America/Toronto"  # type: ignore[union-attr]


def test_connect_shop_refuses_a_switch_unless_told(
    session: Session, env: Settings, capsys: pytest.CaptureFixture
) -> None:
    demo_data(session)
    assert cli_main(["connect-shop"]) == 1
    err = capsys.readouterr().err
    assert DEMO_SHOP_DOMAIN in err and SHOP in err
    assert counts(env.database_url) == (1, 1, 1)
    assert cli_main(["connect-shop", "--replace-data"]) == 0
    assert counts(env.database_url) == (0, 0, 0)
    assert the_shop(env.database_url).shop_domain == SHOP  # type: ignore[union-attr]


def test_the_cli_refuses_a_shop_that_is_not_a_myshopify_domain(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", "www.real-store.com")
    get_settings.cache_clear()
    assert cli_main(["sync", "--products-only"]) == 1
    assert "not a myshopify domain" in capsys.readouterr().err
    assert cli_main(["connect-shop"]) == 1
    assert "not a myshopify domain" in capsys.readouterr().err
    assert the_shop(env.database_url) is None


def test_an_order_export_records_the_configured_shop_first(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    export = tmp_path / "orders.csv"
    export.write_text(
        "Name,Email,Financial Status,Paid at,Created at,Lineitem quantity,Lineitem name,"
        "Lineitem price,Lineitem sku,Cancelled at,Phone,Id,Note Attributes,Total,Currency\n"
        "#1001,ada@example.com,paid,2026-05-01 10:00:00 +0000,2026-05-01 10:00:00 +0000,1,"
        "Soap,9.00,SOAP-1,,,1,,9.00,CAD\n",
        encoding="utf-8",
    )
    assert cli_main(["import-orders", str(export)]) == 0
    capsys.readouterr()
    shop = the_shop(env.database_url)
    assert shop is not None and shop.shop_domain == SHOP
