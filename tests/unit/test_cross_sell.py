"""The Primed For Cross-sell rule: lift, the kept partners, and the offer chosen for a customer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.engine import CrossSellPair, PairCount, best_pairs, cross_sell_candidates
from services.engine.cross_sell import lift
from services.messaging import DueEvent, DueProduct, Recipient
from services.messaging.payloads import (
    attentive_event_body,
    klaviyo_event_body,
    postscript_event_body,
)


def test_lift_compares_buyers_of_one_with_the_whole_store() -> None:
    assert lift(20, 30, 20, 110) == pytest.approx(20 * 110 / (30 * 20))
    assert lift(0, 30, 20, 110) == 0.0
    assert lift(5, 0, 20, 110) == 0.0


def test_best_pairs_keep_the_top_partners_above_the_support_and_a_lift_of_one() -> None:
    buyers = {1: 10, 2: 10, 3: 10, 4: 10, 5: 90, 6: 10}
    counts = [
        PairCount(1, 2, 8),  # lift 8
        PairCount(1, 3, 8),  # lift 8, same support: the lower id first
        PairCount(1, 4, 2),  # under the minimum support
        PairCount(1, 5, 9),  # lift 1: no better than anyone
        PairCount(1, 6, 6),  # lift 6
        PairCount(2, 1, 8),
    ]
    kept = list(best_pairs(counts, buyers, 100, min_support=3, top=2))
    assert kept == [
        CrossSellPair(1, 2, 1, pytest.approx(8.0), 8),
        CrossSellPair(1, 3, 2, pytest.approx(8.0), 8),
        CrossSellPair(2, 1, 1, pytest.approx(8.0), 8),
    ]
    with pytest.raises(ValueError):
        list(best_pairs(counts, buyers, 100, min_support=0))


def _pair(product: int, paired: int, score: float, support: int = 10) -> CrossSellPair:
    return CrossSellPair(product, paired, 1, score, support)


def test_candidates_put_pins_first_and_never_what_was_bought() -> None:
    learned = {1: [_pair(1, 2, 3.0), _pair(1, 3, 2.0)], 4: [_pair(4, 5, 5.0), _pair(4, 1, 9.0)]}
    assert cross_sell_candidates({1, 4}, learned, {}) == [5, 2, 3]
    assert cross_sell_candidates({1, 4}, learned, {1: 7}) == [7, 5]  # the pin replaces 1's
    assert cross_sell_candidates({1, 2}, learned, {}) == [3]
    assert cross_sell_candidates({1}, learned, {1: 1}) == []  # a pin to itself offers nothing
    assert cross_sell_candidates(set(), learned, {1: 7}) == []


def test_every_provider_gets_the_cross_sell_names_and_the_product() -> None:
    product = DueProduct(
        "gid://shopify/Product/7",
        7,
        "Linen Towel",
        "linen-towel",
        3200,
        "USD",
        None,
        "gid://shopify/ProductVariant/9",
        9,
        "Default Title",
    )
    event = DueEvent(
        kind="cross_sell",
        idempotency_key="cross_sell-1-20260901150000",
        occurred_at=datetime(2026, 9, 8, 16, tzinfo=UTC),
        cart_url="https://carts.example.com/cart/t?ch=klaviyo&pick=3",
        due_date=date(2026, 9, 8),
        products=(product,),
        value_cents=3200,
        currency="USD",
        recipient=Recipient("ava@example.com", None, "42"),
    )
    klaviyo = klaviyo_event_body(event)["data"]["attributes"]
    assert klaviyo["metric"]["data"]["attributes"]["name"] == "Repeat - Primed For Cross-sell"
    assert klaviyo["properties"]["crossSellProduct"]["product"]["title"] == "Linen Towel"
    assert postscript_event_body(event)["type"] == "PrimedForCrossSell"
    assert attentive_event_body(event)["type"] == "Repeat - Primed For Cross-sell"
