"""The Analytics page's figures on hand-made events and orders whose totals are known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text
from sqlmodel import Session, col

from services.cart.events import record_cart_event
from services.core.db import get_engine
from services.core.tables import CartEvent, CartEventDay, CartLink, Customer, Order, Shop
from services.reporting.analytics.ranges import (
    CHANNELS,
    MAX_RANGE,
    AnalyticsInputError,
    day_range,
    parse_days,
    preset_days,
)
from services.reporting.analytics.report import analytics_for_range, analytics_report
from services.reporting.analytics.rollup import count_closed_days, count_closed_days_of_range
from services.reporting.analytics.sql import bucket_expression

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
END = datetime(2026, 3, 9, tzinfo=UTC)  # exclusive: the next Monday
NOW = datetime(2026, 4, 1, 9, tzinfo=UTC)  # every day of the hand-made week has closed


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _links(session: Session, count: int) -> list[int]:
    links = []
    for number in range(count):
        customer = Customer(email=f"c{number}@example.com")
        session.add(customer)
        session.flush()
        link = CartLink(customer_id=customer.id, token=f"token-{number:02d}-abcdefghijklmnopqrstu")
        session.add(link)
        session.flush()
        links.append(link.id)
    return links


_order_number = iter(range(1, 10_000))


def _order(session: Session, when: datetime, cents: int, cart: int | None, **fields) -> None:
    number = next(_order_number)
    session.add(
        Order(
            shopify_gid=f"gid://shopify/Order/{number}",
            processed_at=when,
            total_cents=cents,
            attributed_cart_id=cart,
            **fields,
        )
    )


def _store(session: Session) -> list[int]:
    """The events and orders of the expected figures below (see each comment)."""
    session.add(Shop(shop_domain="figures.myshopify.com", currency="USD"))
    l1, l2, l3, l4 = _links(session, 4)

    def event(link: int, kind: str, channel: str | None, when: datetime) -> None:
        record_cart_event(
            session, cart_link_id=link, customer_id=1, kind=kind, channel=channel, at=when
        )  # type: ignore[arg-type]

    event(l1, "view", "email", at(2, 10))  # session (l1, Mar 2) with a checkout
    event(l1, "view", "email", at(2, 11))
    event(l1, "checkout", "email", at(2, 11, 5))
    event(l2, "view", "sms", at(2, 12))  # session (l2, Mar 2), no checkout
    event(l2, "view", "direct", at(3, 9))  # session (l2, Mar 3) with a checkout
    event(l2, "checkout", "direct", at(3, 9, 10))
    event(l3, "view", "email", at(4, 8))  # one session, under email and under sms
    event(l3, "view", "sms", at(4, 9))
    event(l3, "add", "sms", at(4, 9, 1))  # not a view or checkout: not counted
    event(l1, "checkout", "email", at(5, 7))  # a checkout without a view that day
    event(l2, "view", None, at(6, 15))  # no channel: direct
    event(l4, "view", "tiktok", START)  # the exact start instant: in; unknown channel: other
    event(l4, "view", "email", END)  # the exact end instant: out
    event(l4, "view", "email", START - timedelta(microseconds=1))  # out
    event(l4, "checkout", "email", END)  # out

    _order(session, at(2, 12), 5000, l1, attributed_channel="email")
    _order(session, at(3, 10), 3001, l2)  # no channel attribute: direct
    _order(session, at(4, 10), 2500, l3, attributed_channel="sms")
    _order(session, START, 1000, l4, attributed_channel="postscript")  # exact start: in
    _order(session, END, 4444, l4, attributed_channel="email")  # exact end: out
    _order(session, at(4, 11), 9999, l1, attributed_channel="email", test=True)
    _order(session, at(4, 12), 8888, l1, attributed_channel="email", cancelled_at=at(4, 13))
    _order(session, at(4, 14), 7777, l1, attributed_channel="email", currency="EUR")
    _order(session, at(5, 10), 10000, None)  # not from a cart: in "all orders" only
    _order(session, at(5, 11), 6666, None, test=True)
    session.commit()
    return [l1, l2, l3, l4]


def test_every_figure_is_exact(session: Session) -> None:
    _store(session)
    if session.get_bind().dialect.name == "postgresql":
        # days are UTC days whatever the connection's time zone
        session.execute(text("SET TIME ZONE 'Pacific/Auckland'"))
    report = analytics_report(session, START, END, now=NOW)

    assert report.currency == "USD"
    assert report.granularity == "day"
    totals = report.totals
    assert (totals.views, totals.sessions, totals.checkouts, totals.checkout_sessions) == (
        8,
        6,
        3,
        2,
    )
    assert totals.checkout_rate == pytest.approx(2 / 6)
    assert (totals.attributed_orders, totals.attributed_revenue_cents) == (4, 11501)
    assert (totals.all_orders, totals.all_revenue_cents) == (5, 21501)
    assert totals.aov_cart_cents == 2875  # 11501 / 4 = 2875.25
    assert totals.aov_all_cents == 4300  # 21501 / 5 = 4300.2
    assert totals.revenue_per_session_cents == 1917  # 11501 / 6 = 1916.83
    assert not report.empty

    rows = {row.channel: row for row in report.channels}
    assert list(rows) == list(CHANNELS)
    figures = {
        name: (
            row.views,
            row.sessions,
            row.checkouts,
            row.checkout_sessions,
            row.attributed_orders,
            row.attributed_revenue_cents,
        )
        for name, row in rows.items()
    }
    assert figures == {
        "direct": (2, 2, 1, 1, 1, 3001),
        "email": (3, 2, 2, 1, 1, 5000),
        "sms": (2, 2, 0, 0, 1, 2500),
        "klaviyo": (0, 0, 0, 0, 0, 0),
        "postscript": (0, 0, 0, 0, 1, 1000),
        "attentive": (0, 0, 0, 0, 0, 0),
        "qr": (0, 0, 0, 0, 0, 0),
        "other": (1, 1, 0, 0, 0, 0),
    }
    assert rows["email"].checkout_rate == pytest.approx(0.5)
    assert rows["postscript"].checkout_rate is None

    series = [
        (
            p.bucket,
            p.views,
            p.sessions,
            p.checkouts,
            p.attributed_orders,
            p.attributed_revenue_cents,
        )
        for p in report.series
    ]
    assert series == [
        (date(2026, 3, 2), 4, 3, 1, 2, 6000),
        (date(2026, 3, 3), 1, 1, 1, 1, 3001),
        (date(2026, 3, 4), 2, 1, 0, 1, 2500),
        (date(2026, 3, 5), 0, 0, 1, 0, 0),
        (date(2026, 3, 6), 1, 1, 0, 0, 0),
        (date(2026, 3, 7), 0, 0, 0, 0, 0),
        (date(2026, 3, 8), 0, 0, 0, 0, 0),
    ]


def test_channel_filter_limits_every_cart_figure(session: Session) -> None:
    _store(session)
    report = analytics_report(session, START, END, channel="email", now=NOW)
    totals = report.totals
    assert (totals.views, totals.sessions, totals.checkouts, totals.checkout_sessions) == (
        3,
        2,
        2,
        1,
    )
    assert (totals.attributed_orders, totals.attributed_revenue_cents) == (1, 5000)
    assert (totals.all_orders, totals.all_revenue_cents) == (5, 21501)  # never filtered
    assert totals.revenue_per_session_cents == 2500
    assert [row.channel for row in report.channels] == ["email"]
    assert [(p.views, p.sessions, p.checkouts) for p in report.series[:4]] == [
        (2, 1, 1),
        (0, 0, 0),
        (1, 1, 0),
        (0, 0, 1),
    ]
    other = analytics_report(session, START, END, channel="other", now=NOW)
    assert (other.totals.views, other.totals.sessions, other.totals.attributed_orders) == (1, 1, 0)


def test_weekly_buckets_beyond_92_days_start_on_monday(session: Session) -> None:
    links = _store(session)
    # Sunday's last second is in the week of Mar 2, Monday's first in the week of Mar 9
    record_cart_event(
        session,
        cart_link_id=links[0],
        customer_id=1,
        kind="view",
        channel="sms",
        at=datetime(2026, 3, 8, 23, 59, 59, tzinfo=UTC),
    )
    record_cart_event(
        session, cart_link_id=links[0], customer_id=1, kind="view", channel="sms", at=END
    )
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TIME ZONE 'America/Los_Angeles'"))  # weeks are UTC weeks too
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC)  # 99 days
    report = analytics_report(session, start, end, now=NOW)

    assert report.granularity == "week"
    assert report.series[0].bucket == date(2025, 12, 29)  # the Monday of Jan 1's week
    assert report.series[-1].bucket == date(2026, 4, 6)
    assert all(p.bucket.weekday() == 0 for p in report.series)
    by_week = {p.bucket: p for p in report.series}
    week = by_week[date(2026, 3, 2)]
    # the whole hand-made week, its end boundary rows included now that the range is wider
    assert (week.views, week.sessions, week.checkouts) == (9, 7, 3)
    assert (week.attributed_orders, week.attributed_revenue_cents) == (4, 11501)
    following = by_week[date(2026, 3, 9)]
    assert (following.views, following.sessions, following.checkouts) == (2, 2, 1)
    assert (following.attributed_orders, following.attributed_revenue_cents) == (1, 4444)
    assert sum(p.views for p in report.series) == report.totals.views == 12
    assert sum(p.sessions for p in report.series) == report.totals.sessions == 10


def test_a_range_without_data_is_empty_not_an_error(session: Session) -> None:
    _store(session)
    start, end = day_range(date(2025, 6, 1), date(2025, 6, 30))
    report = analytics_report(session, start, end, now=NOW)
    assert report.empty
    assert report.totals.sessions == report.totals.views == report.totals.all_orders == 0
    assert report.totals.checkout_rate is None
    assert report.totals.aov_cart_cents is None
    assert report.totals.aov_all_cents is None
    assert report.totals.revenue_per_session_cents is None
    assert len(report.series) == 30
    assert all(p.views == p.attributed_orders == 0 for p in report.series)
    assert analytics_report(session, START, START, now=NOW).series == []  # start == end is allowed


def test_bad_ranges_and_channels_are_refused_with_a_message(session: Session) -> None:
    with pytest.raises(AnalyticsInputError, match="on or before"):
        analytics_report(session, END, START, now=NOW)
    with pytest.raises(AnalyticsInputError, match="at most 3 years"):
        analytics_report(session, START - timedelta(days=3 * 365 + 2), START, now=NOW)
    with pytest.raises(AnalyticsInputError, match="UTC"):
        analytics_report(session, START.replace(tzinfo=None), END, now=NOW)
    with pytest.raises(AnalyticsInputError, match="Unknown channel"):
        analytics_report(session, START, END, channel="fax", now=NOW)
    analytics_report(
        session, START - timedelta(days=3 * 365 + 1), START, now=NOW
    )  # the limit itself


def test_bucket_expression_is_the_same_utc_text_on_both_databases(session: Session) -> None:
    (link,) = _links(session, 1)
    last_instant = datetime(2026, 3, 8, 23, 59, 59, 999_999, tzinfo=UTC)  # a Sunday
    record_cart_event(
        session, cart_link_id=link, customer_id=1, kind="view", channel="sms", at=last_instant
    )
    session.commit()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
    column = col(CartEvent.occurred_at)
    day, week = session.execute(
        select(
            bucket_expression(column, "day", dialect), bucket_expression(column, "week", dialect)
        )
    ).one()
    assert (day, week) == ("2026-03-08", "2026-03-02")


def test_days_up_to_92_then_weeks(session: Session) -> None:
    _store(session)
    daily = analytics_report(session, START, START + timedelta(days=92), now=NOW)
    weekly = analytics_report(session, START, START + timedelta(days=92, microseconds=1), now=NOW)
    assert (daily.granularity, len(daily.series)) == ("day", 92)
    assert (weekly.granularity, len(weekly.series)) == ("week", 14)
    assert daily.totals == weekly.totals


def test_date_inputs_and_presets() -> None:
    assert parse_days("2026-03-02", " 2026-03-08 ") == (date(2026, 3, 2), date(2026, 3, 8))
    assert day_range(date(2026, 3, 2), date(2026, 3, 8)) == (START, END)
    with pytest.raises(AnalyticsInputError, match="start date is not a date"):
        parse_days("03/02/2026", "2026-03-08")
    with pytest.raises(AnalyticsInputError, match="end date is not a date"):
        parse_days("2026-03-02", "")
    with pytest.raises(AnalyticsInputError, match="on or before"):
        parse_days("2026-03-09", "2026-03-08")
    with pytest.raises(AnalyticsInputError, match="at most 3 years"):
        parse_days("2020-01-01", "2026-03-08")
    assert preset_days("7d", date(2026, 3, 8)) == (date(2026, 3, 2), date(2026, 3, 8))
    assert preset_days("12m", date(2026, 3, 8))[0] == date(2025, 3, 9)
    with pytest.raises(AnalyticsInputError):
        preset_days("forever", date(2026, 3, 8))


def _figures(report) -> tuple:  # noqa: ANN001
    return (report.totals, report.channels, report.series)


def _page_report(session: Session, start: datetime, end: datetime, channel: str | None = None):
    """What the page's use case does in its transaction: count the closed days, then read."""
    count_closed_days_of_range(session, start, end, NOW)
    return analytics_report(session, start, end, channel, now=NOW)


@pytest.mark.parametrize("channel", [None, "email"])
def test_closed_days_read_from_the_rollup_equal_the_live_count(
    session: Session, channel: str | None
) -> None:
    _store(session)
    # a range with partial first and last days, so both paths take part
    start, end = START + timedelta(hours=10), END + timedelta(hours=6)
    # seen from the range's first day, no day of it has closed: every event is counted live
    live = analytics_report(session, start, end, channel, now=START)
    # the report itself writes nothing: closed days it finds no rollup for are counted live
    assert _figures(analytics_report(session, start, end, channel, now=NOW)) == _figures(live)
    assert session.exec(select(CartEventDay)).first() is None

    first = _page_report(session, start, end, channel)  # counts and stores the closed days
    stored = session.scalars(select(CartEventDay.day).where(CartEventDay.channel == "")).all()
    assert sorted(stored) == [f"2026-03-0{day}" for day in range(3, 9)]  # whole days only
    again = analytics_report(session, start, end, channel, now=NOW)  # reads them
    # a closed day missing from the rollup (between stored ones) is counted live
    session.execute(delete(CartEventDay).where(col(CartEventDay.day) == "2026-03-05"))
    gap = analytics_report(session, start, end, channel, now=NOW)

    assert _figures(first) == _figures(live) == _figures(again) == _figures(gap)
    assert live.totals.views > 0


def test_a_closed_day_is_counted_once(session: Session) -> None:
    links = _store(session)
    before = _page_report(session, START, END).totals
    # an event written later into a closed day (carts never do this) is not counted again:
    # closed days are read from the rollup, not recounted
    record_cart_event(
        session, cart_link_id=links[0], customer_id=1, kind="view", channel="email", at=at(3, 5)
    )
    session.commit()
    assert _page_report(session, START, END).totals == before


def test_the_page_use_case_stores_the_closed_days_and_commits(app_database: str) -> None:
    with Session(get_engine(app_database), expire_on_commit=False) as session:
        _store(session)
    with pytest.raises(AnalyticsInputError):  # checked before anything is written
        analytics_for_range(END, START, now=NOW)
    report = analytics_for_range(START, END, now=NOW)
    with Session(get_engine(app_database)) as session:
        stored = session.scalars(select(CartEventDay.day).where(CartEventDay.channel == ""))
        assert sorted(stored) == [f"2026-03-0{day}" for day in range(2, 9)]
        assert _figures(analytics_report(session, START, END, now=NOW)) == _figures(report)


def test_the_nightly_count_stores_every_closed_day_but_today(session: Session) -> None:
    _store(session)
    now = END + timedelta(days=2, hours=5)
    count_closed_days(session, now)
    days = session.scalars(select(CartEventDay.day).where(CartEventDay.channel == "")).all()
    assert max(days) == (now.date() - timedelta(days=1)).isoformat()
    assert len(days) == (MAX_RANGE.days)
    march_3 = session.execute(
        select(CartEventDay.views, CartEventDay.sessions, CartEventDay.checkout_sessions).where(
            CartEventDay.day == "2026-03-03", CartEventDay.channel == ""
        )
    ).one()
    assert tuple(march_3) == (1, 1, 1)  # l2's direct view and checkout


def test_each_moment_counts_the_visits_and_orders_its_messages_brought(session: Session):
    session.add(Shop(shop_domain="figures.myshopify.com", currency="USD"))
    l1, l2, l3 = _links(session, 3)

    def event(link: int, kind: str, channel: str, moment: str | None, when: datetime) -> None:
        record_cart_event(
            session,
            cart_link_id=link,
            customer_id=1,
            kind=kind,  # type: ignore[arg-type]
            channel=channel,
            moment=moment,
            at=when,
        )

    event(l1, "view", "klaviyo", "due", at(2, 10))  # a due session with a checkout
    event(l1, "view", "klaviyo", "due", at(2, 11))
    event(l1, "checkout", "klaviyo", "due", at(2, 12))
    event(l2, "view", "postscript", "lapse", at(3, 9))  # a lapse session, no checkout
    event(l2, "view", "postscript", "lapse", at(4, 9))  # and another day's
    event(l3, "view", "email", None, at(3, 10))  # no Moment: in no Moment's row
    event(l3, "view", "klaviyo", "late", END)  # outside the range
    _order(session, at(2, 13), 4200, l1, attributed_channel="klaviyo", attributed_moment="due")
    _order(session, at(4, 10), 1800, l2, attributed_channel="postscript", attributed_moment="lapse")
    _order(session, at(4, 11), 999, l3, attributed_channel="email")  # no Moment
    _order(session, at(4, 12), 5000, None, attributed_moment="due")  # no cart: not attributed
    _order(session, at(4, 13), 700, l1, attributed_moment="due", test=True)  # a test order
    session.commit()

    report = analytics_report(session, START, END, now=NOW)
    rows = {row.kind: row for row in report.moments}
    assert list(rows) == ["due", "late", "lapse", "cross_sell", "subscription"]
    due, late, lapse = rows["due"], rows["late"], rows["lapse"]
    assert (due.label, due.views, due.sessions, due.checkouts, due.checkout_rate) == (
        "Due To Replenish",
        2,
        1,
        1,
        1.0,
    )
    assert (due.attributed_orders, due.attributed_revenue_cents) == (1, 4200)
    assert (lapse.views, lapse.sessions, lapse.checkouts, lapse.checkout_rate) == (2, 2, 0, 0.0)
    assert (lapse.attributed_orders, lapse.attributed_revenue_cents) == (1, 1800)
    assert (late.views, late.sessions, late.attributed_orders, late.checkout_rate) == (
        0,
        0,
        0,
        None,
    )

    # one channel: only that channel's Moment visits and orders
    sms = {
        row.kind: row
        for row in analytics_report(session, START, END, "postscript", now=NOW).moments
    }
    assert (sms["due"].views, sms["lapse"].views, sms["lapse"].attributed_orders) == (0, 2, 1)
