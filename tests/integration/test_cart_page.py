"""From stored orders to a composed cart: recompute writes due rows, load_cart reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from services.cart.links import get_or_create_link, rotate_link
from services.cart.page import load_cart
from services.cart.snoozes import clear_snooze, snooze
from services.core.tables import (
    Customer,
    DueItem,
    IntervalStat,
    Order,
    OrderLine,
    Product,
    Shop,
    Variant,
    YmalItem,
)
from services.engine.recompute import recompute_all, recompute_customers

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class Store:
    """A tiny store written straight into the tables."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.orders = 0
        session.add(
            Shop(
                shop_domain="tiny.myshopify.com",
                name="Tiny",
                discount_code="SAVE",
                min_reorder_customers=2,
            )
        )
        session.flush()

    def product(
        self, title: str, price: int | None = 1000, available: bool = True, status: str = "active"
    ) -> tuple[Product, Variant]:
        n = self.session.exec(select(Product)).all().__len__() + 1
        product = Product(
            shopify_gid=f"gid://shopify/Product/{n}",
            shopify_id=n,
            title=title,
            handle=title.lower().replace(" ", "-"),
            status=status,
        )
        self.session.add(product)
        self.session.flush()
        variant = Variant(
            shopify_gid=f"gid://shopify/ProductVariant/{n}00",
            shopify_id=n * 100,
            product_id=product.id,
            price_cents=price,
            available=available,
        )
        self.session.add(variant)
        self.session.flush()
        return product, variant

    def customer(self, email: str) -> Customer:
        customer = Customer(email=email, first_name=email.split("@")[0].title())
        self.session.add(customer)
        self.session.flush()
        return customer

    def order(
        self, customer: Customer, days_ago: float, lines: list[tuple[Variant, int]], **fields
    ) -> Order:
        self.orders += 1
        order = Order(
            shopify_gid=f"gid://shopify/Order/{self.orders}",
            name=f"#{1000 + self.orders}",
            customer_id=customer.id,
            processed_at=NOW - timedelta(days=days_ago),
            financial_status=fields.pop("financial_status", "paid"),
            **fields,
        )
        self.session.add(order)
        self.session.flush()
        for variant, quantity in lines:
            self.session.add(
                OrderLine(
                    order_id=order.id,
                    product_id=variant.product_id,
                    variant_id=variant.id,
                    quantity=quantity,
                    unit_price_cents=variant.price_cents,
                )
            )
        self.session.flush()
        return order


def _build(session: Session):
    store = Store(session)
    coffee, coffee_v = store.product("Coffee")
    tea, tea_v = store.product("Tea")
    soap, soap_v = store.product("Soap", available=False)
    candle, candle_v = store.product("Candle")
    # three regulars teach the store a 30-day coffee interval
    for i in range(3):
        regular = store.customer(f"regular{i}@example.com")
        for days in (120, 90, 60, 30):
            store.order(regular, days + i, [(coffee_v, 1)])
    ava = store.customer("ava@example.com")
    store.order(ava, 100, [(coffee_v, 1), (tea_v, 1), (soap_v, 2)])
    store.order(ava, 70, [(coffee_v, 1)])
    store.order(ava, 2, [(tea_v, 1)])
    store.order(ava, 1, [(candle_v, 5)], cancelled_at=NOW)  # cancelled: never counts
    session.add(YmalItem(product_id=candle.id, position=0))
    session.add(YmalItem(product_id=coffee.id, position=1))
    session.commit()
    return store, ava, dict(coffee=coffee, tea=tea, soap=soap, candle=candle)


def test_recompute_learns_intervals_and_writes_due_rows(session: Session):
    _, ava, products = _build(session)
    summary = recompute_all(session, NOW)
    session.commit()
    stat = session.get(IntervalStat, products["coffee"].id)
    assert stat is not None and stat.n == 4 and 29 <= stat.median <= 31
    rows = {
        r.product_id: r for r in session.exec(select(DueItem).where(DueItem.customer_id == ava.id))
    }
    assert set(rows) == {products["coffee"].id, products["tea"].id, products["soap"].id}
    assert products["candle"].id not in rows  # only bought in a cancelled order
    assert rows[products["coffee"].id].interval_source == "product"
    assert rows[products["coffee"].id].due_at == NOW - timedelta(days=70) + timedelta(
        days=stat.median
    )
    assert summary.customers == 4


def test_cart_sections_follow_due_rows(session: Session):
    _, ava, products = _build(session)
    recompute_all(session, NOW)
    link = get_or_create_link(session, ava.id)
    session.commit()
    cart = load_cart(session, link.token, NOW)
    assert cart is not None
    due = {item.title: item for item in cart.composition.due}
    assert set(due) == {"Coffee", "Soap"}
    assert due["Coffee"].selected and not due["Soap"].selected and not due["Soap"].available
    assert [item.title for item in cart.composition.previous] == ["Tea"]
    assert [item.title for item in cart.composition.ymal] == ["Candle"]  # coffee already shown
    assert cart.shop.discount_code == "SAVE"
    coffee_variant = due["Coffee"].variant_id
    assert cart.shopify_variant_ids[coffee_variant] == products["coffee"].shopify_id * 100


def test_a_reorder_moves_the_product_out_of_due(session: Session):
    store, ava, products = _build(session)
    recompute_all(session, NOW)
    coffee_v = session.exec(
        select(Variant).where(Variant.product_id == products["coffee"].id)
    ).one()
    store.order(ava, 0.5, [(coffee_v, 1)])
    recompute_customers(session, [ava.id], NOW)
    link = get_or_create_link(session, ava.id)
    session.commit()
    cart = load_cart(session, link.token, NOW)
    assert [item.title for item in cart.composition.due] == ["Soap"]


def test_unknown_and_rotated_tokens_load_nothing(session: Session):
    _, ava, _ = _build(session)
    recompute_all(session, NOW)
    old = get_or_create_link(session, ava.id)
    assert get_or_create_link(session, ava.id).id == old.id
    new = rotate_link(session, ava.id)
    session.commit()
    assert load_cart(session, old.token, NOW) is None
    assert load_cart(session, "Z" * 32, NOW) is None
    assert load_cart(session, "bad token", NOW) is None
    assert load_cart(session, new.token, NOW) is not None


def test_customer_without_orders_gets_only_ymal(session: Session):
    store, _, _ = _build(session)
    lonely = store.customer("lonely@example.com")
    recompute_all(session, NOW)
    link = get_or_create_link(session, lonely.id)
    session.commit()
    cart = load_cart(session, link.token, NOW)
    assert cart.composition.due == () and cart.composition.previous == ()
    assert [item.title for item in cart.composition.ymal] == ["Candle", "Coffee"]


def test_a_variant_without_a_shopify_id_is_never_selected(session: Session):
    """Products known only from an order export cannot go into a checkout permalink."""
    store, ava, products = _build(session)
    coffee_variant = session.exec(
        select(Variant).where(Variant.product_id == products["coffee"].id)
    ).one()
    coffee_variant.shopify_id = 0
    session.add(coffee_variant)
    recompute_all(session, NOW)
    link = get_or_create_link(session, ava.id)
    session.commit()
    cart = load_cart(session, link.token, NOW)
    coffee = next(item for item in cart.composition.due if item.title == "Coffee")
    assert not coffee.available and not coffee.selected


def test_snoozed_products_are_reported_and_not_preselected(session: Session):
    _, ava, products = _build(session)
    recompute_all(session, NOW)
    link = get_or_create_link(session, ava.id)
    snooze(session, ava.id, products["coffee"].id, 2, NOW - timedelta(days=1))
    session.commit()
    cart = load_cart(session, link.token, NOW)
    assert cart.snoozed_until == {products["coffee"].id: NOW + timedelta(days=13)}
    assert cart.cart_snoozed_until is None
    coffee = next(item for item in cart.composition.due if item.title == "Coffee")
    assert coffee.available and not coffee.selected  # still shown, one tap to add


def test_whole_cart_snooze_is_reported_and_keeps_the_selection(session: Session):
    _, ava, _ = _build(session)
    recompute_all(session, NOW)
    link = get_or_create_link(session, ava.id)
    snooze(session, ava.id, None, 4, NOW)
    session.commit()
    cart = load_cart(session, link.token, NOW)
    assert cart.cart_snoozed_until == NOW + timedelta(weeks=4)
    assert cart.snoozed_until == {}
    coffee = next(item for item in cart.composition.due if item.title == "Coffee")
    assert coffee.selected


def test_expired_and_cleared_snoozes_are_ignored(session: Session):
    _, ava, products = _build(session)
    recompute_all(session, NOW)
    link = get_or_create_link(session, ava.id)
    snooze(session, ava.id, products["coffee"].id, 1, NOW - timedelta(weeks=1))  # ends at NOW
    snooze(session, ava.id, None, 2, NOW - timedelta(weeks=3))
    snooze(session, ava.id, products["tea"].id, 1, NOW)
    clear_snooze(session, ava.id, products["tea"].id, NOW)
    session.commit()
    cart = load_cart(session, link.token, NOW)
    assert cart.snoozed_until == {} and cart.cart_snoozed_until is None
    assert next(item for item in cart.composition.due if item.title == "Coffee").selected


def test_another_customers_snooze_does_not_leak(session: Session):
    store, ava, products = _build(session)
    other = store.customer("other@example.com")
    recompute_all(session, NOW)
    link = get_or_create_link(session, ava.id)
    snooze(session, other.id, products["coffee"].id, 4, NOW)
    snooze(session, other.id, None, 4, NOW)
    session.commit()
    cart = load_cart(session, link.token, NOW)
    assert cart.snoozed_until == {} and cart.cart_snoozed_until is None
