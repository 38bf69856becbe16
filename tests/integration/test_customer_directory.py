"""The Customers page's queries on SQLite and PostgreSQL: search, paging, sorting, status, the
detail panel and the cart link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session

from services.cart.links import find_active_link, get_or_create_link
from services.core.db import get_engine
from services.core.tables import CartLink, Customer, DueItem, Order, OrderLine, Product, Snooze
from services.customers.directory import (
    MAX_PAGE_SIZE,
    CustomerNotFound,
    customer_detail,
    customer_page,
    ensure_customer_link,
    load_customer_detail,
    load_customer_page,
    normalize_sort,
    renew_customer_link,
    rotate_customer_link,
    share_customer_link,
)
from services.customers.search import (
    find_customers,
    normalize_query,
    phone_digits,
    search_customers,
)
from services.demo import build_demo_store

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def add_customer(
    session: Session, first: str, last: str, email: str | None, phone: str | None = None
) -> int:
    customer = Customer(first_name=first, last_name=last, email=email, phone=phone, created_at=NOW)
    session.add(customer)
    session.flush()
    return customer.id  # type: ignore[return-value]


def add_product(session: Session, title: str) -> int:
    product = Product(shopify_gid=f"gid://shopify/Product/{title}", title=title, handle=title)
    session.add(product)
    session.flush()
    return product.id  # type: ignore[return-value]


def add_order(
    session: Session,
    customer_id: int,
    at: datetime,
    name: str,
    lines: tuple[tuple[str, int], ...] = (("Coffee", 1),),
    *,
    total: int = 1999,
    test: bool = False,
) -> int:
    order = Order(
        shopify_gid=f"gid://shopify/Order/{name}",
        name=name,
        customer_id=customer_id,
        processed_at=at,
        total_cents=total,
        currency="USD",
        test=test,
    )
    session.add(order)
    session.flush()
    for title, quantity in lines:
        session.add(OrderLine(order_id=order.id, title=title, quantity=quantity))  # type: ignore[arg-type]
    session.flush()
    return order.id  # type: ignore[return-value]


def add_due(session: Session, customer_id: int, product_id: int, due_at: datetime) -> None:
    """Remind three days before the due date, late ten days after it (as the engine would)."""
    session.add(
        DueItem(
            customer_id=customer_id,
            product_id=product_id,
            last_purchased_at=due_at - 30 * DAY,
            last_quantity=1,
            interval_days=30.0,
            interval_source="product",
            due_at=due_at,
            remind_at=due_at - 3 * DAY,
            late_at=due_at + 10 * DAY,
            computed_at=NOW,
        )
    )
    session.flush()


def ids(page) -> list[int]:  # noqa: ANN001
    return [row.id for row in page.rows]


@pytest.fixture
def people(session: Session) -> dict[str, int]:
    found = {
        "ava": add_customer(session, "Ava", "Delgado", "ava.due@example.com", "+14155550142"),
        "noah": add_customer(session, "Noah", "Fischer", "noah_f@example.com", "+12125550117"),
        "mia": add_customer(session, "Mia", "Delacroix", "mia@shop.test", None),
        "zed": add_customer(session, "", "", "zed@example.com", "+447911123456"),
    }
    session.commit()
    return found


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ava.due", {"ava"}),
        ("EXAMPLE.COM", {"ava", "noah", "zed"}),
        ("noah_f", {"noah"}),
        ("delgado", {"ava"}),
        ("DEL", {"ava", "mia"}),
        ("mia", {"mia"}),
        ("Ava Delgado", {"ava"}),
        ("  ava   delgado ", {"ava"}),
    ],
)
def test_search_by_email_fragment_and_name(
    session: Session, people: dict[str, int], query: str, expected: set[str]
) -> None:
    page = customer_page(session, query, "name", 1, 25, NOW)
    assert set(ids(page)) == {people[key] for key in expected}
    assert page.total == len(expected)


@pytest.mark.parametrize(
    "typed",
    ["(415) 555-0142", "415-555-0142", "415.555.0142", "+1 415 555 0142", "14155550142", "0142"],
)
def test_search_by_phone_in_any_layout(
    session: Session, people: dict[str, int], typed: str
) -> None:
    page = customer_page(session, typed, "name", 1, 25, NOW)
    assert ids(page) == [people["ava"]]


def test_phone_search_finds_international_numbers_and_ignores_words(
    session: Session, people: dict[str, int]
) -> None:
    assert ids(customer_page(session, "07911 123456", None, 1, 25, NOW)) == [people["zed"]]
    assert ids(customer_page(session, "+44 7911 123456", None, 1, 25, NOW)) == [people["zed"]]
    assert phone_digits("ava 415") is None
    assert phone_digits("41") is None


@pytest.mark.parametrize("query", ["%", "a_d", "\\", "' OR 1=1 --", "nobody@nowhere"])
def test_wildcards_and_quotes_are_searched_literally(
    session: Session, people: dict[str, int], query: str
) -> None:
    page = customer_page(session, query, "name", 1, 25, NOW)
    assert page.rows == []
    assert page.total == 0
    assert (page.first, page.last, page.pages) == (0, 0, 1)


def test_the_picker_finds_customers_the_way_the_page_does(
    session: Session, people: dict[str, int]
) -> None:
    """The Cart page's preview picker searches with the page's rules: phone digits too."""
    hits = search_customers(session, "(415) 555-0142")
    assert [(hit.customer_id, hit.name) for hit in hits] == [(people["ava"], "Ava Delgado")]
    by_name = [hit.customer_id for hit in search_customers(session, "example.com")]
    assert by_name == [people["ava"], people["noah"], people["zed"]]  # the nameless last
    assert search_customers(session, "zed")[0].name == "(no name)"
    assert search_customers(session, "example.com", limit=1)[0].customer_id == people["ava"]
    assert search_customers(session, "   ") == []


def test_an_over_long_query_is_cut_not_refused(session: Session, people: dict[str, int]) -> None:
    page = customer_page(session, "ava" + "x" * 5000, "name", 1, 25, NOW)
    assert page.total == 0
    assert len(normalize_query("ava" + "x" * 5000)) == 100
    assert customer_page(session, "   ", "name", 1, 25, NOW).total == 4


# --- paging and sorting -----------------------------------------------------------------------


def test_pages_count_and_clamp(session: Session) -> None:
    for index in range(30):
        add_customer(session, f"First{index:02d}", f"Last{index:02d}", f"c{index:02d}@example.com")
    session.commit()
    first = customer_page(session, "", "name", 1, 7, NOW)
    assert (first.total, first.pages, first.first, first.last) == (30, 5, 1, 7)
    last = customer_page(session, "", "name", 5, 7, NOW)
    assert (len(last.rows), last.first, last.last) == (2, 29, 30)
    seen = [
        row.id for p in range(1, 6) for row in customer_page(session, "", "name", p, 7, NOW).rows
    ]
    assert len(seen) == len(set(seen)) == 30
    assert customer_page(session, "", "name", 99, 7, NOW).page == 5
    assert customer_page(session, "", "name", -3, 7, NOW).page == 1
    assert customer_page(session, "", "name", 1, 0, NOW).page_size == 1
    assert customer_page(session, "", "name", 1, 10_000, NOW).page_size == MAX_PAGE_SIZE
    narrowed = customer_page(session, "last1", "name", 1, 7, NOW)
    assert (narrowed.total, narrowed.last) == (10, 7)


def test_sorts_by_name_next_due_and_last_order(session: Session, people: dict[str, int]) -> None:
    coffee = add_product(session, "coffee")
    add_due(session, people["noah"], coffee, NOW + 20 * DAY)
    add_due(session, people["mia"], coffee, NOW - 5 * DAY)
    add_order(session, people["ava"], NOW - 40 * DAY, "#1")
    add_order(session, people["zed"], NOW - 2 * DAY, "#2")
    add_order(session, people["noah"], NOW - 90 * DAY, "#3")
    add_order(session, people["noah"], NOW - 1 * DAY, "#4", test=True)  # test orders don't count
    session.commit()
    by_name = customer_page(session, "", "name", 1, 25, NOW)
    # by last name (Delacroix, Delgado, Fischer), the nameless last
    assert ids(by_name) == [people["mia"], people["ava"], people["noah"], people["zed"]]
    by_due = customer_page(session, "", "next_due", 1, 25, NOW)
    assert ids(by_due)[:2] == [people["mia"], people["noah"]]
    assert set(ids(by_due)[2:]) == {people["ava"], people["zed"]}
    by_order = customer_page(session, "", "last_order", 1, 25, NOW)
    assert ids(by_order)[:3] == [people["zed"], people["ava"], people["noah"]]
    rows = {row.id: row for row in by_order.rows}
    assert rows[people["noah"]].orders == 1
    assert rows[people["noah"]].last_order_at == NOW - 90 * DAY
    assert rows[people["mia"]].orders == 0 and rows[people["mia"]].last_order_at is None
    assert rows[people["mia"]].next_due_at == NOW - 5 * DAY
    assert rows[people["zed"]].name == "zed@example.com"
    assert normalize_sort("drop table") == "name"
    assert ids(customer_page(session, "", "drop table", 1, 25, NOW)) == ids(by_name)


# --- status -----------------------------------------------------------------------------------


def test_status_follows_the_cart_rule_and_snoozes(session: Session) -> None:
    coffee, tea = add_product(session, "coffee"), add_product(session, "tea")
    who = {
        key: add_customer(session, key.title(), "Status", f"{key}@status.test")
        for key in ("late", "due", "upcoming", "snoozed", "cart", "partly", "nothing", "expired")
    }
    add_due(session, who["late"], coffee, NOW - 11 * DAY)  # past late_at
    add_due(session, who["late"], tea, NOW + 40 * DAY)
    add_due(session, who["due"], coffee, NOW + 2 * DAY)  # within the 3 lead days
    add_due(session, who["upcoming"], coffee, NOW + 9 * DAY)
    add_due(session, who["upcoming"], tea, NOW + 30 * DAY)
    add_due(session, who["snoozed"], coffee, NOW - 1 * DAY)
    add_due(session, who["cart"], coffee, NOW - 20 * DAY)
    add_due(session, who["partly"], coffee, NOW - 1 * DAY)  # snoozed, but tea is late
    add_due(session, who["partly"], tea, NOW - 12 * DAY)
    add_due(session, who["expired"], coffee, NOW)
    session.add_all(
        [
            Snooze(customer_id=who["snoozed"], product_id=coffee, until=NOW + 14 * DAY),
            Snooze(customer_id=who["cart"], product_id=None, until=NOW + 7 * DAY),
            Snooze(customer_id=who["partly"], product_id=coffee, until=NOW + 7 * DAY),
            Snooze(customer_id=who["expired"], product_id=None, until=NOW - DAY),
        ]
    )
    session.commit()
    rows = {row.id: row for row in customer_page(session, "status.test", "name", 1, 25, NOW).rows}
    status = {key: rows[cid].status for key, cid in who.items()}
    assert {key: value.kind for key, value in status.items()} == {
        "late": "late",
        "due": "due",
        "upcoming": "upcoming",
        "snoozed": "snoozed",
        "cart": "snoozed",
        "partly": "late",
        "nothing": "nothing",
        "expired": "due",
    }
    assert status["upcoming"].at == NOW + 9 * DAY
    assert status["upcoming"].label == "Upcoming (Jun 10, 2026)"
    assert status["snoozed"].label == "Snoozed until Jun 15, 2026"
    assert status["cart"].at == NOW + 7 * DAY
    assert status["late"].label == "Late" and status["due"].label == "Due now"
    assert status["nothing"].label == "Nothing due"
    # the detail panel says the same
    assert customer_detail(session, who["snoozed"], NOW).status == status["snoozed"]
    assert customer_detail(session, who["partly"], NOW).status.kind == "late"


# --- one customer -----------------------------------------------------------------------------


def test_detail_shows_recent_orders_due_products_and_snoozes(
    session: Session, people: dict[str, int]
) -> None:
    coffee, tea = add_product(session, "House coffee"), add_product(session, "Earl Grey")
    ava = people["ava"]
    for index in range(12):
        add_order(
            session,
            ava,
            NOW - (100 - index) * DAY,
            f"#{1000 + index}",
            (("House coffee", 2), ("Earl Grey", 1)),
            total=123456,
        )
    add_due(session, ava, coffee, NOW - DAY)
    add_due(session, ava, tea, NOW + 30 * DAY)
    session.add(Snooze(customer_id=ava, product_id=tea, until=NOW + 14 * DAY))
    session.commit()
    detail = customer_detail(session, ava, NOW)
    assert (detail.name, detail.email, detail.phone) == (
        "Ava Delgado",
        "ava.due@example.com",
        "+1 415-555-0142",
    )
    assert detail.orders == 12
    assert [order.name for order in detail.recent_orders] == [f"#{1011 - i}" for i in range(10)]
    newest = detail.recent_orders[0]
    assert newest.total == "$1,234.56"
    assert newest.lines == ["House coffee × 2", "Earl Grey"]
    assert newest.processed_at == NOW - 89 * DAY
    assert [(d.title, d.status.kind) for d in detail.due_products] == [
        ("House coffee", "due"),
        ("Earl Grey", "snoozed"),
    ]
    assert detail.due_products[0].due_at == NOW - DAY
    assert detail.due_products[0].interval_source == "product"
    assert [(s.title, s.until) for s in detail.snoozes] == [("Earl Grey", NOW + 14 * DAY)]
    assert detail.link_url == "" and detail.link_preview_url == ""
    assert (
        session.exec(  # reading the panel made no link
            CartLink.__table__.select().where(CartLink.customer_id == ava)  # type: ignore[attr-defined]
        ).all()
        == []
    )


def test_unknown_customer_is_refused(session: Session) -> None:
    for call in (
        lambda: customer_detail(session, 987654, NOW),
        lambda: rotate_customer_link(session, 987654),
        lambda: ensure_customer_link(session, 987654),
    ):
        with pytest.raises(CustomerNotFound):
            call()


def test_copy_makes_a_link_once_and_rotate_revokes_the_old_one(
    session: Session, people: dict[str, int]
) -> None:
    mia = people["mia"]
    urls = ensure_customer_link(session, mia)
    again = ensure_customer_link(session, mia)
    session.commit()
    assert urls == again
    token = urls.url.rsplit("/cart/", 1)[1]
    assert urls.preview_url.endswith(f"/cart/{token}?preview=1")
    assert customer_detail(session, mia, NOW).link_url == urls.url
    new_url = rotate_customer_link(session, mia)
    session.commit()
    new_token = new_url.rsplit("/cart/", 1)[1]
    assert new_token != token
    assert find_active_link(session, token) is None
    assert find_active_link(session, new_token).customer_id == mia  # type: ignore[union-attr]
    assert customer_detail(session, mia, NOW).link_url == new_url
    assert get_or_create_link(session, mia).token == new_token


@pytest.mark.usefixtures("app_database")
def test_the_page_use_cases_each_commit_on_their_own(database_url: str) -> None:
    with Session(get_engine(database_url)) as session:
        ava = add_customer(session, "Ava", "Delgado", "ava@example.com")
        add_customer(session, "Noah", "Fischer", "noah@example.com")
        session.commit()
    shown = load_customer_page("example", "name", 5, 1)
    assert (shown.page, shown.pages, shown.total) == (2, 2, 2)  # past the end: the last page
    assert load_customer_detail(ava).link_url == ""
    urls = share_customer_link(ava)
    assert load_customer_detail(ava).link_url == urls.url
    renewed = renew_customer_link(ava)
    assert renewed.link_url not in ("", urls.url)
    assert load_customer_detail(ava).link_url == renewed.link_url
    with pytest.raises(CustomerNotFound):
        renew_customer_link(987654)
    assert [hit.customer_id for hit in find_customers("delgado")] == [ava]


# --- cost -------------------------------------------------------------------------------------


def test_a_page_costs_the_same_statements_whatever_its_size(
    session: Session, database_url: str
) -> None:
    build_demo_store(session, seed=5, customers=80, now=NOW)
    session.commit()
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        costs = {}
        for sort in ("name", "next_due", "last_order"):
            for size in (5, 60):
                statements.clear()
                page = customer_page(session, "", sort, 1, size, NOW)
                assert len(page.rows) == size
                costs[(sort, size)] = len(statements)
        statements.clear()
        customer_page(session, "example", "name", 1, 60, NOW)
        searched = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert costs[("name", 5)] == costs[("name", 60)] <= 6
    assert costs[("next_due", 5)] == costs[("next_due", 60)] <= 6
    assert costs[("last_order", 5)] == costs[("last_order", 60)] <= 6
    assert searched <= 6


def test_demo_customers_have_their_statuses(session: Session) -> None:
    summary = build_demo_store(session, seed=5, customers=20, now=NOW)
    session.commit()
    due = customer_page(session, summary.sample_emails["due"], None, 1, 25, NOW).rows
    fresh = customer_page(session, summary.sample_emails["not_due"], None, 1, 25, NOW).rows
    assert [row.status.kind for row in due] in (["due"], ["late"])
    assert [row.status.kind for row in fresh] == ["upcoming"]
    assert due[0].orders == 3
