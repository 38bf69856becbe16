"""Due dates: the interval fallback chain, quantity scaling, remind and late points."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.engine import (
    DueEntry,
    IntervalStats,
    LearnedIntervals,
    Purchase,
    ReplenishmentSettings,
    choose_interval,
    counts_for_intervals,
    due_entries_for_customer,
    learn_intervals,
    merge_same_day,
)

FAST = settings(max_examples=150, deadline=None, database=None)
START = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULTS = ReplenishmentSettings()
NOTHING_LEARNED = LearnedIntervals(by_product={}, store=None)


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def buy(
    product: int, when: datetime, quantity: int = 1, variant: int | None = None, customer: int = 1
) -> Purchase:
    return Purchase(customer, product, variant, when, quantity)


def stats(median: float, p75: float, n: int) -> IntervalStats:
    return IntervalStats(p25=median / 2, median=median, p75=p75, mean=median, n=n)


def only_entry(
    purchases: list[Purchase],
    learned: LearnedIntervals = NOTHING_LEARNED,
    overrides: dict[int, float] | None = None,
    config: ReplenishmentSettings = DEFAULTS,
) -> DueEntry:
    entries = due_entries_for_customer(purchases, learned, overrides or {}, config)
    assert len(entries) == 1
    return entries[0]


THREE_PURCHASES = [buy(10, at(2025, 1, 1)), buy(10, at(2025, 1, 11)), buy(10, at(2025, 1, 31))]
"""Gaps 10 and 20 days: personal mean 15, k = 2."""


# --- the fallback chain, one step at a time -------------------------------------------------


def test_default_interval_when_nothing_is_known() -> None:
    entry = only_entry([buy(10, at(2025, 3, 1), 2)])
    assert (entry.interval_days, entry.interval_source) == (30.0, "default")
    assert entry.due_at == at(2025, 4, 30)  # 30 days x 2 units
    assert entry.remind_at == at(2025, 4, 27)  # 3 lead days
    assert entry.late_at == at(2025, 5, 30)  # no P75 anywhere: 30 x 1.5 x 2 = 90 days


def test_store_median_when_the_product_has_too_few_customers() -> None:
    learned = LearnedIntervals(by_product={10: stats(99, 120, n=4)}, store=stats(20, 25, n=50))
    entry = only_entry([buy(10, at(2025, 1, 1))], learned)
    assert (entry.interval_days, entry.interval_source) == (20.0, "store")
    assert entry.due_at == at(2025, 1, 21)
    assert entry.late_at == at(2025, 1, 26)  # store P75


def test_product_median_when_enough_customers_reordered() -> None:
    learned = LearnedIntervals(by_product={10: stats(12, 16, n=5)}, store=stats(20, 25, n=50))
    entry = only_entry([buy(10, at(2025, 1, 1), 3)], learned)
    assert (entry.interval_days, entry.interval_source) == (12.0, "product")
    assert entry.due_at == at(2025, 2, 6)  # 12 x 3 = 36 days
    assert entry.remind_at == at(2025, 2, 3)
    assert entry.late_at == at(2025, 2, 18)  # product P75 16 x 3 = 48 days


def test_minimum_reorder_customers_is_a_setting() -> None:
    learned = LearnedIntervals(by_product={10: stats(12, 16, n=4)}, store=stats(20, 25, n=50))
    assert only_entry([buy(10, at(2025, 1, 1))], learned).interval_source == "store"
    lenient = ReplenishmentSettings(min_reorder_customers=4)
    entry = only_entry([buy(10, at(2025, 1, 1))], learned, config=lenient)
    assert (entry.interval_days, entry.interval_source) == (12.0, "product")


def test_personal_cadence_is_blended_toward_the_product_median() -> None:
    learned = LearnedIntervals(by_product={10: stats(30, 40, n=5)}, store=stats(20, 25, n=50))
    entry = only_entry(THREE_PURCHASES, learned)
    # (k x mean + w x prior) / (k + w) = (2 x 15 + 2 x 30) / 4
    assert (entry.interval_days, entry.interval_source) == (22.5, "personal")
    assert entry.due_at == at(2025, 1, 31) + timedelta(days=22.5)
    assert entry.due_at == datetime(2025, 2, 23, 0, tzinfo=UTC)
    assert entry.late_at == at(2025, 3, 12)  # product P75: 40 days after Jan 31


def test_personal_cadence_blends_toward_the_store_median_without_product_stats() -> None:
    learned = LearnedIntervals(by_product={}, store=stats(12, 18, n=50))
    purchases = [*THREE_PURCHASES[:2], buy(10, at(2025, 1, 31), 2)]
    entry = only_entry(purchases, learned)
    assert (entry.interval_days, entry.interval_source) == (13.5, "personal")  # (30 + 24) / 4
    assert entry.due_at == at(2025, 2, 27)  # 13.5 x 2 = 27 days
    assert entry.late_at == at(2025, 3, 8)  # store P75 18 x 2 = 36 days


def test_personal_cadence_blends_toward_the_default_without_any_stats() -> None:
    config = ReplenishmentSettings(default_interval_days=40)
    entry = only_entry(THREE_PURCHASES, config=config)
    assert (entry.interval_days, entry.interval_source) == (27.5, "personal")  # (30 + 80) / 4
    assert entry.late_at == at(2025, 1, 31) + timedelta(days=27.5 * 1.5)


def test_prior_weight_fades_as_the_customer_buys_more() -> None:
    learned = LearnedIntervals(by_product={10: stats(30, 40, n=5)}, store=None)
    purchases = [*THREE_PURCHASES, buy(10, at(2025, 3, 2))]  # gaps 10, 20, 30: mean 20, k 3
    assert only_entry(purchases, learned).interval_days == 24.0  # (60 + 60) / 5
    unweighted = ReplenishmentSettings(personal_prior_weight=0)
    assert only_entry(THREE_PURCHASES, learned, config=unweighted).interval_days == 15.0


def test_two_purchases_are_not_a_personal_cadence() -> None:
    learned = LearnedIntervals(by_product={10: stats(30, 40, n=5)}, store=None)
    entry = only_entry(THREE_PURCHASES[:2], learned)
    assert (entry.interval_days, entry.interval_source) == (30.0, "product")


def test_same_day_purchases_count_once_towards_the_personal_minimum() -> None:
    learned = LearnedIntervals(by_product={10: stats(30, 40, n=5)}, store=None)
    purchases = [buy(10, at(2025, 1, 1, 9)), buy(10, at(2025, 1, 1, 18)), buy(10, at(2025, 1, 21))]
    entry = only_entry(purchases, learned)
    assert entry.interval_source == "product"
    assert entry.last_quantity == 1


def test_override_beats_everything_including_a_personal_cadence() -> None:
    learned = LearnedIntervals(by_product={10: stats(30, 40, n=5)}, store=stats(20, 25, n=9))
    purchases = [*THREE_PURCHASES[:2], buy(10, at(2025, 1, 31), 2)]
    entry = only_entry(purchases, learned, overrides={10: 7.0, 11: 99.0})
    assert (entry.interval_days, entry.interval_source) == (7.0, "override")
    assert entry.due_at == at(2025, 2, 14)  # 7 x 2 days
    assert entry.late_at == at(2025, 4, 21)  # product P75 still marks late: 40 x 2 = 80 days


def test_override_without_stats_is_late_at_one_and_a_half_intervals() -> None:
    entry = only_entry([buy(10, at(2025, 1, 1), 2)], overrides={10: 7.0})
    assert entry.late_at == at(2025, 1, 22)  # 7 x 1.5 x 2 = 21 days


@pytest.mark.parametrize("bad", [0.0, -3.0, math.nan, math.inf])
def test_unusable_override_is_ignored(bad: float) -> None:
    entry = only_entry([buy(10, at(2025, 1, 1))], overrides={10: bad})
    assert (entry.interval_days, entry.interval_source) == (30.0, "default")


def test_late_is_never_before_due() -> None:
    learned = LearnedIntervals(by_product={10: stats(12, 16, n=5)}, store=None)
    entry = only_entry([buy(10, at(2025, 1, 1))], learned, overrides={10: 60.0})
    assert entry.due_at == at(2025, 3, 2)
    assert entry.late_at == entry.due_at  # P75 (16 days) would be earlier than due


def test_choose_interval_directly() -> None:
    learned = LearnedIntervals(by_product={10: stats(30, 40, n=5)}, store=stats(20, 25, n=9))
    assert choose_interval(10, [], learned, {}, DEFAULTS) == (30.0, "product")
    assert choose_interval(11, [], learned, {}, DEFAULTS) == (20.0, "store")
    assert choose_interval(10, [5.0], learned, {}, DEFAULTS) == (30.0, "product")
    assert choose_interval(10, [10.0, 20.0], learned, {}, DEFAULTS) == (22.5, "personal")
    assert choose_interval(10, [10.0, 20.0], learned, {10: 3}, DEFAULTS) == (3.0, "override")
    assert choose_interval(11, [], NOTHING_LEARNED, {}, DEFAULTS) == (30.0, "default")


# --- remind and late points -----------------------------------------------------------------


def test_lead_days_move_the_remind_point_and_is_due_is_inclusive() -> None:
    config = ReplenishmentSettings(lead_days=5)
    entry = only_entry([buy(10, at(2025, 1, 1))], config=config)
    assert entry.due_at == at(2025, 1, 31)
    assert entry.remind_at == at(2025, 1, 26)
    assert not entry.is_due(at(2025, 1, 26) - timedelta(seconds=1))
    assert entry.is_due(at(2025, 1, 26))
    assert entry.late_at == at(2025, 2, 15)  # 45 days
    assert not entry.is_late(at(2025, 2, 15) - timedelta(seconds=1))
    assert entry.is_late(at(2025, 2, 15))


def test_remind_point_is_never_before_the_purchase() -> None:
    entry = only_entry([buy(10, at(2025, 1, 1))], overrides={10: 1.0})
    assert entry.due_at == at(2025, 1, 2)
    assert entry.remind_at == at(2025, 1, 1)
    assert entry.is_due(at(2025, 1, 1))


# --- what the entry records -----------------------------------------------------------------


def test_last_purchase_is_merged_and_keeps_the_latest_variant() -> None:
    purchases = [
        buy(10, at(2025, 1, 1), variant=100),
        buy(10, at(2025, 2, 1, 9), variant=100),
        buy(10, at(2025, 2, 1, 18), 2, variant=101),
    ]
    entry = only_entry(purchases)
    assert entry.last_purchased_at == at(2025, 2, 1, 18)
    assert entry.last_quantity == 3
    assert entry.variant_id == 101
    assert entry.due_at == at(2025, 2, 1, 18) + timedelta(days=90)


def test_non_positive_quantities_are_ignored() -> None:
    entries = due_entries_for_customer(
        [buy(10, at(2025, 1, 1), 2), buy(10, at(2025, 2, 1), 0), buy(11, at(2025, 2, 1), -1)],
        NOTHING_LEARNED,
        {},
        DEFAULTS,
    )
    assert [(e.product_id, e.last_purchased_at, e.last_quantity) for e in entries] == [
        (10, at(2025, 1, 1), 2)
    ]


def test_one_entry_per_product_sorted_by_due_date() -> None:
    entries = due_entries_for_customer(
        [buy(10, at(2025, 1, 1)), buy(20, at(2025, 1, 5)), buy(10, at(2025, 1, 2)), buy(30, START)],
        NOTHING_LEARNED,
        {10: 50.0, 20: 5.0},
        DEFAULTS,
    )
    assert [(e.product_id, e.due_at) for e in entries] == [
        (30, START + timedelta(days=30)),
        (20, at(2025, 1, 10)),
        (10, at(2025, 2, 21)),
    ]
    assert all(e.customer_id == 1 for e in entries)


def test_offsets_are_normalized_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    entry = only_entry([buy(10, datetime(2025, 1, 1, 8, tzinfo=tokyo))])
    assert entry.last_purchased_at == datetime(2024, 12, 31, 23, tzinfo=UTC)
    assert entry.due_at.utcoffset() == timedelta(0)


def test_no_purchases_no_entries_and_several_customers_are_refused() -> None:
    assert due_entries_for_customer([], NOTHING_LEARNED, {}, DEFAULTS) == []
    with pytest.raises(ValueError):
        due_entries_for_customer(
            [buy(10, START), buy(10, START, customer=2)], NOTHING_LEARNED, {}, DEFAULTS
        )


def test_naive_datetimes_and_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Purchase(1, 10, None, datetime(2025, 1, 1), 1)  # naive on purpose
    for bad in (
        {"lead_days": -1},
        {"default_interval_days": 0},
        {"min_reorder_customers": 0},
        {"personal_min_purchases": 1},
        {"personal_prior_weight": -1},
    ):
        with pytest.raises(ValueError):
            ReplenishmentSettings(**bad)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------

one_customer_purchases = st.lists(
    st.builds(
        Purchase,
        customer_id=st.just(1),
        product_id=st.integers(1, 3),
        variant_id=st.one_of(st.none(), st.integers(1, 3)),
        purchased_at=st.integers(0, 600 * 24 * 60).map(lambda m: START + timedelta(minutes=m)),
        quantity=st.integers(1, 6),
    ),
    min_size=1,
    max_size=12,
)

others_purchases = st.lists(
    st.builds(
        Purchase,
        customer_id=st.integers(2, 9),
        product_id=st.integers(1, 3),
        variant_id=st.none(),
        purchased_at=st.integers(0, 600).map(lambda d: START + timedelta(days=d)),
        quantity=st.integers(1, 3),
    ),
    max_size=40,
)

overrides_strategy = st.dictionaries(st.integers(1, 3), st.floats(0.5, 365), max_size=2)
settings_strategy = st.builds(
    ReplenishmentSettings,
    lead_days=st.integers(0, 10),
    default_interval_days=st.floats(1, 120),
    min_reorder_customers=st.integers(1, 6),
    personal_min_purchases=st.integers(2, 5),
    personal_prior_weight=st.floats(0, 5),
)


@FAST
@given(one_customer_purchases, others_purchases, overrides_strategy, settings_strategy)
def test_dates_are_ordered(
    mine: list[Purchase],
    others: list[Purchase],
    overrides: dict[int, float],
    config: ReplenishmentSettings,
) -> None:
    learned = learn_intervals(mine + others)
    entries = due_entries_for_customer(mine, learned, overrides, config)
    assert {e.product_id for e in entries} == {p.product_id for p in mine}
    assert [e.due_at for e in entries] == sorted(e.due_at for e in entries)
    for entry in entries:
        assert entry.interval_days > 0
        assert entry.last_purchased_at <= entry.remind_at <= entry.due_at <= entry.late_at
        assert entry.due_at > entry.last_purchased_at
        assert entry.due_at - entry.remind_at <= timedelta(days=config.lead_days)
        assert entry.last_purchased_at == max(
            p.purchased_at for p in mine if p.product_id == entry.product_id
        )


@FAST
@given(
    one_customer_purchases,
    others_purchases,
    overrides_strategy,
    st.integers(1, 3),
    st.integers(1, 20),
)
def test_buying_more_at_the_last_purchase_never_makes_it_due_sooner(
    mine: list[Purchase],
    others: list[Purchase],
    overrides: dict[int, float],
    product_id: int,
    extra: int,
) -> None:
    bought = [p for p in mine if p.product_id == product_id]
    if not bought:
        return
    last = max(bought, key=lambda p: p.purchased_at)
    more = [
        Purchase(p.customer_id, p.product_id, p.variant_id, p.purchased_at, p.quantity + extra)
        if p is last
        else p
        for p in mine
    ]

    def due_of(purchases: list[Purchase]) -> DueEntry:
        learned = learn_intervals(purchases + others)
        entries = due_entries_for_customer(purchases, learned, overrides, DEFAULTS)
        return next(e for e in entries if e.product_id == product_id)

    before, after = due_of(mine), due_of(more)
    assert after.last_quantity == before.last_quantity + extra
    assert after.due_at > before.due_at
    assert after.late_at >= before.late_at


@FAST
@given(one_customer_purchases, others_purchases, st.integers(1, 3), st.floats(0.5, 365))
def test_an_override_always_wins(
    mine: list[Purchase], others: list[Purchase], product_id: int, days: float
) -> None:
    learned = learn_intervals(mine + others)
    entries = due_entries_for_customer(mine, learned, {product_id: days}, DEFAULTS)
    for entry in entries:
        if entry.product_id == product_id:
            assert (entry.interval_days, entry.interval_source) == (days, "override")
            assert entry.due_at == entry.last_purchased_at + timedelta(
                days=days * entry.last_quantity
            )
        else:
            assert entry.interval_source != "override"


@FAST
@given(one_customer_purchases, others_purchases)
def test_personal_cadence_only_from_three_purchase_days(
    mine: list[Purchase], others: list[Purchase]
) -> None:
    learned = learn_intervals(mine + others)
    merged = merge_same_day(mine)
    for entry in due_entries_for_customer(mine, learned, {}, DEFAULTS):
        purchase_days = sum(1 for p in merged if p.product_id == entry.product_id)
        assert (entry.interval_source == "personal") == (purchase_days >= 3)
        if entry.interval_source != "personal":
            stats_ = learned.by_product.get(entry.product_id)
            if stats_ is not None and stats_.n >= DEFAULTS.min_reorder_customers:
                assert (entry.interval_source, entry.interval_days) == ("product", stats_.median)
            elif learned.store is not None:
                assert (entry.interval_source, entry.interval_days) == (
                    "store",
                    learned.store.median,
                )
            else:
                assert (entry.interval_source, entry.interval_days) == ("default", 30.0)


@FAST
@given(
    one_customer_purchases,
    others_purchases,
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    (START, "paid", False),
                    (None, "refunded", False),
                    (None, "voided", False),
                    (None, "paid", True),
                    (START, None, True),
                ]
            ),
            one_customer_purchases,
        ),
        max_size=3,
    ),
)
def test_cancelled_refunded_and_test_orders_change_nothing(
    mine: list[Purchase],
    others: list[Purchase],
    junk_orders: list[tuple[tuple[datetime | None, str | None, bool], list[Purchase]]],
) -> None:
    def entries(purchases: list[Purchase]) -> list[DueEntry]:
        return due_entries_for_customer(
            purchases, learn_intervals(purchases + others), {}, DEFAULTS
        )

    with_junk = list(mine)
    for (cancelled_at, status, test), purchases in junk_orders:
        if counts_for_intervals(cancelled_at, status, test):
            with_junk.extend(purchases)
    assert entries(with_junk) == entries(mine)
