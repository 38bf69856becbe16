"""The Store page's services: validation, all-or-nothing saves, Test connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from services.core.config import Settings
from services.core.tables import AppSetting
from services.settings.effective import effective_settings
from services.settings.store import (
    check_connection,
    check_saved_connection,
    remove_store_secret,
    save_store,
    store_view,
    validate_store,
)
from tests.fakes.shopify import FakeShopify

TOKEN = "shpat_test"
GOOD = {
    "shopify_shop": "repeatcart-test.myshopify.com",
    "shopify_api_version": "2026-10",
    "public_url": "https://carts.example.com",
    "shopify_token": "",
    "shopify_webhook_secret": "",
}


@pytest.fixture(scope="module")
def shopify() -> Iterator[FakeShopify]:
    with FakeShopify(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def base(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key=Fernet.generate_key().decode())


def test_valid_values_are_saved_and_secrets_shown_by_last4(session, base) -> None:
    result = save_store(
        session,
        {**GOOD, "shopify_token": "shpat_abcdef123456", "shopify_webhook_secret": "whsec_98765"},
        by="admin@example.com",
        settings=base,
    )
    session.commit()
    assert result.ok, result.errors
    view = store_view(session, base)
    assert (view.shop, view.api_version, view.public_url) == (
        "repeatcart-test.myshopify.com",
        "2026-10",
        "https://carts.example.com",
    )
    assert (view.token.last4, view.token.source) == ("3456", "saved")
    assert view.token.note == "Ends in ••••3456 (saved here)."
    assert "shpat_abcdef" not in repr(view) and "whsec_98765" not in repr(view)
    raw = session.execute(text("SELECT value FROM app_setting WHERE name = 'shopify_token'"))
    assert "shpat_abcdef123456" not in raw.scalar_one()


def test_a_blank_token_keeps_the_saved_one(session, base) -> None:
    save_store(session, {**GOOD, "shopify_token": "shpat_keepme_7777"}, settings=base)
    session.commit()
    result = save_store(session, {**GOOD, "public_url": "https://shop.example.org/"}, settings=base)
    session.commit()
    assert result.changed == ["public_url"]
    settings = effective_settings(session, base)
    assert settings.secret("shopify_token") == "shpat_keepme_7777"
    assert settings.public_url == "https://shop.example.org"


def test_pasted_shop_urls_are_normalized(session, base) -> None:
    clean, errors = validate_store({**GOOD, "shopify_shop": " https://My-Shop.myshopify.com/admin"})
    assert not errors and clean["shopify_shop"] == "my-shop.myshopify.com"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("shopify_shop", "my-shop.com", "myshopify domain"),
        ("shopify_shop", "", "myshopify domain"),
        ("shopify_api_version", "2026-13", "YYYY-MM"),
        ("shopify_api_version", "latest", "YYYY-MM"),
        ("public_url", "ftp://carts.example.com", "https://"),
        ("public_url", "carts.example.com", "https://"),
        ("shopify_token", "shpat with spaces", "spaces"),
    ],
)
def test_bad_values_are_rejected_and_nothing_is_saved(session, base, name, value, words) -> None:
    result = save_store(
        session, {**GOOD, "shopify_webhook_secret": "whsec_new_1111", name: value}, settings=base
    )
    session.commit()
    assert not result.ok and list(result.errors) == [name]
    assert words in result.errors[name]
    assert session.get(AppSetting, "shopify_webhook_secret") is None  # all or nothing
    assert session.get(AppSetting, "public_url") is None


def test_remove_secret_lets_the_environment_apply(session, base) -> None:
    env = base.model_copy(update={"shopify_token": "shpat_environment_0000"})
    save_store(session, {**GOOD, "shopify_token": "shpat_saved_1234"}, settings=env)
    session.commit()
    assert store_view(session, env).token.source == "saved"
    remove_store_secret(session, "shopify_token")
    session.commit()
    view = store_view(session, env)
    assert (view.token.last4, view.token.source) == ("0000", "environment")
    with pytest.raises(KeyError):
        remove_store_secret(session, "public_url")


def _saved_settings(session, base: Settings, shopify: FakeShopify, **values: str) -> Settings:
    env = base.model_copy(update={"shopify_base_url": shopify.base_url})
    assert save_store(session, {**GOOD, **values}, settings=env).ok
    session.commit()
    return effective_settings(session, env)


def test_connection_ok_names_the_shop(session, base, shopify) -> None:
    settings = _saved_settings(session, base, shopify, shopify_token=TOKEN)
    result = check_connection(settings)
    assert result.ok, result.message
    assert result.shop_name == "RepeatCart Test Shop"
    assert "Connected to RepeatCart Test Shop" in result.message


def test_connection_with_a_refused_token_says_so_without_the_token(session, base, shopify) -> None:
    settings = _saved_settings(session, base, shopify, shopify_token="shpat_wrong_token_42")
    result = check_connection(settings)
    assert not result.ok
    assert "Shopify refused the token (HTTP 401)" in result.message
    assert "shpat_wrong_token_42" not in result.message


def test_connection_with_a_wrong_version_names_the_version(session, base, shopify) -> None:
    settings = _saved_settings(
        session, base, shopify, shopify_token=TOKEN, shopify_api_version="2099-01"
    )
    result = check_connection(settings)
    assert not result.ok
    assert "version 2099-01" in result.message and "HTTP 404" in result.message


def test_connection_without_a_token_or_a_reachable_shop(session, base) -> None:
    assert "No Admin API access token" in check_connection(base).message
    unreachable = base.model_copy(
        update={"shopify_token": "shpat_x_1234", "shopify_base_url": "http://127.0.0.1:9"}
    )
    result = check_connection(unreachable)
    assert not result.ok and "Could not reach Shopify" in result.message
    assert "shpat_x_1234" not in result.message


def test_unchanged_values_are_not_pinned_over_the_environment(session, base) -> None:
    same = {
        "shopify_shop": base.shopify_shop,
        "shopify_api_version": base.shopify_api_version,
        "public_url": base.public_url,
        "shopify_token": "",
        "shopify_webhook_secret": "",
    }
    result = save_store(session, same, settings=base)
    session.commit()
    assert result.ok and result.changed == []
    assert session.execute(text("SELECT count(*) FROM app_setting")).scalar_one() == 0


def test_saved_connection_decrypts_the_token_itself(session, base, shopify) -> None:
    env = base.model_copy(update={"shopify_base_url": shopify.base_url})
    assert save_store(session, {**GOOD, "shopify_token": TOKEN}, settings=env).ok
    session.commit()
    result = check_saved_connection(env)
    assert result.ok and result.shop_domain == "repeatcart-test.myshopify.com"
