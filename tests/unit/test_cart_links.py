"""Cart tokens, quantities, channels and the checkout permalink format of CONTRACTS.md."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.cart.links import (
    cart_url,
    checkout_permalink,
    clamp_quantity,
    is_well_formed,
    new_token,
    normalize_channel,
    normalize_moment,
)


def test_new_tokens_are_well_formed_and_unique():
    tokens = {new_token() for _ in range(500)}
    assert len(tokens) == 500
    assert all(is_well_formed(token) and len(token) == 32 for token in tokens)


@pytest.mark.parametrize(
    "token", ["", None, "short", "a" * 65, "has space in it ........", "é" * 30, "../" * 10]
)
def test_malformed_tokens_are_rejected_before_any_query(token):
    assert not is_well_formed(token)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, 1),
        (-5, 1),
        (1, 1),
        (42, 42),
        (99, 99),
        (100, 99),
        (10**9, 99),
        ("7", 7),
        ("3.9", 3),
        ("abc", 1),
        (None, 1),
        ("1e400", 1),
        (float("nan"), 1),
    ],
)
def test_quantities_are_clamped_to_1_through_99(raw, expected):
    assert clamp_quantity(raw) == expected


@given(st.one_of(st.integers(), st.text(), st.floats(allow_nan=True)))
def test_clamped_quantity_is_always_in_range(raw):
    assert 1 <= clamp_quantity(raw) <= 99


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "direct"),
        ("", "direct"),
        ("Klaviyo", "klaviyo"),
        ("sms_1", "sms_1"),
        ("<script>", "other"),
        ("x" * 40, "other"),
    ],
)
def test_channels_are_normalized(raw, expected):
    assert normalize_channel(raw) == expected


def test_permalink_has_variants_quantities_discount_and_attribution():
    url = checkout_permalink(
        "shop.myshopify.com",
        [(123, 2), (456, 1)],
        discount_code="REORDER10",
        cart_id=9,
        channel="klaviyo",
    )
    assert url == (
        "https://shop.myshopify.com/cart/123:2,456:1?discount=REORDER10"
        "&attributes[_repeatcart_cart]=9&attributes[_repeatcart_channel]=klaviyo"
    )


def test_permalink_encodes_every_value_and_omits_empty_discount():
    url = checkout_permalink("s.myshopify.com", [(1, 150)], discount_code="10% OFF&more", cart_id=3)
    assert url == (
        "https://s.myshopify.com/cart/1:99?discount=10%25%20OFF%26more"
        "&attributes[_repeatcart_cart]=3"
    )
    assert checkout_permalink("s.myshopify.com", [(1, 1)], discount_code="  ") == (
        "https://s.myshopify.com/cart/1:1"
    )


def test_permalink_needs_a_line():
    with pytest.raises(ValueError):
        checkout_permalink("s.myshopify.com", [])


def test_cart_url_uses_the_public_url_and_channel():
    assert cart_url("tok", "https://carts.example.com/") == "https://carts.example.com/cart/tok"
    assert cart_url("tok", "http://x", channel="sms") == "http://x/cart/tok?ch=sms"


def test_a_moments_link_and_checkout_name_the_moment():
    assert cart_url("tok", "http://x", channel="klaviyo", moment="lapse") == (
        "http://x/cart/tok?ch=klaviyo&m=lapse"
    )
    url = checkout_permalink("s.myshopify.com", [(1, 1)], cart_id=3, channel="sms", moment="late")
    assert url.endswith("&attributes[_repeatcart_channel]=sms&attributes[_repeatcart_moment]=late")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("lapse", "lapse"), (" Due ", "due"), ("", None), (None, None), ("birthday", None)],
)
def test_only_a_moments_name_is_attributed(raw, expected):
    assert normalize_moment(raw) == expected
