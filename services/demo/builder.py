"""Builds the demo store in the database: shop, catalog, customers, orders, carts and an admin.

`build_demo_store` writes what `data` describes and `history` draws, then lets the engine learn
intervals and due dates from it, as it would for a real store. It is deterministic (same seed and
`now`, same store); only the admin's password is random: the seed is public, so a password
derived from it would be known to anyone.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, inspect, update
from sqlmodel import Session, SQLModel, col, select

from services.auth.admins import create_admin
from services.cart.links import (
    CART_ATTRIBUTE,
    CHANNEL_ATTRIBUTE,
    MOMENT_ATTRIBUTE,
    get_or_create_link,
    new_token,
)
from services.core.config import DEMO_SHOP_DOMAIN
from services.core.tables import (
    CartEvent,
    CartLink,
    Customer,
    DueItem,
    Order,
    OrderLine,
    Product,
    Shop,
    Variant,
    YmalItem,
)
from services.demo.data import (
    AREA_CODES,
    CATALOG,
    DEMO_SHOP_NAME,
    FIRST_NAMES,
    LAST_NAMES,
    SAMPLE_CUSTOMERS,
    SAMPLE_KEYS,
    YMAL_HANDLES,
)
from services.demo.history import BuiltProduct, BuiltVariant, Draft, draw_orders
from services.demo.pictures import product_image_path
from services.demo.subscriptions import insert_selling_plans, subscribe_some_buyers
from services.engine.recompute import recompute_all
from services.messaging import PROVIDER_NAMES

_CANCELLED_SHARE = 0.03
_REFUNDED_SHARE = 0.02
_TEST_ORDERS = 5


class DemoRefused(RuntimeError):
    """The database holds a real store; building the demo would delete it."""


@dataclass(frozen=True, slots=True)
class DemoSummary:
    shop_domain: str
    products: int
    variants: int
    customers: int
    orders: int
    due_customers: int
    sample_emails: dict[str, str]
    sample_tokens: dict[str, str]
    admin_email: str = ""
    admin_password: str = ""  # only known here, right after it was set; stored hashed


# The store's tables, children first, so foreign keys never block a delete.
_TABLES_CHILDREN_FIRST = (
    "cart_event_day",
    "cart_event",
    "cart_link",
    "due_item",
    "interval_stat",
    "order_line",
    "orders",
    "ymal_item",
    "variant",
    "product",
    "customer",
    "shop",
)


def build_demo_store(
    session: Session,
    *,
    seed: int = 7,
    customers: int = 1000,
    now: datetime,
    force: bool = False,
) -> DemoSummary:
    """Replace the database's store with a generated demo store and return what was built.

    `customers` counts everyone, the three sample customers included. Refuses (`DemoRefused`)
    when the database holds a store that is not the demo shop, unless `force`. Every row of
    the store's tables is deleted first and the session's identity map is cleared. The caller
    commits (e.g. inside `services.core.db.session_scope`).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if customers < len(SAMPLE_CUSTOMERS):
        raise ValueError(f"customers must be at least {len(SAMPLE_CUSTOMERS)}")
    if not force:
        _refuse_real_store(session)
    session.flush()
    _wipe(session)
    session.expunge_all()

    rng = random.Random(seed)
    session.add(_demo_shop(now))
    session.flush()
    products = _insert_catalog(session, rng, now)
    by_handle = {p.spec.handle: p for p in products}
    drafts = draw_orders(rng, products, SAMPLE_CUSTOMERS, customers, now)

    first_order: dict[int, datetime] = {}
    for draft in drafts:
        first_order.setdefault(draft.customer, draft.at)
    customer_ids = _insert_customers(session, rng, customers, first_order, now)
    order_count = _insert_orders(session, rng, drafts, customer_ids, products)
    plans = insert_selling_plans(session, rng, products)
    subscribe_some_buyers(session, rng, plans, set(customer_ids[: len(SAMPLE_CUSTOMERS)]))
    session.execute(
        insert(YmalItem),
        [
            {"product_id": by_handle[handle].id, "position": position}
            for position, handle in enumerate(YMAL_HANDLES)
        ],
    )
    session.flush()

    recompute_all(session, now)
    session.execute(
        insert(CartLink),
        [
            {"customer_id": cid, "token": new_token(), "created_at": now, "revoked_at": None}
            for cid in customer_ids
        ],
    )
    _insert_cart_activity(session, seed, customer_ids, first_order, now)
    sample_tokens = {
        sample.key: get_or_create_link(session, customer_ids[index]).token
        for index, sample in enumerate(SAMPLE_CUSTOMERS)
    }
    due_customers = session.exec(
        select(func.count(func.distinct(DueItem.customer_id))).where(DueItem.remind_at <= now)
    ).one()
    admin_email = f"admin@{DEMO_SHOP_DOMAIN}"
    # Random, not from the seed: the seed is public, and a demo may be reachable by others.
    admin_password = secrets.token_urlsafe(12)
    create_admin(session, admin_email, admin_password, now)
    session.flush()
    return DemoSummary(
        shop_domain=DEMO_SHOP_DOMAIN,
        products=len(products),
        variants=sum(len(p.variants) for p in products),
        customers=customers,
        orders=order_count,
        due_customers=int(due_customers),
        sample_emails={sample.key: sample.email for sample in SAMPLE_CUSTOMERS},
        sample_tokens=sample_tokens,
        admin_email=admin_email,
        admin_password=admin_password,
    )


def _demo_shop(now: datetime) -> Shop:
    return Shop(
        shop_domain=DEMO_SHOP_DOMAIN,
        name=DEMO_SHOP_NAME,
        currency="USD",
        banner_text="10% off your reorder — applied at checkout",
        discount_code="REORDER10",
        lead_days=3,
        default_interval_days=30.0,
        min_reorder_customers=5,
        store_url=f"https://{DEMO_SHOP_DOMAIN}",
        updated_at=now,
    )


def sample_tokens(session: Session) -> dict[str, str]:
    """Cart tokens of the sample customers of an existing demo store (none for a real store)."""
    emails = {sample.email: sample.key for sample in SAMPLE_CUSTOMERS}
    found = session.exec(
        select(col(Customer.id), col(Customer.email)).where(col(Customer.email).in_(emails))
    )
    tokens = {
        emails[email]: get_or_create_link(session, customer_id).token
        for customer_id, email in found
        if customer_id is not None and email is not None
    }
    return {key: tokens[key] for key in SAMPLE_KEYS if key in tokens}


def _refuse_real_store(session: Session) -> None:
    domains = session.exec(select(Shop.shop_domain)).all()
    others = sorted({domain for domain in domains if domain != DEMO_SHOP_DOMAIN})
    if others:
        raise DemoRefused(
            f"the database holds the shop {', '.join(others)}; building the demo store would "
            "delete it. Use an empty database, or force to replace it."
        )
    if not domains:
        for model in (Order, Customer, Product):
            if session.exec(select(func.count()).select_from(model)).one():
                raise DemoRefused(
                    "the database holds orders, customers or products but no shop; building "
                    "the demo store would delete them. Use an empty database, or force."
                )


def _wipe(session: Session) -> None:
    """Delete every row of the store's tables, and of any other table pointing at them."""
    ours = [SQLModel.metadata.tables[name] for name in _TABLES_CHILDREN_FIRST]
    doomed = {table.name for table in ours}
    dependants: list[Table] = []
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name not in doomed and any(
            fk.column.table.name in doomed for fk in table.foreign_keys
        ):
            dependants.append(table)
    for table in dependants:
        session.execute(delete(table))
    session.execute(update(Product).values(replacement_product_id=None))
    for table in ours:
        session.execute(delete(table))


def _price_cents(base: float, jitter: float, ending: int) -> int:
    whole = math.floor(base * jitter)
    cents = whole * 100 + ending if ending else round(base * jitter) * 100
    return max(800, min(7900, cents))


def _insert_rows(session: Session, model: type[SQLModel], rows: Sequence[dict]) -> list[int]:
    """Bulk insert, returning the new ids in the order of `rows` (SQLite >= 3.35, PostgreSQL)."""
    if not rows:
        return []
    key = inspect(model).primary_key[0]
    statement = insert(model).returning(key, sort_by_parameter_order=True)
    return list(session.scalars(statement, list(rows)))


def _insert_catalog(session: Session, rng: random.Random, now: datetime) -> list[BuiltProduct]:
    product_gid = rng.randrange(7_100_000_000_000, 7_400_000_000_000)
    variant_gid = rng.randrange(41_000_000_000_000, 44_000_000_000_000)
    product_rows: list[dict[str, Any]] = []
    variant_plans: list[list[dict[str, Any]]] = []
    cadences: list[float] = []
    for index, spec in enumerate(CATALOG):
        product_gid += rng.randrange(1_000, 900_000)
        jitter = rng.uniform(0.9, 1.12)
        ending = rng.choice((0, 0, 50, 95, 99))
        cadences.append(round(rng.uniform(*spec.cadence), 1))
        status = "archived" if spec.archived_days_ago is not None else "active"
        product_rows.append(
            {
                "shopify_gid": f"gid://shopify/Product/{product_gid}",
                "shopify_id": product_gid,
                "title": spec.title,
                "handle": spec.handle,
                "status": status,
                "image_url": product_image_path(spec.handle),
                "interval_override_days": None,
                "replacement_product_id": None,
                "updated_at": now - timedelta(days=spec.archived_days_ago or rng.randint(3, 200)),
            }
        )
        plans: list[dict[str, Any]] = []
        for position, variant in enumerate(spec.variants):
            variant_gid += rng.randrange(1_000, 9_000_000)
            plans.append(
                {
                    "shopify_gid": f"gid://shopify/ProductVariant/{variant_gid}",
                    "shopify_id": variant_gid,
                    "title": variant.title,
                    "sku": f"EP-{spec.code}-{index + 1:03d}-{position + 1}",
                    "price_cents": _price_cents(variant.price, jitter, ending),
                    "available": variant.available,
                    "image_url": None,
                    "position": position,
                }
            )
        variant_plans.append(plans)
    product_ids = _insert_rows(session, Product, product_rows)

    variant_rows = [
        {**row, "product_id": product_id}
        for product_id, plans in zip(product_ids, variant_plans, strict=True)
        for row in plans
    ]
    variant_ids = iter(_insert_rows(session, Variant, variant_rows))
    built = []
    for index, (spec, product_id, plans) in enumerate(
        zip(CATALOG, product_ids, variant_plans, strict=True)
    ):
        variants = [
            BuiltVariant(next(variant_ids), row["title"], row["sku"], row["price_cents"], v.factor)
            for row, v in zip(plans, spec.variants, strict=True)
        ]
        sold_until = (
            now - timedelta(days=spec.archived_days_ago) if spec.archived_days_ago else None
        )
        built.append(BuiltProduct(product_id, index, spec, cadences[index], variants, sold_until))
    by_handle = {p.spec.handle: p for p in built}
    for product in built:
        if product.spec.replaced_by:
            session.execute(
                update(Product)
                .where(col(Product.id) == product.id)
                .values(replacement_product_id=by_handle[product.spec.replaced_by].id)
            )
    return built


def _insert_customers(
    session: Session,
    rng: random.Random,
    count: int,
    first_order: dict[int, datetime],
    now: datetime,
) -> list[int]:
    gid = rng.randrange(6_100_000_000_000, 6_900_000_000_000)
    rows = []
    for index in range(count):
        gid += rng.randrange(10_000, 5_000_000)
        created = first_order.get(index, now) - timedelta(minutes=rng.randint(1, 30))
        if index < len(SAMPLE_CUSTOMERS):
            sample = SAMPLE_CUSTOMERS[index]
            first_name, last_name, email, phone = (
                sample.first_name,
                sample.last_name,
                sample.email,
                sample.phone,
            )
        else:
            first_name = rng.choice(FIRST_NAMES)
            last_name = rng.choice(LAST_NAMES)
            email = f"{first_name.lower()}.{last_name.lower()}{index + 1}@example.com"
            phone = None
            if rng.random() < 0.6:
                phone = f"+1{rng.choice(AREA_CODES)}55501{rng.randrange(100):02d}"
        rows.append(
            {
                "shopify_gid": f"gid://shopify/Customer/{gid}",
                "email": email,
                "phone": phone,
                "first_name": first_name,
                "last_name": last_name,
                "created_at": created,
            }
        )
    return _insert_rows(session, Customer, rows)


def _insert_orders(
    session: Session,
    rng: random.Random,
    drafts: list[Draft],
    customer_ids: list[int],
    products: list[BuiltProduct],
) -> int:
    """Orders in time order (#1001 first), then their lines; returns how many orders."""
    random_orders = [i for i, draft in enumerate(drafts) if not draft.sample]
    tests = set(rng.sample(random_orders, min(_TEST_ORDERS, len(random_orders))))
    gid = rng.randrange(5_100_000_000_000, 5_300_000_000_000)
    order_rows = []
    for number, draft in enumerate(drafts):
        gid += rng.randrange(100_000, 9_000_000)
        total = sum(
            products[p].variants[v].price_cents * quantity for p, v, quantity in draft.lines
        )
        cancelled_at = None
        status = "paid"
        updated = draft.at + timedelta(minutes=rng.randint(1, 90))
        roll = rng.random()
        if not draft.sample and roll < _CANCELLED_SHARE:
            cancelled_at = draft.at + timedelta(hours=rng.uniform(1, 48))
            status, updated = "voided", cancelled_at
        elif not draft.sample and roll < _CANCELLED_SHARE + _REFUNDED_SHARE:
            status = "refunded"
            updated = draft.at + timedelta(days=rng.uniform(3, 20))
        order_rows.append(
            {
                "shopify_gid": f"gid://shopify/Order/{gid}",
                "name": f"#{1001 + number}",
                "customer_id": customer_ids[draft.customer],
                "processed_at": draft.at,
                "updated_at": updated,
                "cancelled_at": cancelled_at,
                "financial_status": status,
                "test": number in tests,
                "total_cents": total,
                "currency": "USD",
                "source": "demo",
                "custom_attributes": {},
                "attributed_cart_id": None,
                "attributed_channel": None,
            }
        )
    order_ids = _insert_rows(session, Order, order_rows)
    line_rows = []
    for order_id, draft in zip(order_ids, drafts, strict=True):
        for p, v, quantity in draft.lines:
            product = products[p]
            variant = product.variants[v]
            title = product.spec.title
            if len(product.variants) > 1:
                title = f"{title} - {variant.title}"
            line_rows.append(
                {
                    "order_id": order_id,
                    "product_id": product.id,
                    "variant_id": variant.id,
                    "quantity": quantity,
                    "unit_price_cents": variant.price_cents,
                    "title": title,
                    "sku": variant.sku,
                }
            )
    for start in range(0, len(line_rows), 5000):
        session.execute(insert(OrderLine), line_rows[start : start + 5000])
    return len(order_rows)


# the channels cart links arrive through, as reminder messages tag them (`?ch=`), with weights
_PROVIDER_SHARES = (0.45, 0.25, 0.15)  # of cart visits, per provider in registry order
_CART_CHANNELS = (*zip(PROVIDER_NAMES, _PROVIDER_SHARES, strict=True), ("direct", 0.15))
_CART_DAYS = 365  # RepeatCart "installed" a year before `now`
_CART_ORDER_SHARE = 0.35  # repeat orders placed through the cart
_BROWSE_SESSIONS = 1.6  # visits without an order, per cart order
_ABANDONED_CHECKOUT_SHARE = 0.15  # of those visits, ones that reached checkout and stopped
# which Moment's message a provider's visit came from (a direct visit comes from none)
_MOMENT_SHARES = {"due": 0.57, "late": 0.24, "lapse": 0.14, "subscription": 0.05}


def _insert_cart_activity(
    session: Session,
    seed: int,
    customer_ids: list[int],
    first_order: dict[int, datetime],
    now: datetime,
) -> None:
    """A year of shoppers using their carts, so the dashboard's analytics have figures.

    A share of each customer's repeat orders in the last year came through the cart: a visit
    from a reminder channel a little before, a checkout, and the order carrying the cart
    attributes (as a real checkout's would). Other visits end without an order. Its own random
    stream, so the rest of the demo is the same with or without it.
    """
    rng = random.Random(seed * 7919 + 1)
    moment_rng = random.Random(seed * 7919 + 2)  # its own stream: the visits stay the same
    since = now - timedelta(days=_CART_DAYS)
    links = {
        customer: link
        for customer, link in session.exec(select(col(CartLink.customer_id), col(CartLink.id)))
        if link is not None
    }
    first_at = {customer_ids[index]: at for index, at in first_order.items()}
    channels = [name for name, _ in _CART_CHANNELS]
    weights = [weight for _, weight in _CART_CHANNELS]
    orders = session.exec(
        select(Order.id, Order.customer_id, Order.processed_at, Order.total_cents).where(
            Order.processed_at >= since,
            col(Order.test).is_(False),
            col(Order.cancelled_at).is_(None),
        )
    ).all()
    events: list[dict[str, Any]] = []
    attributed: list[dict[str, Any]] = []

    def moment_of(channel: str) -> str | None:
        if channel == "direct":
            return None
        return moment_rng.choices(list(_MOMENT_SHARES), list(_MOMENT_SHARES.values()))[0]

    def visit(link: int, customer: int, at: datetime, channel: str, moment: str | None) -> None:
        events.append(_cart_event(link, customer, "view", at, channel, moment))
        later = at + timedelta(seconds=40)
        events.append(_cart_event(link, customer, "add", later, channel, moment))

    for order_id, customer, at, total in orders:
        link = links.get(customer) if customer is not None else None
        if (
            customer is None
            or link is None
            or at <= first_at.get(customer, at)
            or rng.random() >= _CART_ORDER_SHARE
        ):
            continue
        channel = rng.choices(channels, weights)[0]
        moment = moment_of(channel)
        opened = at - timedelta(minutes=rng.uniform(3, 90))
        visit(link, customer, opened, channel, moment)
        left = at - timedelta(minutes=2)
        checkout = _cart_event(link, customer, "checkout", left, channel, moment)
        events.append({**checkout, "value_cents": total, "currency": "USD"})
        attributes = {CART_ATTRIBUTE: str(link), CHANNEL_ATTRIBUTE: channel}
        if moment:
            attributes[MOMENT_ATTRIBUTE] = moment
        attributed.append(
            {
                "order_id": order_id,
                "cart": link,
                "channel": channel,
                "moment": moment,
                "attributes": attributes,
            }
        )
    customers_with_links = sorted(links)
    for _ in range(int(len(attributed) * _BROWSE_SESSIONS)):
        customer = rng.choice(customers_with_links)
        at = since + timedelta(seconds=rng.uniform(0, _CART_DAYS * 86400))
        channel = rng.choices(channels, weights)[0]
        moment = moment_of(channel)
        if rng.random() < _ABANDONED_CHECKOUT_SHARE:
            visit(links[customer], customer, at, channel, moment)
            left = at + timedelta(minutes=2)
            events.append(_cart_event(links[customer], customer, "checkout", left, channel, moment))
        else:
            events.append(_cart_event(links[customer], customer, "view", at, channel, moment))
    for start in range(0, len(events), 5000):
        session.execute(insert(CartEvent), events[start : start + 5000])
    if attributed:
        # on the connection: one executemany of a plain UPDATE, not the ORM's bulk update
        session.connection().execute(
            update(Order)
            .where(col(Order.id) == bindparam("order_id"))
            .values(
                attributed_cart_id=bindparam("cart"),
                attributed_channel=bindparam("channel"),
                attributed_moment=bindparam("moment"),
                custom_attributes=bindparam("attributes"),
            ),
            attributed,
        )


def _cart_event(
    link: int, customer: int, kind: str, at: datetime, channel: str, moment: str | None
) -> dict[str, Any]:
    return {
        "cart_link_id": link,
        "customer_id": customer,
        "kind": kind,
        "variant_id": None,
        "quantity": None,
        "value_cents": None,
        "currency": None,
        "channel": channel,
        "moment": moment,
        "occurred_at": at,
    }
