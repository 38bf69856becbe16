"""About To Lapse end to end: real orders, the recompute, the scan, delivery to the fakes.

Each customer's history is a set of real orders followed by the recompute a sync runs, and the
soap's learned interval is stored as the relearn job would (P75 20 days, 12 customers), so the
lapse point of a soap buyer is their last order + 2 × 20 days.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import Session, col, select

from services.cli import main as cli_main
from services.core.config import get_settings
from services.core.tables import (
    DueItem,
    IntervalStat,
    Product,
    Variant,
)
from services.dispatch import cycle_key
from services.engine.recompute import recompute_customers
from services.settings.effective import effective_settings, save_settings
from tests.integration.dispatch_world import PUBLIC, Store, World, place_order

PROVIDERS = ("klaviyo", "postscript", "attentive")
FIRST = datetime(2026, 7, 1, 9, tzinfo=UTC)
LAST = FIRST + timedelta(days=20)  # the second order
LAPSE = LAST + timedelta(days=40)  # 2 × the soap's P75 (20 days) × 1


def _learned(session: Session, item: tuple[Product, Variant], p75: float, n: int = 12) -> None:
    product, _variant = item
    session.add(
        IntervalStat(
            product_id=product.id, p25=p75 / 2, median=p75 * 0.75, p75=p75, mean=p75 * 0.75, n=n
        )
    )
    session.commit()


def _lapse_events(world: World, name: str) -> list[dict]:
    return world.moment_events(name, "Repeat - About To Lapse", "AboutToLapse")


def _key(body: dict) -> str:
    return body.get("unique_id") or body.get("external_id") or body["externalEventId"]


@pytest.fixture
def soap(store: Store, session: Session) -> tuple[Product, Variant]:
    item = store.product("Lavender Soap", 1250)
    _learned(session, item, p75=20)
    return item


def test_about_to_lapse_is_sent_once_per_cycle_to_every_provider(
    world: World, store: Store, session: Session, soap: tuple[Product, Variant]
) -> None:
    ava = store.customer()
    place_order(session, ava, [soap], FIRST)
    place_order(session, ava, [soap], LAST)
    world.sweep(LAPSE - timedelta(hours=1))
    assert world.outbox(kind="lapse") == [], "not before the lapse point"

    at = LAPSE + timedelta(hours=2)
    summary = world.sweep(at)
    assert all(summary.of(name).queued >= 1 for name in PROVIDERS)
    rows = world.outbox(kind="lapse")
    assert sorted(row.integration for row in rows) == sorted(PROVIDERS)
    assert {row.idempotency_key for row in rows} == {cycle_key("lapse", ava.id, LAST)}
    world.deliver(at)
    klaviyo, postscript, attentive = (_lapse_events(world, name) for name in PROVIDERS)
    assert len(klaviyo) == len(postscript) == len(attentive) == 1
    assert postscript[0]["type"] == "AboutToLapse"
    assert attentive[0]["type"] == "Repeat - About To Lapse"
    product, variant = soap
    for name, [body] in zip(PROVIDERS, (klaviyo, postscript, attentive), strict=True):
        properties = body["properties"]
        assert properties["days_since_last_order"] == 40
        assert properties["Repeat Cart URL"].startswith(f"{PUBLIC}/cart/")
        assert properties["Repeat Cart URL"].endswith(f"?ch={name}&m=lapse")
        assert properties["reorderable_product_ids"] == [product.shopify_id]
        assert properties["reorderableProducts"] == [
            {
                "product": {
                    "id": product.shopify_id,
                    "title": "Lavender Soap",
                    "price": "12.50",
                    "handle": "lavender-soap",
                    "images": [],
                    "variant": {"id": variant.shopify_id, "title": "Default Title"},
                }
            }
        ]

    # a later sweep of the same cycle queues and sends nothing more
    again = world.sweep(at + timedelta(days=2))
    assert all(again.of(name).queued == 0 for name in PROVIDERS)
    world.deliver(at + timedelta(days=2))
    assert all(len(_lapse_events(world, name)) == 1 for name in PROVIDERS)

    # a new order starts a new cycle: quiet until its own lapse point, then told again
    reordered = at + timedelta(days=3)
    place_order(session, ava, [soap], reordered)
    world.sweep(reordered + timedelta(days=39))
    world.deliver(reordered + timedelta(days=39))
    assert all(len(_lapse_events(world, name)) == 1 for name in PROVIDERS)
    later = reordered + timedelta(days=41)
    world.sweep(later)
    world.deliver(later)
    for name in PROVIDERS:
        events = _lapse_events(world, name)
        assert len(events) == 2
        assert _key(events[1]) == cycle_key("lapse", ava.id, reordered) != _key(events[0])
        assert events[1]["properties"]["days_since_last_order"] == 41


def test_a_customer_who_ordered_since_is_never_told(
    world: World, store: Store, session: Session, soap: tuple[Product, Variant]
) -> None:
    ava = store.customer()
    place_order(session, ava, [soap], FIRST)
    place_order(session, ava, [soap], LAST)
    at = LAPSE + timedelta(days=1)
    world.sweep(at)
    assert len(world.outbox(kind="lapse")) == 3
    place_order(session, ava, [soap], at - timedelta(hours=2))  # an order before delivery
    summary = world.deliver(at)
    assert all(summary.of(name).skipped["reordered"] == 1 for name in PROVIDERS)
    assert all(_lapse_events(world, name) == [] for name in PROVIDERS)
    assert {row.skip_reason for row in world.outbox(kind="lapse")} == {"reordered"}
    world.sweep(at + timedelta(days=1))  # and the new cycle is far from lapsing
    assert len(world.outbox(kind="lapse")) == 3


def test_only_repeat_customers_with_a_learned_product_lapse(
    world: World, store: Store, session: Session, soap: tuple[Product, Variant]
) -> None:
    once = store.customer("once@example.com", None, 1)
    place_order(session, once, [soap], LAST)  # a single order, however old
    guess = store.product("Mystery Box")  # no learned interval: the store's fallback only
    fallback = store.customer("fallback@example.com", None, 2)
    place_order(session, fallback, [guess], FIRST)
    place_order(session, fallback, [guess], LAST)
    repeat = store.customer("repeat@example.com", None, 3)
    place_order(session, repeat, [soap, guess], FIRST)
    place_order(session, repeat, [guess], LAST)
    # the second sweep is where the fallback's late point (30 × 1.5 days) would put a lapse
    for at in (LAPSE + timedelta(days=1), LAST + timedelta(days=91)):
        world.sweep(at)
    assert {row.customer_id for row in world.outbox(kind="lapse")} == {repeat.id}


def test_a_lapse_point_older_than_the_lookback_is_not_messaged(
    world: World, store: Store, session: Session, soap: tuple[Product, Variant]
) -> None:
    ava = store.customer()
    place_order(session, ava, [soap], FIRST)
    place_order(session, ava, [soap], LAST)
    world.sweep(LAPSE + timedelta(days=8))  # the lookback is 7 days
    assert world.outbox(kind="lapse") == []


def test_the_factor_saved_on_the_dashboard_moves_the_lapse_point(
    world: World, store: Store, session: Session, soap: tuple[Product, Variant]
) -> None:
    ava = store.customer()
    place_order(session, ava, [soap], FIRST)
    place_order(session, ava, [soap], LAST)
    at = LAST + timedelta(days=61)  # past 3 × 20 days; 2 × 20 days is beyond the lookback
    world.sweep(at)
    assert world.outbox(kind="lapse") == []
    save_settings(session, {"lapse_factor": "3"})
    session.commit()
    assert effective_settings(session, world.settings()).lapse_factor == 3
    recompute_customers(session, [ava.id], at)  # what saving it on the Cart page starts
    session.commit()
    [row] = session.exec(
        select(DueItem).where(DueItem.customer_id == ava.id, col(DueItem.lapse_at).is_not(None))
    ).all()
    assert row.lapse_at == LAST + timedelta(days=60)
    world.sweep(at)
    assert len(world.outbox(kind="lapse")) == 3


def test_dry_run_shows_the_about_to_lapse_payloads(
    world: World,
    store: Store,
    session: Session,
    soap: tuple[Product, Variant],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    ava = store.customer()
    place_order(session, ava, [soap], FIRST)
    place_order(session, ava, [soap], LAST)
    for key, value in world.settings().environment().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the command sets up JSON logging
    try:
        with time_machine.travel(LAPSE + timedelta(days=1)):
            assert cli_main(["dispatch", "--dry-run"]) == 0
        out = capsys.readouterr().out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        get_settings.cache_clear()
    key = cycle_key("lapse", ava.id, LAST)
    assert f"would send postscript lapse {key}" in out
    assert '"type": "AboutToLapse"' in out
    assert '"name": "Repeat - About To Lapse"' in out
    assert '"type": "Repeat - About To Lapse"' in out
    assert '"days_since_last_order": 41' in out
    assert world.outbox() == [] and all(world.fakes[n].requests == [] for n in PROVIDERS)
