"""Snoozes ("Remind me later") on SQLite and PostgreSQL: what the cart page and dispatch read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from services.cart.snoozes import (
    active_snoozes,
    active_snoozes_for,
    clear_snooze,
    is_snoozed,
    snooze,
)
from services.core.tables import Customer, Product, Snooze

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture
def people(session: Session) -> tuple[int, int, int, int]:
    """Two customers and two products."""
    ava, ben = Customer(email="ava@example.com"), Customer(email="ben@example.com")
    soap = Product(shopify_gid="gid://shopify/Product/1", title="Soap", handle="soap")
    tea = Product(shopify_gid="gid://shopify/Product/2", title="Tea", handle="tea")
    session.add_all([ava, ben, soap, tea])
    session.commit()
    return ava.id, ben.id, soap.id, tea.id  # type: ignore[return-value]


def test_a_product_and_the_whole_cart_can_be_snoozed(session: Session, people) -> None:
    ava, _ben, soap, _tea = people
    row = snooze(session, ava, soap, 2, NOW)
    assert row.until == NOW + timedelta(weeks=2)
    snooze(session, ava, None, 1, NOW)
    session.commit()
    assert active_snoozes(session, ava, NOW) == {
        soap: NOW + timedelta(weeks=2),
        None: NOW + timedelta(weeks=1),
    }


@pytest.mark.parametrize("weeks", [0, 3, 5, -1, 52])
def test_only_one_two_or_four_weeks(session: Session, people, weeks: int) -> None:
    ava, _ben, soap, _tea = people
    with pytest.raises(ValueError, match="1, 2 or 4 weeks"):
        snooze(session, ava, soap, weeks, NOW)
    assert session.exec(select(Snooze)).all() == []


def test_a_new_snooze_replaces_the_old_one_of_the_same_target(session: Session, people) -> None:
    ava, _ben, soap, tea = people
    snooze(session, ava, soap, 4, NOW)
    snooze(session, ava, soap, 1, NOW + timedelta(days=1))
    snooze(session, ava, None, 4, NOW)
    snooze(session, ava, None, 2, NOW)
    snooze(session, ava, tea, 1, NOW)
    session.commit()
    rows = session.exec(select(Snooze).where(Snooze.customer_id == ava)).all()
    assert len(rows) == 3
    assert active_snoozes(session, ava, NOW) == {
        soap: NOW + timedelta(days=8),
        None: NOW + timedelta(weeks=2),
        tea: NOW + timedelta(weeks=1),
    }


def test_a_snooze_ends_on_its_own(session: Session, people) -> None:
    ava, _ben, soap, _tea = people
    snooze(session, ava, soap, 1, NOW)
    session.commit()
    assert active_snoozes(session, ava, NOW + timedelta(days=6)) == {soap: NOW + timedelta(weeks=1)}
    assert active_snoozes(session, ava, NOW + timedelta(weeks=1)) == {}


def test_clearing_ends_a_snooze_now(session: Session, people) -> None:
    ava, _ben, soap, tea = people
    snooze(session, ava, soap, 2, NOW)
    snooze(session, ava, None, 2, NOW)
    session.commit()
    later = NOW + timedelta(days=3)
    assert clear_snooze(session, ava, None, later) is True
    assert clear_snooze(session, ava, None, later) is False, "nothing left to end"
    assert clear_snooze(session, ava, tea, later) is False
    session.commit()
    assert active_snoozes(session, ava, later) == {soap: NOW + timedelta(weeks=2)}
    # kept as ended (not deleted), so the due scan notices the customer again
    [ended] = session.exec(select(Snooze).where(Snooze.product_id.is_(None))).all()  # type: ignore[union-attr]
    assert ended.until == later


def test_snoozes_are_per_customer_and_read_in_batches(session: Session, people) -> None:
    ava, ben, soap, tea = people
    snooze(session, ava, soap, 1, NOW)
    snooze(session, ben, None, 4, NOW)
    snooze(session, ben, tea, 1, NOW - timedelta(weeks=2))  # over
    session.commit()
    assert active_snoozes(session, ben, NOW) == {None: NOW + timedelta(weeks=4)}
    assert active_snoozes_for(session, [ava, ben, ava], NOW) == {
        ava: {soap: NOW + timedelta(weeks=1)},
        ben: {None: NOW + timedelta(weeks=4)},
    }
    assert is_snoozed(active_snoozes(session, ava, NOW), soap)
    assert not is_snoozed(active_snoozes(session, ava, NOW), tea)
    assert is_snoozed(active_snoozes(session, ben, NOW), tea), "the whole cart covers each product"
