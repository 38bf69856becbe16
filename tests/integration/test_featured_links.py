"""Featured product links: the cart they open, the CSV that lists them, how analytics count
them, and every link that cannot open a cart (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from sqlmodel import Session, col, select

from services.cart.event_queue import cart_events
from services.cart.featured import (
    FeaturedRequest,
    featured_url,
    load_featured_cart,
    open_featured_cart,
    parse_featured,
)
from services.cart.links import checkout_permalink
from services.cart.shopper import Visit, open_featured, record_action
from services.cli import main
from services.core.db import get_engine
from services.core.tables import CartEvent, Product, Shop, Variant, YmalItem
from services.demo import build_demo_store
from services.reporting.analytics.report import analytics_report

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture
def store(app_database: str) -> Session:
    with Session(get_engine(app_database), expire_on_commit=False) as session:
        build_demo_store(session, seed=5, customers=20, now=NOW)
        session.commit()
        yield session


def _variant(session: Session, *, status: str = "active", ymal: bool = False) -> Variant:
    listed = select(YmalItem.product_id)
    query = (
        select(Variant)
        .join(Product, col(Product.id) == col(Variant.product_id))
        .where(Product.status == status, col(Variant.available).is_(True))
        .where(col(Product.id).in_(listed) if ymal else col(Product.id).not_in(listed))
        .order_by(col(Variant.id))
    )
    return session.exec(query).first()  # type: ignore[return-value]


def test_a_featured_link_opens_its_product_selected_with_the_shop_s_banner_and_picks(store):
    variant = _variant(store)
    view = load_featured_cart(store, FeaturedRequest(variant.shopify_id, 1), NOW)
    assert view is not None
    assert (view.link_id, view.customer_id, view.first_name) == (0, 0, "")
    (item,) = view.composition.due
    assert (item.section, item.variant_id, item.quantity, item.selected) == (
        "featured",
        variant.id,
        1,
        True,
    )
    assert view.composition.previous == ()
    assert view.composition.ymal, "the demo shop has You Might Also Like picks"
    assert item.product_id not in {ymal.product_id for ymal in view.composition.ymal}
    assert view.shop.banner_text and view.shop.discount_code
    assert view.shopify_variant_ids[variant.id] == variant.shopify_id


def test_q_sets_the_quantity_and_a_picked_product_leaves_you_might_also_like(store):
    variant = _variant(store, ymal=True)
    view = open_featured_cart(str(variant.shopify_id), "3", now=NOW)
    assert view is not None
    assert view.composition.due[0].quantity == 3
    assert variant.product_id not in {item.product_id for item in view.composition.ymal}


def test_the_checkout_link_carries_the_discount_and_the_channel_but_no_cart(store):
    variant = _variant(store)
    view = open_featured_cart(str(variant.shopify_id), "2", now=NOW)
    assert view is not None
    shop = store.exec(select(Shop)).one()
    link = checkout_permalink(
        view.shop.checkout_host,
        [(view.shopify_variant_ids[variant.id], 2)],
        discount_code=view.shop.discount_code,
        channel="qr",
    )
    parts = urlsplit(link)
    assert (parts.netloc, parts.path) == (shop.shop_domain, f"/cart/{variant.shopify_id}:2")
    query = parse_qs(parts.query)
    assert query["discount"] == [shop.discount_code]
    assert query["attributes[_repeatcart_channel]"] == ["qr"]
    assert "attributes[_repeatcart_cart]" not in query


@pytest.mark.parametrize(
    ("v", "q"),
    [
        ("", None),
        (None, None),
        ("abc", None),
        ("12.5", None),
        ("-4", None),
        ("0", None),
        ("1" * 20, None),
        ("gid://shopify/ProductVariant/1", None),
        ("{variant}", "0"),
        ("{variant}", "100"),
        ("{variant}", "two"),
        ("{variant}", "-1"),
        ("{variant}", "1.5"),
    ],
)
def test_malformed_v_or_q_opens_no_cart(store, v, q):
    variant = _variant(store)
    v = v.format(variant=variant.shopify_id) if v else v
    assert open_featured_cart(v, q, now=NOW) is None


def test_unknown_archived_and_unavailable_variants_open_no_cart(store):
    assert open_featured_cart("987654321987", None, now=NOW) is None
    archived = _variant(store, status="archived")
    assert archived is not None
    assert open_featured_cart(str(archived.shopify_id), None, now=NOW) is None
    sold_out = _variant(store)
    sold_out.available = False
    store.add(sold_out)
    store.commit()
    assert open_featured_cart(str(sold_out.shopify_id), None, now=NOW) is None


def test_parse_featured_accepts_plain_ids_and_quantities():
    assert parse_featured(" 4412 ", None) == FeaturedRequest(4412, 1)
    assert parse_featured("4412", "99") == FeaturedRequest(4412, 99)
    assert parse_featured("4412", "") == FeaturedRequest(4412, 1)


def test_cli_lists_every_active_variant_with_its_link(store, capsys):
    assert main(["featured-links", "--channel", "QR"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    active = store.exec(
        select(Variant.shopify_id)
        .join(Product, col(Product.id) == col(Variant.product_id))
        .where(Product.status == "active", col(Variant.shopify_id) > 0)
    ).all()
    assert len(rows) == len(active) > 0
    assert list(rows[0]) == ["product", "variant", "sku", "url"]
    ids = sorted(int(parse_qs(urlsplit(row["url"]).query)["v"][0]) for row in rows)
    assert ids == sorted(active)
    first = rows[0]["url"]
    assert urlsplit(first).path == "/replenish"
    assert parse_qs(urlsplit(first).query)["ch"] == ["qr"]
    archived = _variant(store, status="archived")
    assert str(archived.shopify_id) not in {row["url"].split("v=")[1].split("&")[0] for row in rows}


def test_featured_url_without_a_channel():
    assert (
        featured_url("https://carts.example.com/", 42) == "https://carts.example.com/replenish?v=42"
    )


def _open_featured_carts(variant: Variant) -> None:
    views = [open_featured(str(variant.shopify_id), None, "qr", f"visit{n}", now=NOW) for n in "ab"]
    assert all(view is not None for view in views)
    record_action(Visit(0, 0, "qr", "USD", featured_visit="visita"), "checkout", value_cents=1200)
    open_featured(str(variant.shopify_id), None, "klaviyo", "visitc", now=NOW)
    open_featured("abc", None, "qr", "visitd", now=NOW)  # no cart, nothing counted
    cart_events.flush()


def test_featured_carts_are_counted_by_channel_apart_from_personal_carts(store):
    variant = _variant(store)
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=1)
    before = analytics_report(store, start, end, now=end)
    with time_machine.travel(NOW, tick=False):  # the events are stamped by the one clock
        _open_featured_carts(variant)
    store.expire_all()
    stored = store.exec(select(CartEvent).where(col(CartEvent.featured_visit).is_not(None))).all()
    assert len(stored) == 4
    assert all(e.cart_link_id is None and e.customer_id is None for e in stored)

    report = analytics_report(store, start, end, now=end)
    assert report.totals == before.totals  # personal carts' figures are untouched
    rows = {row.channel: row for row in report.featured}
    assert (rows["qr"].views, rows["qr"].sessions) == (2, 2)
    assert (rows["qr"].checkouts, rows["qr"].checkout_sessions) == (1, 1)
    assert rows["qr"].checkout_rate == 0.5
    assert (rows["klaviyo"].views, rows["klaviyo"].checkouts) == (1, 0)
    only = analytics_report(store, start, end, "klaviyo", now=end)
    assert [row.channel for row in only.featured] == ["klaviyo"]
