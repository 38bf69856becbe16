"""The Insights page's service: the reorder-gap histogram agrees with the learned interval, and
customers due per day are counted by the database with empty days kept."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from services.core.tables import Customer, DueItem, IntervalStat
from services.engine.recompute import recompute_all
from services.reporting.insights import (
    bin_width,
    customers_due_within,
    due_per_day,
    histogram,
    insights_page,
    interval_distribution,
    moment_outlook,
    product_distribution,
)
from tests.integration.test_product_intervals import NOW, Store


def _store(session: Session):
    store = Store(session)
    coffee, coffee_v = store.product("Coffee")
    tea, tea_v = store.product("Tea")
    gaps_by_customer = {0: (10, 12), 1: (20, 22), 2: (30, 33), 3: (60,)}
    for index, gaps in gaps_by_customer.items():
        customer = store.customer(f"c{index}@example.com")
        days_ago = 200
        store.order(customer, days_ago, coffee_v)
        for gap in gaps:
            days_ago -= gap
            store.order(customer, days_ago, coffee_v)
    # two bags at once last twice as long: a 40-day gap counts as 20 per unit
    two_bags = store.customer("two@example.com")
    store.order(two_bags, 100, coffee_v, quantity=2)
    store.order(two_bags, 60, coffee_v)
    store.order(two_bags, 50, tea_v)
    session.commit()
    return coffee, tea


def test_distribution_matches_the_learned_interval(session: Session):
    coffee, _ = _store(session)
    recompute_all(session, NOW)
    session.commit()
    result = interval_distribution(session, coffee.id)
    assert result is not None and result.title == "Coffee"
    learned = session.exec(select(IntervalStat).where(IntervalStat.product_id == coffee.id)).one()
    assert (result.p25, result.median, result.p75, result.mean) == pytest.approx(
        (learned.p25, learned.median, learned.p75, learned.mean)
    )
    assert result.customers == learned.n == 5
    assert result.gaps == 8
    assert result.bin_days == 7
    counts = {b.label: b.gaps for b in result.bins}
    assert sum(counts.values()) == 8
    assert len(result.bins) == 9  # 0..62 days in weeks, empty weeks kept
    assert counts["7–13 d"] == 2  # 10, 12
    assert counts["14–20 d"] == 2  # 20 and the per-unit 20 of the two-bag buyer
    assert counts["21–27 d"] == 1 and counts["28–34 d"] == 2 and counts["56–62 d"] == 1
    assert counts["35–41 d"] == 0
    assert result.label_of(result.median) == "21–27 d"  # median of the 8 gaps: 21
    middle = [b.label for b in result.bins if b.middle]  # P25 14.5 .. P75 30.75
    assert middle == ["14–20 d", "21–27 d", "28–34 d"]


def test_a_product_nobody_reordered_has_an_empty_distribution(session: Session):
    _, tea = _store(session)
    result = interval_distribution(session, tea.id)
    assert result is not None
    assert result.bins == [] and result.gaps == 0 and result.median is None
    assert result.label_of(result.median) == ""
    assert interval_distribution(session, 99_999) is None


def test_long_gaps_widen_the_bins_to_stay_readable():
    bins = histogram([3.0, 400.0], 14)
    assert len(bins) == 29 and bins[0].gaps == 1 and bins[-1].gaps == 1
    assert bin_width(400.0) == 21 and len(histogram([400.0], bin_width(400.0))) <= 26
    assert bin_width(100.0) == 7


def test_due_per_day_counts_distinct_customers_and_keeps_empty_days(session: Session):
    coffee, tea = _store(session)
    recompute_all(session, NOW)
    session.commit()
    for row in session.exec(select(DueItem)).all():
        session.delete(row)
    session.flush()
    customers = [c.id for c in session.exec(select(Customer).order_by(Customer.id)).all()]
    today = NOW.replace(hour=0, minute=0)

    def due(customer: int, product: int, at: datetime) -> None:
        session.add(
            DueItem(
                customer_id=customer,
                product_id=product,
                last_purchased_at=at - timedelta(days=30),
                last_quantity=1,
                interval_days=30,
                interval_source="product",
                due_at=at,
                remind_at=at,
                late_at=at,
            )
        )

    due(customers[0], coffee.id, today + timedelta(hours=1))  # today, early
    due(customers[0], tea.id, today + timedelta(hours=23))  # same customer, same day
    due(customers[1], coffee.id, today + timedelta(hours=23, minutes=59))
    due(customers[2], coffee.id, today + timedelta(days=3, hours=5))
    due(customers[1], tea.id, today + timedelta(days=29, hours=23))  # the last day shown
    due(customers[2], tea.id, today + timedelta(days=30))  # the 31st day: not shown
    due(
        customers[3], coffee.id, today - timedelta(minutes=1)
    )  # yesterday (already overdue): not shown
    session.commit()

    days = due_per_day(session, NOW)
    assert len(days) == 30
    assert days[0].day == date(2026, 11, 25) and days[-1].day == date(2026, 12, 24)
    counts = {d.day: d.customers for d in days}
    assert counts[date(2026, 11, 25)] == 2
    assert counts[date(2026, 11, 28)] == 1
    assert counts[date(2026, 12, 24)] == 1
    assert sum(counts.values()) == 4
    assert counts[date(2026, 11, 26)] == 0
    assert customers_due_within(session, NOW) == 3  # the first three; the fourth is overdue


@pytest.mark.usefixtures("app_database")
def test_the_page_use_cases_open_on_the_most_reordered_product(session: Session):
    coffee, tea = _store(session)
    recompute_all(session, NOW)
    session.commit()

    page = insights_page(0, NOW)  # nothing chosen yet: the product most customers reordered
    assert page.distribution is not None and page.distribution.product_id == coffee.id
    assert len(page.due.days) == 30
    assert page.due.customers == customers_due_within(session, NOW)
    assert page.moments == moment_outlook(session, NOW)
    assert insights_page(tea.id, NOW).distribution == interval_distribution(session, tea.id)
    assert insights_page(99_999, NOW).distribution is None  # chosen, then deleted

    assert product_distribution(coffee.id) == page.distribution
    assert product_distribution(99_999) is None


def test_each_moment_counts_customers_reaching_its_point_today_and_within_30_days(
    session: Session,
):
    coffee, tea = _store(session)
    recompute_all(session, NOW)
    session.commit()
    for row in session.exec(select(DueItem)).all():
        session.delete(row)
    session.flush()
    customers = [c.id for c in session.exec(select(Customer).order_by(Customer.id)).all()]
    today = NOW.replace(hour=0, minute=0)

    def due(customer: int, product: int, remind: datetime, late: datetime, lapse=None) -> None:
        session.add(
            DueItem(
                customer_id=customer,
                product_id=product,
                last_purchased_at=remind - timedelta(days=27),
                last_quantity=1,
                interval_days=30,
                interval_source="product",
                due_at=remind + timedelta(days=3),
                remind_at=remind,
                late_at=late,
                lapse_at=lapse,
            )
        )

    later = today + timedelta(days=45)  # beyond the window
    due(customers[0], coffee.id, today + timedelta(hours=2), later)  # reminded today
    due(customers[0], tea.id, today + timedelta(hours=5), later)  # the same customer again
    due(customers[1], coffee.id, today + timedelta(days=4), today + timedelta(hours=20))
    due(
        customers[2],
        coffee.id,
        today - timedelta(days=50),  # reminded long ago: in no window
        today - timedelta(days=30),
        today + timedelta(days=12),  # lapses in 12 days
    )
    due(customers[3], tea.id, today + timedelta(days=30), later, today + timedelta(hours=1))
    session.commit()

    counts = {m.kind: (m.today, m.upcoming) for m in moment_outlook(session, NOW)}
    # cross-sell: primed N days after the last order (27 days before each reminder here):
    # after 7 days, only customers[3], whose last order is 3 days ahead, within the 30 days
    assert counts == {
        "due": (1, 2),
        "late": (1, 1),
        "lapse": (1, 2),
        "cross_sell": (0, 1),
        "subscription": (0, 0),  # no product has a selling plan
    }
    # after 27 days: customers[0] today (its last order, 27 days ago), [1] and [3] later on
    primed = {m.kind: m for m in moment_outlook(session, NOW, cross_sell_days=27)}["cross_sell"]
    assert (primed.today, primed.upcoming) == (1, 3)
    labels = [m.label for m in moment_outlook(session, NOW)]
    assert labels == [
        "Due To Replenish",
        "Late Due To Replenish",
        "About To Lapse",
        "Primed For Cross-sell",
        "Primed For Subscription",
    ]
