"""Interval learning: order filtering, same-day merging, per-unit gaps, percentiles, N."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.engine import (
    IntervalStats,
    Purchase,
    counts_for_intervals,
    interval_stats,
    learn_intervals,
    merge_same_day,
    per_unit_gaps,
    percentile,
)

FAST = settings(max_examples=150, deadline=None, database=None)
START = datetime(2024, 1, 1, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def buy(
    customer: int, product: int, when: datetime, quantity: int = 1, variant: int | None = None
) -> Purchase:
    return Purchase(customer, product, variant, when, quantity)


purchases_strategy = st.lists(
    st.builds(
        Purchase,
        customer_id=st.integers(1, 4),
        product_id=st.integers(1, 3),
        variant_id=st.one_of(st.none(), st.integers(1, 3)),
        purchased_at=st.integers(0, 400 * 24 * 60).map(lambda m: START + timedelta(minutes=m)),
        quantity=st.integers(-1, 5),
    ),
    max_size=30,
)


# --- counts_for_intervals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cancelled_at", "financial_status", "test", "expected"),
    [
        (None, "paid", False, True),
        (None, None, False, True),
        (None, "partially_refunded", False, True),
        (None, "PENDING", False, True),
        (at(2025, 1, 2), "paid", False, False),
        (None, "refunded", False, False),
        (None, "REFUNDED", False, False),
        (None, "voided", False, False),
        (None, " Voided ", False, False),
        (None, "paid", True, False),
    ],
)
def test_counts_for_intervals_excludes_cancelled_refunded_voided_and_test_orders(
    cancelled_at: datetime | None, financial_status: str | None, test: bool, expected: bool
) -> None:
    assert counts_for_intervals(cancelled_at, financial_status, test) is expected


# --- merging and gaps -----------------------------------------------------------------------


def test_same_utc_day_purchases_merge_with_summed_quantity_latest_time_and_variant() -> None:
    merged = merge_same_day(
        [
            buy(1, 10, at(2025, 1, 1, 9), 1, variant=100),
            buy(1, 10, at(2025, 1, 1, 23), 2, variant=101),
            buy(1, 10, at(2025, 1, 1, 15), 1, variant=102),
        ]
    )
    assert merged == [buy(1, 10, at(2025, 1, 1, 23), 4, variant=101)]


def test_merging_uses_the_utc_day_not_the_local_day() -> None:
    eastern = timezone(timedelta(hours=-5))
    # 23:30 on Jan 1 in New York is 04:30 on Jan 2 UTC: it merges with the Jan 2 purchase.
    late_local = datetime(2025, 1, 1, 23, 30, tzinfo=eastern)
    merged = merge_same_day(
        [buy(1, 10, at(2025, 1, 1, 10)), buy(1, 10, late_local, 2), buy(1, 10, at(2025, 1, 2, 8))]
    )
    assert [(p.purchased_at, p.quantity) for p in merged] == [
        (at(2025, 1, 1, 10), 1),
        (at(2025, 1, 2, 8), 3),
    ]
    assert all(p.purchased_at.tzinfo is UTC for p in merged)


def test_merging_keeps_customers_and_products_apart_and_drops_non_positive_quantities() -> None:
    day = at(2025, 3, 3)
    merged = merge_same_day(
        [buy(1, 10, day), buy(2, 10, day), buy(1, 11, day), buy(1, 12, day, 0), buy(1, 13, day, -2)]
    )
    assert {(p.customer_id, p.product_id, p.quantity) for p in merged} == {
        (1, 10, 1),
        (2, 10, 1),
        (1, 11, 1),
    }


def test_per_unit_gap_divides_days_by_the_quantity_bought_at_the_earlier_purchase() -> None:
    gaps = per_unit_gaps(
        [
            buy(1, 10, at(2025, 1, 1), 2),  # 20 days later / 2 units = 10
            buy(1, 10, at(2025, 1, 21), 1),  # 15 days later / 1 unit = 15
            buy(1, 10, at(2025, 2, 5), 7),  # last purchase: its quantity divides nothing
            buy(2, 10, at(2025, 1, 1)),  # bought once: no gap, not analysed
        ]
    )
    assert gaps == {10: {1: [10.0, 15.0]}}


def test_same_day_purchases_never_make_a_zero_gap() -> None:
    gaps = per_unit_gaps(
        [buy(1, 10, at(2025, 1, 1, 8)), buy(1, 10, at(2025, 1, 1, 20)), buy(1, 10, at(2025, 1, 21))]
    )
    assert gaps == {10: {1: [10.0]}}  # 20 days / (1 + 1) units


def test_gaps_count_calendar_days_so_a_midnight_crossing_is_one_day() -> None:
    gaps = per_unit_gaps([buy(1, 10, at(2025, 1, 1, 23, 50)), buy(1, 10, at(2025, 1, 2, 0, 10))])
    assert gaps == {10: {1: [1.0]}}


def test_unsorted_input_gives_the_same_gaps() -> None:
    ordered = [buy(1, 10, at(2025, 1, 1)), buy(1, 10, at(2025, 1, 11)), buy(1, 10, at(2025, 2, 10))]
    assert per_unit_gaps(reversed(ordered)) == per_unit_gaps(ordered) == {10: {1: [10.0, 30.0]}}


# --- percentiles and statistics -------------------------------------------------------------


def test_percentile_interpolates_linearly_like_numpy() -> None:
    values = [40.0, 10.0, 30.0, 20.0]
    assert percentile(values, 25) == 17.5
    assert percentile(values, 50) == 25.0
    assert percentile(values, 75) == 32.5
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile([7.0], 75) == 7.0


def test_percentile_rejects_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_interval_stats_hand_computed() -> None:
    stats = interval_stats({1: [10.0, 20.0], 2: [30.0], 3: [40.0]})
    assert stats == IntervalStats(p25=17.5, median=25.0, p75=32.5, mean=25.0, n=3)


def test_interval_stats_counts_customers_not_gaps_and_none_without_gaps() -> None:
    stats = interval_stats({1: [5.0, 5.0, 5.0, 5.0, 9.0], 2: [], 3: [1.0]})
    assert stats is not None
    assert stats.n == 2
    assert stats.median == 5.0
    assert interval_stats({}) is None
    assert interval_stats({1: [], 2: []}) is None


def test_learn_intervals_per_product_and_store_wide() -> None:
    purchases = [
        # product 10: customer 1 gaps [10], customer 2 gaps [20, 30]
        buy(1, 10, at(2025, 1, 1)),
        buy(1, 10, at(2025, 1, 11)),
        buy(2, 10, at(2025, 1, 1)),
        buy(2, 10, at(2025, 1, 21)),
        buy(2, 10, at(2025, 2, 20)),
        # product 20: customer 1 gap 40 days / 2 units = 20; customer 3 bought once
        buy(1, 20, at(2025, 1, 1), 2),
        buy(1, 20, at(2025, 2, 10)),
        buy(3, 20, at(2025, 1, 5)),
        # product 30: bought once only, nothing learned
        buy(4, 30, at(2025, 1, 5)),
    ]
    learned = learn_intervals(purchases)
    assert learned.by_product == {
        10: IntervalStats(p25=15.0, median=20.0, p75=25.0, mean=20.0, n=2),
        20: IntervalStats(p25=20.0, median=20.0, p75=20.0, mean=20.0, n=1),
    }
    # store gaps [10, 20, 20, 30]; customers 1 and 2 (customer 1 counted once across products)
    assert learned.store == IntervalStats(p25=17.5, median=20.0, p75=22.5, mean=20.0, n=2)


def test_learn_intervals_of_nothing_learns_nothing() -> None:
    learned = learn_intervals([buy(1, 10, at(2025, 1, 1))])
    assert learned.by_product == {}
    assert learned.store is None


# --- properties -----------------------------------------------------------------------------


@FAST
@given(st.lists(st.floats(0.01, 1000, allow_nan=False), min_size=1, max_size=40))
def test_percentiles_are_ordered_within_range_and_match_statistics(values: list[float]) -> None:
    p25, median, p75 = (percentile(values, pct) for pct in (25, 50, 75))
    assert min(values) <= p25 <= median <= p75 <= max(values)
    if len(values) >= 2:
        expected = statistics.quantiles(values, n=4, method="inclusive")
        for got, want in zip((p25, median, p75), expected, strict=True):
            assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


@FAST
@given(
    st.dictionaries(
        st.integers(1, 50), st.lists(st.floats(0.01, 500, allow_nan=False), max_size=6), max_size=8
    )
)
def test_stats_n_is_the_number_of_customers_with_a_gap(by_customer: dict[int, list[float]]) -> None:
    stats = interval_stats(by_customer)
    contributing = [gaps for gaps in by_customer.values() if gaps]
    if not contributing:
        assert stats is None
        return
    assert stats is not None
    assert stats.n == len(contributing)
    everything = [gap for gaps in contributing for gap in gaps]
    assert min(everything) <= stats.p25 <= stats.median <= stats.p75 <= max(everything)
    assert min(everything) <= stats.mean <= max(everything)
    # One customer repeating their gaps is still one customer.
    doubled = {customer: gaps * 2 for customer, gaps in by_customer.items()}
    doubled_stats = interval_stats(doubled)
    assert doubled_stats is not None
    assert doubled_stats.n == stats.n


@FAST
@given(purchases_strategy)
def test_gaps_are_positive_and_one_fewer_than_purchase_days(purchases: list[Purchase]) -> None:
    gaps = per_unit_gaps(purchases)
    for product_id, by_customer in gaps.items():
        for customer_id, customer_gaps in by_customer.items():
            days = {
                p.purchased_at.astimezone(UTC).date()
                for p in purchases
                if p.customer_id == customer_id and p.product_id == product_id and p.quantity > 0
            }
            assert len(customer_gaps) == len(days) - 1
            assert all(gap > 0 for gap in customer_gaps)


@FAST
@given(purchases_strategy, st.randoms(use_true_random=False))
def test_learning_ignores_input_order(purchases: list[Purchase], rng: random.Random) -> None:
    shuffled = list(purchases)
    rng.shuffle(shuffled)
    assert learn_intervals(shuffled) == learn_intervals(purchases)


@FAST
@given(purchases_strategy)
def test_learned_stats_are_consistent(purchases: list[Purchase]) -> None:
    learned = learn_intervals(purchases)
    gaps = per_unit_gaps(purchases)
    assert set(learned.by_product) == set(gaps)
    for product_id, stats in learned.by_product.items():
        assert stats.n == len(gaps[product_id])
        assert 0 < stats.p25 <= stats.median <= stats.p75
    if learned.store is not None:
        customers = {c for by_customer in gaps.values() for c in by_customer}
        assert learned.store.n == len(customers)
    else:
        assert gaps == {}


order_flags = st.tuples(
    st.one_of(st.none(), st.just(at(2025, 1, 1))),
    st.sampled_from([None, "paid", "pending", "partially_refunded", "refunded", "VOIDED"]),
    st.booleans(),
)


@FAST
@given(
    st.lists(st.tuples(order_flags, purchases_strategy), max_size=6),
    purchases_strategy,
)
def test_excluded_orders_change_nothing(
    orders: list[tuple[tuple[datetime | None, str | None, bool], list[Purchase]]],
    clean: list[Purchase],
) -> None:
    kept = [
        purchases
        for (cancelled_at, status, test), purchases in orders
        if not (cancelled_at is not None or test or status in ("refunded", "VOIDED"))
    ]
    baseline = clean + [p for purchases in kept for p in purchases]
    countable = list(clean)
    for (cancelled_at, status, test), purchases in orders:
        if counts_for_intervals(cancelled_at, status, test):
            countable.extend(purchases)
    assert len(countable) == len(baseline)
    assert learn_intervals(countable) == learn_intervals(baseline)
