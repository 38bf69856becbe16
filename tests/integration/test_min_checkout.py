"""Minimum checkout quantity: saved on the Cart page over the environment, read by every cart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from services.cart.page import load_cart
from services.core.config import get_settings
from services.demo import build_demo_store
from services.settings.cart import load_cart_settings, save_cart_settings

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture
def token(session: Session) -> str:
    summary = build_demo_store(session, seed=5, customers=30, now=NOW)
    session.commit()
    return summary.sample_tokens["due"]


def _cart_minimum(session: Session, token: str) -> int:
    view = load_cart(session, token, NOW)
    assert view is not None
    return view.shop.min_checkout_quantity


def test_min_checkout_is_off_by_default(session, token):
    assert load_cart_settings(session).min_checkout_quantity == 0
    assert _cart_minimum(session, token) == 0


def test_min_checkout_comes_from_the_environment_when_not_saved(
    session, token, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REPEATCART_MIN_CHECKOUT_QUANTITY", "4")
    get_settings.cache_clear()
    try:
        assert load_cart_settings(session).min_checkout_quantity == 4
        assert _cart_minimum(session, token) == 4
        # the dashboard's value wins over the environment, 0 included (switched off)
        assert save_cart_settings(session, {"min_checkout_quantity": "0"}).saved
        session.commit()
        assert _cart_minimum(session, token) == 0
    finally:
        get_settings.cache_clear()


def test_saved_min_checkout_shows_on_the_next_cart_load(session, token):
    result = save_cart_settings(session, {"min_checkout_quantity": " 3 "})
    session.commit()
    assert result.saved and not result.timing_changed
    assert load_cart_settings(session).min_checkout_quantity == 3
    assert _cart_minimum(session, token) == 3
    # blank is "no minimum", as an unset variable
    assert save_cart_settings(session, {"min_checkout_quantity": ""}).saved
    session.commit()
    assert _cart_minimum(session, token) == 0


@pytest.mark.parametrize("value", ["-1", "1000", "2.5", "three"])
def test_bad_min_checkout_gets_a_message_and_nothing_is_saved(session, token, value):
    result = save_cart_settings(session, {"min_checkout_quantity": value})
    assert not result.saved
    assert "0 to 999" in result.errors["min_checkout_quantity"]
    session.rollback()
    assert _cart_minimum(session, token) == 0
