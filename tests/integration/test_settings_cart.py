"""Cart settings: validation (all or nothing), the YMAL picker, preview links and re-dating."""

from __future__ import annotations

import time
import typing
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import Session, select

from services.cart.links import PREVIEW_PARAM, active_link_for, checkout_permalink
from services.cart.page import load_cart
from services.core.db import get_engine
from services.core.tables import Customer, DueItem, Product, Shop, Variant, YmalItem
from services.customers.search import search_customers
from services.demo import build_demo_store
from services.settings.cart import (
    ACCENT_COLORS,
    YMAL_MAX,
    add_to_ymal,
    add_ymal,
    current_ymal,
    load_cart_page,
    load_cart_settings,
    move_in_ymal,
    move_ymal,
    preview_customer_cart,
    preview_link,
    recompute_due_dates,
    remove_from_ymal,
    remove_ymal,
    save_cart_settings,
    search_catalog,
    search_ymal,
    update_cart_settings,
)
from services.settings.effective import effective_settings

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)

GOOD = {
    "banner_text": "Free shipping over $40",
    "discount_code": "SPRING-10",
    "lead_days": "5",
    "default_interval_days": "45",
    "min_reorder_customers": "3",
    "hide_unavailable": "on",
    "accent_color": "violet",
    "logo_url": "https://cdn.example.com/logo.png",
    "lapse_factor": "2.5",
}


@pytest.fixture
def demo(session: Session):
    summary = build_demo_store(session, seed=5, customers=60, now=NOW)
    session.commit()
    return summary


def shop(session: Session) -> Shop:
    session.expire_all()
    return session.exec(select(Shop)).one()


def test_good_settings_are_saved_and_read_back(session, demo):
    result = save_cart_settings(session, GOOD)
    session.commit()
    assert result.saved and not result.errors and result.timing_changed
    settings = load_cart_settings(session)
    assert settings.banner_text == "Free shipping over $40"
    assert settings.discount_code == "SPRING-10"
    assert (settings.lead_days, settings.default_interval_days) == (5, 45.0)
    assert settings.min_reorder_customers == 3
    assert settings.hide_unavailable is True
    assert settings.accent_color == "violet"
    assert settings.logo_url == "https://cdn.example.com/logo.png"
    assert settings.lapse_factor == 2.5
    assert effective_settings(session).lapse_factor == 2.5  # what the due scan reads
    # an unticked checkbox is simply absent from the form
    assert save_cart_settings(session, {"hide_unavailable": None}).saved
    assert shop(session).hide_unavailable is False


def test_saved_banner_discount_and_colour_show_on_the_next_cart_load(session, demo):
    token = demo.sample_tokens["due"]
    save_cart_settings(session, {**GOOD, "banner_text": "<b>Hi</b>"})
    session.commit()
    view = load_cart(session, token, NOW)
    assert view is not None
    assert view.shop.banner_text == "<b>Hi</b>"  # kept as text; the page never renders markup
    assert view.shop.discount_code == "SPRING-10"
    assert view.shop.accent_color == "violet"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("discount_code", "SPRING 10", "spaces"),
        ("discount_code", "SPRING\u00a010", "spaces"),
        ("discount_code", "SAVE\x00", "control"),
        ("discount_code", "SA\u200bVE", "invisible"),
        ("discount_code", "X" * 256, "255"),
        ("banner_text", "line one\nline two", "one line"),
        ("banner_text", "x" * 201, "200"),
        ("lead_days", "-1", "0 to 60"),
        ("lead_days", "61", "0 to 60"),
        ("lead_days", "2.5", "whole number"),
        ("lead_days", "", "whole number"),
        ("default_interval_days", "0", "1 to 365"),
        ("default_interval_days", "-30", "1 to 365"),
        ("default_interval_days", "100000", "1 to 365"),
        ("default_interval_days", "nan", "1 to 365"),
        ("default_interval_days", "inf", "1 to 365"),
        ("default_interval_days", "thirty", "number"),
        ("min_reorder_customers", "0", "1 to 1,000"),
        ("min_reorder_customers", "-5", "1 to 1,000"),
        ("min_reorder_customers", "1e9", "whole number"),
        ("lapse_factor", "0.5", "The lapse factor must be a number from 1 to 10."),
        ("lapse_factor", "0", "1 to 10"),
        ("lapse_factor", "11", "1 to 10"),
        ("lapse_factor", "twice", "must be a number"),
        ("lapse_factor", "", "must be a number"),
        ("lapse_factor", "nan", "1 to 10"),
        ("accent_color", "#ff0000", "colours"),
        ("accent_color", "red; background:url(x)", "colours"),
        ("logo_url", "javascript:alert(1)", "https://"),
        ("logo_url", "data:image/png;base64,AAAA", "https://"),
        ("logo_url", "ftp://cdn.example.com/logo.png", "https://"),
        ("logo_url", "//cdn.example.com/logo.png", "https://"),
        ("logo_url", "https://", "https://"),
        ("logo_url", "https://cdn.example.com/my logo.png", "https://"),
    ],
)
def test_bad_input_gets_a_message_and_nothing_is_saved(session, demo, field, value, message):
    before = load_cart_settings(session)
    result = save_cart_settings(session, {**GOOD, field: value})
    session.commit()
    assert not result.saved
    assert set(result.errors) == {field}
    assert message in result.errors[field]
    assert load_cart_settings(session) == before  # not even the good fields were saved


def test_every_bad_field_is_reported_at_once(session, demo):
    result = save_cart_settings(
        session, {"lead_days": "-3", "min_reorder_customers": "0", "logo_url": "javascript:x"}
    )
    assert set(result.errors) == {"lead_days", "min_reorder_customers", "logo_url"}


def test_unicode_discount_code_is_kept_and_encoded_in_the_checkout_link(session, demo):
    result = save_cart_settings(session, {"discount_code": "  ÉTÉ-10%&x=1  "})
    session.commit()
    assert result.saved
    code = shop(session).discount_code
    assert code == "ÉTÉ-10%&x=1"  # surrounding spaces from a paste are trimmed
    url = checkout_permalink("s.myshopify.com", [(1, 2)], discount_code=code, cart_id=7)
    assert "discount=%C3%89T%C3%89-10%25%26x%3D1&" in url
    assert parse_qs(urlsplit(url).query)["discount"] == ["ÉTÉ-10%&x=1"]


def test_accent_names_are_the_ones_radix_themes_accepts():
    from reflex_components_radix.themes.base import LiteralAccentColor

    assert set(ACCENT_COLORS) == set(typing.get_args(LiteralAccentColor))


def test_timing_changed_only_when_a_timing_value_changes(session, demo):
    current = load_cart_settings(session)
    same = save_cart_settings(
        session,
        {
            "lead_days": str(current.lead_days),
            "default_interval_days": str(current.default_interval_days),
            "banner_text": "new",
        },
    )
    assert same.saved and not same.timing_changed
    changed = save_cart_settings(session, {"lead_days": str(current.lead_days + 1)})
    assert changed.saved and changed.timing_changed


def test_catalog_search_by_title_handle_and_sku_sold_only_limited(session, demo):
    product = session.exec(select(Product).where(Product.status == "active")).first()
    sku = session.exec(select(Variant.sku).where(Variant.product_id == product.id)).first()
    assert [hit.product_id for hit in search_catalog(session, product.title.upper())][:1] == [
        product.id
    ]
    assert product.id in {hit.product_id for hit in search_catalog(session, product.handle)}
    if sku:
        assert product.id in {hit.product_id for hit in search_catalog(session, sku.lower())}
    unsold = session.exec(select(Product).where(Product.status != "active")).first()
    assert unsold is not None
    assert unsold.id not in {hit.product_id for hit in search_catalog(session, unsold.title)}
    for index in range(30):
        session.add(
            Product(shopify_gid=f"gid://shopify/Product/9{index:03d}", title=f"Zeta {index}",
                    handle=f"zeta-{index}")
        )  # fmt: skip
    session.flush()
    assert len(search_catalog(session, "zeta")) == 20
    assert search_catalog(session, "%") == []  # LIKE wildcards are matched literally
    assert search_catalog(session, "_") == []


def test_ymal_add_remove_reorder(session, demo):
    session.exec(select(YmalItem))
    for item in session.exec(select(YmalItem)).all():
        session.delete(item)
    session.flush()
    products = session.exec(
        select(Product).where(Product.status == "active").order_by(Product.id)
    ).all()
    first, second, third = products[:3]
    assert add_ymal(session, first.id) is None
    assert add_ymal(session, second.id) is None
    assert add_ymal(session, third.id) is None
    assert "already" in (add_ymal(session, first.id) or "")
    unsold = session.exec(select(Product).where(Product.status != "active")).first()
    assert "not for sale" in (add_ymal(session, unsold.id) or "")
    assert "not for sale" in (add_ymal(session, 999_999) or "")
    move_ymal(session, third.id, -1)
    assert [hit.product_id for hit in current_ymal(session)] == [first.id, third.id, second.id]
    move_ymal(session, first.id, -1)  # already first: stays
    remove_ymal(session, third.id)
    assert [hit.product_id for hit in current_ymal(session)] == [first.id, second.id]
    positions = session.exec(select(YmalItem.position).order_by(YmalItem.position)).all()
    assert positions == [0, 1]
    assert {hit.product_id for hit in search_catalog(session, first.title) if hit.in_ymal} == {
        first.id
    }
    for product in products[3 : 3 + YMAL_MAX]:
        add_ymal(session, product.id)
    assert len(current_ymal(session)) == YMAL_MAX
    session.commit()
    token = demo.sample_tokens["not_due"]
    view = load_cart(session, token, NOW)
    shown = [item.product_id for item in view.composition.ymal]
    listed = [hit.product_id for hit in current_ymal(session)]
    assert shown == [pid for pid in listed if pid in shown]  # the cart follows the list's order
    assert shown


def test_customer_search_and_preview_link(session, demo):
    email = demo.sample_emails["due"]
    hits = search_customers(session, email.upper())
    assert [hit.email for hit in hits] == [email]
    customer = session.get(Customer, hits[0].customer_id)
    full = f"{customer.first_name} {customer.last_name}"
    assert customer.id in {hit.customer_id for hit in search_customers(session, full)}
    assert len(search_customers(session, "@")) == 10
    assert search_customers(session, "   ") == []
    assert search_customers(session, "%") == []

    linkless = Customer(email="new@example.com", first_name="Nia")
    session.add(linkless)
    session.flush()
    assert active_link_for(session, linkless.id) is None
    url = preview_link(session, linkless.id, "https://carts.example.com/")
    link = active_link_for(session, linkless.id)
    assert link is not None
    assert url == f"https://carts.example.com/cart/{link.token}?{PREVIEW_PARAM}=1"
    assert preview_link(session, 999_999, "https://carts.example.com") is None


def test_the_page_use_cases_each_commit_on_their_own(app_database):
    """What the Cart page calls: each opens, commits and hands back plain data."""
    with Session(get_engine(app_database), expire_on_commit=False) as session:
        build_demo_store(session, seed=5, customers=20, now=NOW)
        for item in session.exec(select(YmalItem)).all():
            session.delete(item)
        session.commit()
        first, second = session.exec(
            select(Product).where(Product.status == "active").order_by(Product.id).limit(2)
        ).all()
        customer_id = session.exec(select(Customer.id)).first()
    refused = update_cart_settings({"lead_days": "-1", "banner_text": "Hello"})
    assert set(refused.errors) == {"lead_days"} and refused.stored is None
    saved = update_cart_settings({"discount_code": "  SAVE5 ", "banner_text": "Hello"})
    assert saved.stored is not None and saved.stored.discount_code == "SAVE5"
    assert load_cart_page().settings.banner_text == "Hello"

    picker = add_to_ymal(first.id, first.title)
    assert [hit.product_id for hit in picker.listed] == [first.id] and picker.message == ""
    assert first.id in {hit.product_id for hit in picker.hits if hit.in_ymal}
    assert "already" in add_to_ymal(first.id, "").message
    add_to_ymal(second.id, "")
    moved = move_in_ymal(second.id, -1, "")
    assert [hit.product_id for hit in moved.listed] == [second.id, first.id]
    assert load_cart_page().ymal == moved.listed
    assert [hit.product_id for hit in remove_from_ymal(second.id, "").listed] == [first.id]
    assert search_ymal(first.title).listed == load_cart_page().ymal

    url = preview_customer_cart(customer_id)
    assert url is not None and url.endswith(f"?{PREVIEW_PARAM}=1")
    assert preview_customer_cart(999_999) is None


@pytest.mark.parametrize("customers", [200, 2000], ids=["demo-200", "store-2000"])
def test_new_timing_re_dates_every_due_row(app_database, customers, capsys):
    with Session(get_engine(app_database), expire_on_commit=False) as session:
        build_demo_store(session, seed=3, customers=customers, now=NOW)
        session.commit()
        before = {
            (row.customer_id, row.product_id): (row.interval_source, row.remind_at)
            for row in session.exec(select(DueItem))
        }
        assert "product" in {source for source, _ in before.values()}
        result = save_cart_settings(session, {"lead_days": "10", "min_reorder_customers": "1000"})
        session.commit()
        assert result.timing_changed
    started = time.perf_counter()
    outcome = recompute_due_dates()
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nrecompute {customers} customers: {outcome.due_rows} rows, {elapsed:.2f}s")
    assert outcome.ran and outcome.due_rows == len(before)
    with Session(get_engine(app_database)) as session:
        rows = session.exec(select(DueItem)).all()
    assert rows
    for row in rows:
        assert (row.due_at - row.remind_at).days <= 10
    # no product has 1,000 reordering customers: none keeps its product-wide interval
    assert "product" not in {row.interval_source for row in rows}
    moved = [row for row in rows if before[(row.customer_id, row.product_id)][1] != row.remind_at]
    assert moved
