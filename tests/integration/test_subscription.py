"""Primed For Subscription end to end: real orders, the recompute, the scan, delivery.

Coffee has two selling plans (monthly at 10% off, and every two weeks at 1.50 off each bag);
soap has none. A customer who bought coffee on three days 30 days apart (a steady cadence)
is offered the monthly plan once, on all three providers, for the order that completed the run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import time_machine
from sqlmodel import Session

from services.cli import main as cli_main
from services.core.config import get_settings
from services.core.tables import Customer, Product, SellingPlan, Variant
from services.dispatch import cycle_key
from services.reporting.insights import moment_outlook
from tests.integration.dispatch_world import PUBLIC, Store, World, place_order

PROVIDERS = ("klaviyo", "postscript", "attentive")
FIRST = datetime(2026, 7, 3, 15, tzinfo=UTC)
ORDERED = FIRST + timedelta(days=60)  # the third order, 30 days after the second
AT = ORDERED + timedelta(hours=2)
MONTHLY_GID = "gid://shopify/SellingPlan/6900000001"
_ids = count(140_000)

Item = tuple[Product, Variant]


class Catalog:
    def __init__(self, store: Store, session: Session) -> None:
        self.coffee = store.product("Coffee Beans", 1800)
        self.soap = store.product("Lavender Soap", 1250)
        plans = [
            SellingPlan(
                shopify_gid=MONTHLY_GID,
                product_id=self.coffee[0].id,
                group_name="Subscribe and save",
                name="Deliver every month, save 10%",
                interval_unit="MONTH",
                interval_count=1,
                interval_days=30.4375,
                adjustment_type="PERCENTAGE",
                adjustment_percent=10.0,
                position=0,
            ),
            SellingPlan(
                shopify_gid="gid://shopify/SellingPlan/6900000002",
                product_id=self.coffee[0].id,
                group_name="Subscribe and save",
                name="Every 2 weeks",
                interval_unit="WEEK",
                interval_count=2,
                interval_days=14.0,
                adjustment_type="FIXED_AMOUNT",
                adjustment_cents=150,
                position=1,
            ),
        ]
        session.add_all(plans)
        session.commit()


@pytest.fixture
def catalog(store: Store, session: Session) -> Catalog:
    return Catalog(store, session)


def _customer(store: Store, name: str) -> Customer:
    return store.customer(f"{name}@example.com", None, next(_ids))


def _run(session: Session, customer: Customer, item: Item, gaps: list[int], **kw) -> None:
    """Orders of one product: the first at FIRST, each next one `gap` days later."""
    at = FIRST
    place_order(session, customer, [item], at, **kw)
    for gap in gaps:
        at += timedelta(days=gap)
        place_order(session, customer, [item], at)


def _offers(world: World, name: str) -> list[dict]:
    return world.moment_events(name, "Repeat - Primed For Subscription", "PrimedForSubscription")


def test_the_offer_is_sent_once_per_order_to_every_provider(
    world: World, store: Store, session: Session, catalog: Catalog
) -> None:
    ava = _customer(store, "ava")
    place_order(session, ava, [catalog.coffee], FIRST)
    place_order(session, ava, [catalog.coffee], FIRST + timedelta(days=30))
    world.sweep(FIRST + timedelta(days=30, hours=2))
    assert world.outbox(kind="subscription") == [], "two orders are no cadence yet"

    place_order(session, ava, [catalog.coffee], ORDERED)
    summary = world.sweep(AT)
    assert all(summary.of(name).queued >= 1 for name in PROVIDERS)
    rows = world.outbox(kind="subscription")
    assert sorted(row.integration for row in rows) == sorted(PROVIDERS)
    assert {row.idempotency_key for row in rows} == {cycle_key("subscription", ava.id, ORDERED)}
    world.deliver(AT)
    klaviyo, postscript, attentive = (_offers(world, name) for name in PROVIDERS)
    assert len(klaviyo) == len(postscript) == len(attentive) == 1
    assert postscript[0]["type"] == "PrimedForSubscription"
    assert attentive[0]["type"] == "Repeat - Primed For Subscription"
    coffee, variant = catalog.coffee
    offered = {
        "product": {
            "id": coffee.shopify_id,
            "title": "Coffee Beans",
            "price": "18.00",
            "handle": "coffee-beans",
            "images": [],
            "variant": {"id": variant.shopify_id, "title": "Default Title"},
        }
    }
    plan = {
        "id": MONTHLY_GID,
        "id_numeric": 6900000001,
        "name": "Deliver every month, save 10%",
        "interval": {"unit": "MONTH", "count": 1, "days": 30.44},
        "discount": {"type": "PERCENTAGE", "percentage": 10.0},
    }
    for name, [body] in zip(PROVIDERS, (klaviyo, postscript, attentive), strict=True):
        properties = body["properties"]
        assert properties["subscriptionProduct"] == offered
        assert properties["reorderableProducts"] == [offered]
        assert properties["cadenceDays"] == 30.0
        assert properties["sellingPlan"] == plan
        url = properties["Repeat Cart URL"]
        assert url.startswith(f"{PUBLIC}/cart/")
        assert url.endswith(f"?ch={name}&m=subscription&pick={coffee.id}")

    again = world.sweep(AT + timedelta(days=2))
    assert all(again.of(name).queued == 0 for name in PROVIDERS)
    world.deliver(AT + timedelta(days=2))
    assert all(len(_offers(world, name)) == 1 for name in PROVIDERS)

    # a fourth order 30 days on keeps the cadence: a new cycle, a new offer
    fourth = ORDERED + timedelta(days=30)
    place_order(session, ava, [catalog.coffee], fourth)
    world.sweep(fourth + timedelta(hours=1))
    rows = world.outbox(kind="subscription")
    assert len(rows) == 6
    assert {r.idempotency_key for r in rows[3:]} == {cycle_key("subscription", ava.id, fourth)}


def test_never_sent_after_a_new_order_or_a_subscription(
    world: World, store: Store, session: Session, catalog: Catalog
) -> None:
    ben, cy = _customer(store, "ben"), _customer(store, "cy")
    _run(session, ben, catalog.coffee, [30, 30])
    _run(session, cy, catalog.coffee, [30, 30])
    world.sweep(AT)
    assert len(world.outbox(kind="subscription")) == 6
    # Ben orders soap before delivery; an older order of Cy's, bought with the monthly plan,
    # arrives late (it does not move her last purchase, but she is subscribed)
    place_order(session, ben, [catalog.soap], AT - timedelta(minutes=30))
    place_order(session, cy, [catalog.coffee], FIRST + timedelta(days=45), plan=MONTHLY_GID)
    summary = world.deliver(AT)
    assert all(summary.of(name).skipped["reordered"] == 1 for name in PROVIDERS)
    assert all(summary.of(name).skipped["subscribed already"] == 1 for name in PROVIDERS)
    assert all(_offers(world, name) == [] for name in PROVIDERS)


def test_no_offer_when_subscribed_irregular_planless_late_or_not_the_last_order(
    world: World, store: Store, session: Session, catalog: Catalog
) -> None:
    dee, eve, fay, gus, hal = (_customer(store, n) for n in ("dee", "eve", "fay", "gus", "hal"))
    _run(session, dee, catalog.coffee, [30, 30], plan=MONTHLY_GID)  # subscribed already
    _run(session, eve, catalog.coffee, [15, 45])  # gaps 15, 45: CV 0.5
    _run(session, fay, catalog.soap, [30, 30])  # steady, but soap has no plan
    _run(session, gus, catalog.coffee, [28, 32])  # CV 0.067: primed ...
    place_order(session, gus, [catalog.soap], ORDERED + timedelta(minutes=5))  # ... then soap alone
    _run(session, hal, catalog.coffee, [24, 36])  # CV 0.2: primed
    leo = _customer(store, "leo")
    _run(session, leo, catalog.coffee, [30, 20])  # ... but 10 days ago: outside the lookback
    world.sweep(AT)
    rows = world.outbox(kind="subscription")
    assert {row.customer_id for row in rows} == {hal.id}
    assert len(rows) == 3
    assert rows[0].payload["event"]["subscription"]["cadence_days"] == 30.0
    world.sweep(AT, due_lookback_days=14)  # a longer lookback reaches Leo's order
    rows = world.outbox(kind="subscription")
    assert {row.customer_id for row in rows} == {hal.id, leo.id}
    assert [r.payload["event"]["subscription"]["cadence_days"] for r in rows[3:]] == [25.0] * 3


def test_the_outlook_counts_who_is_primed(
    world: World, store: Store, session: Session, catalog: Catalog
) -> None:
    ivy, jo = _customer(store, "ivy"), _customer(store, "jo")
    _run(session, ivy, catalog.coffee, [30, 30])
    # two orders 40 days apart, due again in 10 days: primed if she reorders then (gaps 40, 30)
    _run(session, jo, catalog.coffee, [40])
    counts = {m.kind: m for m in moment_outlook(session, AT)}
    assert counts["subscription"].label == "Primed For Subscription"
    assert counts["subscription"].today == 1
    assert counts["subscription"].upcoming == 2


def test_dry_run_shows_the_subscription_payloads(
    world: World,
    store: Store,
    session: Session,
    catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    kim = _customer(store, "kim")
    _run(session, kim, catalog.coffee, [30, 30])
    for key, value in world.settings().environment().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the command sets up JSON logging
    try:
        with time_machine.travel(AT):
            assert cli_main(["dispatch", "--dry-run"]) == 0
        out = capsys.readouterr().out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        get_settings.cache_clear()
    key = cycle_key("subscription", kim.id, ORDERED)
    assert f"would send postscript subscription {key}" in out
    assert '"type": "PrimedForSubscription"' in out
    assert '"name": "Repeat - Primed For Subscription"' in out
    assert '"type": "Repeat - Primed For Subscription"' in out
    assert '"subscriptionProduct"' in out and '"cadenceDays": 30.0' in out
    assert f'"id": "{MONTHLY_GID}"' in out
    assert world.outbox() == [] and all(world.fakes[n].requests == [] for n in PROVIDERS)
