"""The About To Lapse rule: who can lapse, by which product, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.engine import (
    IntervalStats,
    LearnedIntervals,
    Purchase,
    ReorderedProduct,
    ReplenishmentSettings,
    customer_lapse_point,
    due_entries_for_customer,
    lapse_point,
    most_reordered,
)

LAST = datetime(2026, 9, 1, 10, tzinfo=UTC)
SETTINGS = ReplenishmentSettings(min_reorder_customers=5)
SOAP, TEA, MYSTERY = 1, 2, 3


def _stats(p75: float, n: int = 12) -> IntervalStats:
    return IntervalStats(p25=p75 / 2, median=p75 * 0.8, p75=p75, mean=p75 * 0.8, n=n)


# soap and tea learned; the mystery product only ever had the store-wide fallback
LEARNED = LearnedIntervals(
    by_product={SOAP: _stats(20), TEA: _stats(45), MYSTERY: _stats(10, n=2)},
    store=_stats(15, n=0),
)


def _bought(product_id: int, orders: int, days_ago: float = 0, quantity: int = 1):
    return ReorderedProduct(product_id, orders, LAST - timedelta(days=days_ago), quantity)


def test_the_lapse_point_is_the_last_order_plus_factor_times_the_late_interval() -> None:
    point = lapse_point(7, 3, LAST, [_bought(SOAP, 3)], LEARNED, SETTINGS, factor=2)
    assert point is not None
    assert point.product_id == SOAP and point.late_days == 20
    assert point.lapse_at == LAST + timedelta(days=40)
    assert not point.is_lapsing(LAST + timedelta(days=39, hours=23))
    assert point.is_lapsing(LAST + timedelta(days=40))
    assert point.days_since_last_order(LAST + timedelta(days=41, hours=5)) == 41


def test_the_factor_scales_the_lapse_point() -> None:
    three = lapse_point(7, 2, LAST, [_bought(SOAP, 2)], LEARNED, SETTINGS, factor=3)
    one_and_half = lapse_point(7, 2, LAST, [_bought(SOAP, 2)], LEARNED, SETTINGS, factor=1.5)
    assert three is not None and three.lapse_at == LAST + timedelta(days=60)
    assert one_and_half is not None and one_and_half.lapse_at == LAST + timedelta(days=30)


def test_the_quantity_last_bought_stretches_the_late_interval() -> None:
    point = lapse_point(7, 2, LAST, [_bought(SOAP, 2, quantity=3)], LEARNED, SETTINGS, factor=2)
    assert point is not None and point.late_days == 60
    assert point.lapse_at == LAST + timedelta(days=120)


def test_a_single_order_never_lapses() -> None:
    assert lapse_point(7, 1, LAST, [_bought(SOAP, 1)], LEARNED, SETTINGS, factor=2) is None
    assert lapse_point(7, 0, LAST, [], LEARNED, SETTINGS, factor=2) is None


def test_a_product_with_only_the_fallback_interval_never_triggers_it_on_its_own() -> None:
    # bought five times, but too few customers reordered it for its P75 to count
    only_fallback = [_bought(MYSTERY, 5)]
    assert lapse_point(7, 5, LAST, only_fallback, LEARNED, SETTINGS, factor=2) is None
    unknown = [_bought(99, 4)]  # no statistics at all: only the store-wide median applies
    assert lapse_point(7, 4, LAST, unknown, LEARNED, SETTINGS, factor=2) is None
    # beside a learned product, the learned one sets the point, however often the other sold
    mixed = [_bought(MYSTERY, 5), _bought(TEA, 1, days_ago=30)]
    point = lapse_point(7, 6, LAST, mixed, LEARNED, SETTINGS, factor=2)
    assert point is not None and point.product_id == TEA
    assert point.lapse_at == LAST + timedelta(days=90)  # from the last order, not tea's


def test_the_most_reordered_product_sets_the_point() -> None:
    products = [_bought(SOAP, 2), _bought(TEA, 4, days_ago=10)]
    point = lapse_point(7, 4, LAST, products, LEARNED, SETTINGS, factor=2)
    assert point is not None and point.product_id == TEA and point.late_days == 45


def test_ties_go_to_the_latest_bought_then_the_lowest_id() -> None:
    latest = [_bought(SOAP, 3, days_ago=5), _bought(TEA, 3, days_ago=1)]
    assert most_reordered(latest, LEARNED, SETTINGS) == latest[1]
    assert most_reordered(list(reversed(latest)), LEARNED, SETTINGS) == latest[1]
    same_day = [_bought(TEA, 3), _bought(SOAP, 3)]
    picked = most_reordered(same_day, LEARNED, SETTINGS)
    assert picked is not None and picked.product_id == SOAP


def test_a_new_order_ends_the_cycle() -> None:
    before = lapse_point(7, 2, LAST, [_bought(SOAP, 2)], LEARNED, SETTINGS, factor=2)
    assert before is not None and before.is_lapsing(LAST + timedelta(days=41))
    reordered = LAST + timedelta(days=35)
    after = lapse_point(7, 3, reordered, [_bought(SOAP, 3, -35)], LEARNED, SETTINGS, factor=2)
    assert after is not None and after.last_order_at == reordered
    assert not after.is_lapsing(LAST + timedelta(days=41))
    assert after.lapse_at == reordered + timedelta(days=40)


@pytest.mark.parametrize("factor", [0.5, 0.0, -2.0, float("nan"), float("inf")])
def test_a_factor_below_one_or_not_a_number_is_refused(factor: float) -> None:
    with pytest.raises(ValueError, match="lapse factor"):
        lapse_point(7, 2, LAST, [_bought(SOAP, 2)], LEARNED, SETTINGS, factor=factor)


def _purchase(product_id: int, days_after: float, quantity: int = 1) -> Purchase:
    return Purchase(7, product_id, product_id * 10, LAST + timedelta(days=days_after), quantity)


def test_orders_are_counted_from_purchase_times_of_the_stored_history() -> None:
    # two orders: soap + tea together, then tea alone; tea is in both, so tea sets the point
    history = [_purchase(SOAP, -30), _purchase(TEA, -30), _purchase(TEA, 0, quantity=2)]
    entries = due_entries_for_customer(history, LEARNED, {}, SETTINGS)
    point = customer_lapse_point(history, entries, LEARNED, SETTINGS, 2)
    assert point is not None and point.product_id == TEA
    assert point.last_order_at == LAST and point.late_days == 90
    # one order of two lines is still one order
    single = history[:2]
    entries = due_entries_for_customer(single, LEARNED, {}, SETTINGS)
    assert customer_lapse_point(single, entries, LEARNED, SETTINGS, 2) is None
    assert customer_lapse_point([], [], LEARNED, SETTINGS, 2) is None


def test_purchases_on_one_day_are_one_order() -> None:
    # a forgotten item bought an hour later is not a second order: no repeat customer yet
    history = [_purchase(TEA, 0), _purchase(SOAP, 1 / 24)]
    entries = due_entries_for_customer(history, LEARNED, {}, SETTINGS)
    assert customer_lapse_point(history, entries, LEARNED, SETTINGS, 2) is None


def test_the_lapse_point_never_comes_before_the_products_own_late_point() -> None:
    # tea's interval is overridden to 400 days: 2 × its P75 (90 days) would lapse the
    # customer long before tea is even due, with nothing for the event to list
    history = [_purchase(TEA, -30), _purchase(TEA, 0)]
    entries = due_entries_for_customer(history, LEARNED, {TEA: 400}, SETTINGS)
    point = customer_lapse_point(history, entries, LEARNED, SETTINGS, 2)
    tea = next(entry for entry in entries if entry.product_id == TEA)
    assert point is not None and point.product_id == TEA
    assert point.lapse_at == tea.late_at > LAST + timedelta(days=90)
