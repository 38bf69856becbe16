"""Primed For Cross-sell end to end: real orders, the learned pairs, pins, the scan, delivery.

The store: 110 customers with one order each. 20 bought soap and a towel, 6 soap and lotion,
4 soap and a candle, 60 a candle alone and 20 lotion and a candle. Over 110 customers, buyers
of soap (30) take a towel (20 buyers) at lift 20 × 110 / (30 × 20) ≈ 3.67; soap and candle
(4 customers) is under the default minimum support of 5, and soap and lotion has a lift
under 1, so soap's one partner is the towel.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import time_machine
from sqlmodel import Session, select

from services.cart.page import load_cart
from services.cli import main as cli_main
from services.core.config import get_settings
from services.core.tables import CrossSellPair, Customer, Product, Variant
from services.dispatch import cycle_key
from services.engine.cross_sell_learning import learn_cross_sell_pairs
from services.engine.recompute import recompute_all
from services.products.cross_sell import cross_sell_panel, pin_pair
from services.products.intervals import ProductAdminError
from services.settings.effective import save_settings
from tests.integration.dispatch_world import PUBLIC, Store, World, place_order

PROVIDERS = ("klaviyo", "postscript", "attentive")
HISTORY = datetime(2026, 6, 1, 9, tzinfo=UTC)  # the store's older orders
ORDERED = datetime(2026, 9, 1, 15, tzinfo=UTC)  # the order that primes the offer
PRIMED = ORDERED + timedelta(days=7)
_ids = count(120_000)

Item = tuple[Product, Variant]


def _customer(store: Store, name: str) -> Customer:
    return store.customer(f"{name}@example.com", None, next(_ids))


class Catalog:
    def __init__(self, store: Store) -> None:
        self.soap = store.product("Lavender Soap", 1250)
        self.towel = store.product("Linen Towel", 3200)
        self.lotion = store.product("Hand Lotion", 1800)
        self.candle = store.product("Cedar Candle", 2600)


def _history(store: Store, session: Session, catalog: Catalog, *, orders: int = 110) -> None:
    """The store's orders (see the module docstring), cut to `orders` when fewer."""
    groups = (
        (20, [catalog.soap, catalog.towel]),
        (6, [catalog.soap, catalog.lotion]),
        (4, [catalog.soap, catalog.candle]),
        (60, [catalog.candle]),
        (20, [catalog.lotion, catalog.candle]),
    )
    made = 0
    for size, items in groups:
        for _ in range(size):
            if made == orders:
                return
            customer = _customer(store, f"h{next(_ids)}")
            place_order(session, customer, items, HISTORY, recompute=False)
            made += 1


@pytest.fixture
def catalog(store: Store) -> Catalog:
    return Catalog(store)


@pytest.fixture
def learned(store: Store, session: Session, catalog: Catalog) -> Catalog:
    _history(store, session, catalog)
    recompute_all(session, HISTORY + timedelta(days=1))  # the nightly run
    session.commit()
    return catalog


def _pairs(session: Session) -> dict[tuple[int, int], CrossSellPair]:
    session.expire_all()
    return {(p.product_id, p.paired_product_id): p for p in session.exec(select(CrossSellPair))}


def _offers(world: World, name: str) -> list[dict]:
    return world.moment_events(name, "Repeat - Primed For Cross-sell", "PrimedForCrossSell")


# --- the pairs ---------------------------------------------------------------------------------


def test_pairs_are_learned_by_lift_above_the_minimum_support(
    session: Session, learned: Catalog
) -> None:
    soap, towel = learned.soap[0].id, learned.towel[0].id
    lotion, candle = learned.lotion[0].id, learned.candle[0].id
    pairs = _pairs(session)
    pair = pairs[(soap, towel)]
    assert pair.rank == 1 and pair.support == 20
    assert pair.lift == pytest.approx(20 * 110 / (30 * 20))
    assert pairs[(towel, soap)].lift == pytest.approx(pair.lift)
    assert (soap, candle) not in pairs, "4 customers: under the minimum support of 5"
    assert (soap, lotion) not in pairs, "lift 6 × 110 / (30 × 26) is under 1"
    assert [key for key in pairs if key[0] == soap] == [(soap, towel)]
    assert pairs[(lotion, candle)].lift == pytest.approx(20 * 110 / (26 * 84))
    panel = cross_sell_panel(session)
    assert not panel.too_little_support and panel.orders == 110
    assert panel.learned_pairs == len(pairs)
    assert panel.learned[0].product_title in ("Lavender Soap", "Linen Towel")

    save_settings(session, {"cross_sell_min_support": "21"})
    session.commit()
    learn_cross_sell_pairs(session, HISTORY)
    session.commit()
    assert (soap, towel) not in _pairs(session), "20 customers: under a minimum support of 21"


def test_a_store_with_fewer_than_100_orders_learns_no_pairs(
    store: Store, session: Session, catalog: Catalog
) -> None:
    _history(store, session, catalog, orders=99)
    summary = learn_cross_sell_pairs(session, HISTORY)
    session.commit()
    assert summary.too_few_orders and summary.orders == 99 and summary.pairs == 0
    assert _pairs(session) == {}
    panel = cross_sell_panel(session)
    assert panel.too_little_support and panel.orders == 99 and panel.learned == []
    # a cancelled order is not support either
    place_order(session, _customer(store, "late"), [catalog.candle], HISTORY, cancelled=True)
    assert learn_cross_sell_pairs(session, HISTORY).too_few_orders
    place_order(session, _customer(store, "hundredth"), [catalog.candle], HISTORY)
    assert learn_cross_sell_pairs(session, HISTORY).orders == 100


def test_pins_resolve_typed_products_and_refuse_nonsense(
    session: Session, learned: Catalog
) -> None:
    pinned = pin_pair(session, "lavender soap", "Cedar Candle", PRIMED)
    assert (pinned.product_title, pinned.paired_title) == ("Lavender Soap", "Cedar Candle")
    with pytest.raises(ProductAdminError, match="its own cross-sell"):
        pin_pair(session, "Lavender Soap", "lavender-soap", PRIMED)
    with pytest.raises(ProductAdminError, match="No product matches"):
        pin_pair(session, "Lavender Soap", "Nothing Like It", PRIMED)
    session.commit()
    panel = cross_sell_panel(session)
    assert [(p.product_title, p.paired_title) for p in panel.pins] == [
        ("Lavender Soap", "Cedar Candle")
    ]


# --- the Moment --------------------------------------------------------------------------------


def test_the_offer_is_sent_once_per_order_to_every_provider(
    world: World, store: Store, session: Session, learned: Catalog
) -> None:
    ava = _customer(store, "ava")
    place_order(session, ava, [learned.soap], ORDERED)
    world.sweep(PRIMED - timedelta(hours=1))
    assert world.outbox(kind="cross_sell") == [], "not before 7 days"

    at = PRIMED + timedelta(hours=2)
    summary = world.sweep(at)
    assert all(summary.of(name).queued >= 1 for name in PROVIDERS)
    rows = world.outbox(kind="cross_sell")
    assert sorted(row.integration for row in rows) == sorted(PROVIDERS)
    assert {row.idempotency_key for row in rows} == {cycle_key("cross_sell", ava.id, ORDERED)}
    world.deliver(at)
    klaviyo, postscript, attentive = (_offers(world, name) for name in PROVIDERS)
    assert len(klaviyo) == len(postscript) == len(attentive) == 1
    assert postscript[0]["type"] == "PrimedForCrossSell"
    assert attentive[0]["type"] == "Repeat - Primed For Cross-sell"
    towel, variant = learned.towel
    offered = {
        "product": {
            "id": towel.shopify_id,
            "title": "Linen Towel",
            "price": "32.00",
            "handle": "linen-towel",
            "images": [],
            "variant": {"id": variant.shopify_id, "title": "Default Title"},
        }
    }
    for name, [body] in zip(PROVIDERS, (klaviyo, postscript, attentive), strict=True):
        properties = body["properties"]
        assert properties["crossSellProduct"] == offered
        assert properties["reorderableProducts"] == [offered]
        url = properties["Repeat Cart URL"]
        assert url.startswith(f"{PUBLIC}/cart/")
        assert url.endswith(f"?ch={name}&m=cross_sell&pick={towel.id}")

    # the cart behind the link opens with the towel selected
    token = url.split("/cart/")[1].split("?")[0]
    view = load_cart(session, token, at, pick=towel.id)
    assert view is not None
    [first, *_rest] = view.composition.ymal
    assert (first.product_id, first.selected, first.quantity) == (towel.id, True, 1)

    again = world.sweep(at + timedelta(days=2))
    assert all(again.of(name).queued == 0 for name in PROVIDERS)
    world.deliver(at + timedelta(days=2))
    assert all(len(_offers(world, name)) == 1 for name in PROVIDERS)

    # she buys the towel: the next order primes no towel offer, and soap has no other partner
    place_order(session, ava, [learned.towel], at + timedelta(days=3))
    world.sweep(at + timedelta(days=10, hours=2))
    assert len(world.outbox(kind="cross_sell")) == 3


def test_an_offer_is_dropped_once_the_customer_bought_the_product(
    world: World, store: Store, session: Session, learned: Catalog
) -> None:
    ben, cy = _customer(store, "ben"), _customer(store, "cy")
    place_order(session, ben, [learned.soap], ORDERED)
    place_order(session, cy, [learned.soap], ORDERED)
    at = PRIMED + timedelta(hours=1)
    world.sweep(at)
    assert len(world.outbox(kind="cross_sell")) == 6
    # Ben orders a towel before delivery (a new order); Cy's towel order was cancelled, which
    # leaves her reorder dates alone but she has the product all the same
    place_order(session, ben, [learned.towel], at - timedelta(minutes=30))
    place_order(session, cy, [learned.towel], at - timedelta(minutes=30), cancelled=True)
    summary = world.deliver(at)
    assert all(summary.of(name).skipped["reordered"] == 1 for name in PROVIDERS)
    assert all(summary.of(name).skipped["bought the product"] == 1 for name in PROVIDERS)
    assert all(_offers(world, name) == [] for name in PROVIDERS)


def test_a_pin_overrides_the_learned_partner(
    world: World, store: Store, session: Session, learned: Catalog
) -> None:
    pin_pair(session, "Lavender Soap", "Hand Lotion", ORDERED)
    session.commit()
    dee = _customer(store, "dee")
    place_order(session, dee, [learned.soap], ORDERED)
    at = PRIMED + timedelta(hours=1)
    world.sweep(at)
    world.deliver(at)
    lotion = learned.lotion[0]
    for name in PROVIDERS:
        [body] = _offers(world, name)
        assert body["properties"]["crossSellProduct"]["product"]["title"] == "Hand Lotion"
        assert body["properties"]["Repeat Cart URL"].endswith(f"&pick={lotion.id}")


def test_no_offer_without_pairs_and_the_days_are_a_setting(
    world: World, store: Store, session: Session, catalog: Catalog
) -> None:
    _history(store, session, catalog, orders=99)
    recompute_all(session, HISTORY + timedelta(days=1))
    session.commit()
    eve = _customer(store, "eve")
    place_order(session, eve, [catalog.soap], ORDERED)
    summary = world.sweep(PRIMED + timedelta(hours=1))
    assert world.outbox(kind="cross_sell") == []
    assert summary.of("klaviyo").skipped["no cross-sell product"] == 1

    pin_pair(session, "Lavender Soap", "Linen Towel", ORDERED)  # pins need no support
    session.commit()
    world.sweep(ORDERED + timedelta(days=3, hours=1), cross_sell_days=3)
    assert len(world.outbox(kind="cross_sell")) == 3


def test_dry_run_shows_the_cross_sell_payloads(
    world: World,
    store: Store,
    session: Session,
    learned: Catalog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    fay = _customer(store, "fay")
    place_order(session, fay, [learned.soap], ORDERED)
    for key, value in world.settings().environment().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the command sets up JSON logging
    try:
        with time_machine.travel(PRIMED + timedelta(hours=1)):
            assert cli_main(["dispatch", "--dry-run"]) == 0
        out = capsys.readouterr().out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        get_settings.cache_clear()
    key = cycle_key("cross_sell", fay.id, ORDERED)
    assert f"would send postscript cross_sell {key}" in out
    assert '"type": "PrimedForCrossSell"' in out
    assert '"name": "Repeat - Primed For Cross-sell"' in out
    assert '"type": "Repeat - Primed For Cross-sell"' in out
    assert '"crossSellProduct"' in out and '"title": "Linen Towel"' in out
    assert world.outbox() == [] and all(world.fakes[n].requests == [] for n in PROVIDERS)
