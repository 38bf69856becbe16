"""Due to Replenish end to end: the due scan, the outbox, delivery to fakes over real HTTP.

Every fault the issue names is a test here. Provider retries inside a client sleep through a
no-op `sleep`, so storms cost no wall time; the delivery pass's own backoff is shown by running
a second pass with a later clock. The SIGKILL test runs `python -m services.cli dispatch` as a
real process and kills it mid-delivery.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from itertools import count

import pytest
import time_machine
from sqlalchemy import update
from sqlmodel import Session, select

from services.cart.links import rotate_link
from services.cart.snoozes import snooze
from services.cli import main as cli_main
from services.core.clock import utcnow
from services.core.config import PROJECT_ROOT, Settings, get_settings
from services.core.db import get_engine
from services.core.provider_http import RetryPolicy
from services.core.tables import (
    CartLink,
    Customer,
    DueItem,
    IntegrationStatus,
    Order,
    OrderLine,
    OutboxMessage,
    Product,
    Variant,
)
from services.dispatch import (
    DispatchSummary,
    cycle_key,
    deliver,
    erase_customer_messages,
    key_fingerprint,
    outbox_counts,
    plan,
    resume_integration,
    retry_failed,
    run_dispatch,
)
from services.engine.recompute import recompute_customers
from services.worker import JOBS
from tests.clock_shift import subprocess_env
from tests.integration.dispatch_world import BOUGHT, NOW, PROVIDERS, PUBLIC, Store, World

_ids = count(2_000_000)  # order numbers, apart from the store's product and customer ids


def _properties(token: str, channel: str, products: list[tuple[Product, Variant]], due: str):
    return {
        "Repeat Cart URL": f"{PUBLIC}/cart/{token}?ch={channel}&m=due",
        "reorderableProducts": [
            {
                "product": {
                    "id": product.shopify_id,
                    "title": product.title,
                    "price": f"{variant.price_cents // 100}.{variant.price_cents % 100:02d}",
                    "handle": product.handle,
                    "images": (
                        [{"src": f"{PUBLIC}{product.image_url}"}]
                        if product.image_url and product.image_url.startswith("/")
                        else [{"src": product.image_url}]
                        if product.image_url
                        else []
                    ),
                    "variant": {"id": variant.shopify_id, "title": variant.title},
                }
            }
            for product, variant in products
        ],
        "reorderable_product_ids": [product.shopify_id for product, _ in products],
        "reorderable_product_titles": [product.title for product, _ in products],
        "due_date": due,
    }


# --- exact payloads -------------------------------------------------------------------------


def test_each_provider_receives_exactly_the_contract_payload(world: World, store: Store) -> None:
    soap = store.product("Lavender Soap", 1250, image="/demo-images/lavender-soap.svg")
    tea = store.product(
        "Green Tea", 2400, image="https://cdn.example.com/tea.png", variant_title="250 g"
    )
    ava = store.customer()
    store.due(ava, soap, BOUGHT, interval=28)
    store.due(ava, tea, BOUGHT, interval=30, quantity=2)  # bought two: due later
    store.session.execute(
        update(DueItem).where(DueItem.product_id == tea[0].id).values(remind_at=NOW)
    )
    store.session.commit()
    token = store.link(ava).token

    summary = world.scan()
    assert {name: summary.of(name).queued for name in PROVIDERS} == {
        "klaviyo": 2,  # the event and the profile's cart link
        "postscript": 1,
        "attentive": 2,
    }
    delivered = world.deliver()
    assert {name: delivered.of(name).sent for name in PROVIDERS} == {
        "klaviyo": 2,
        "postscript": 1,
        "attentive": 2,
    }

    key = f"due-{ava.id}-{BOUGHT:%Y%m%d%H%M%S}"
    due_day = (BOUGHT + timedelta(days=28)).date().isoformat()
    products = [soap, tea]
    value = 1250 + 2 * 2400

    [klaviyo] = world.events("klaviyo")
    assert klaviyo == {
        "data": {
            "type": "event",
            "attributes": {
                "properties": _properties(token, "klaviyo", products, due_day),
                "time": "2026-11-25T12:00:00+00:00",
                "value": value / 100,
                "value_currency": "USD",
                "unique_id": key,
                "metric": {
                    "data": {"type": "metric", "attributes": {"name": "Repeat - Due To Replenish"}}
                },
                "profile": {
                    "data": {
                        "type": "profile",
                        "attributes": {
                            "email": "ava@example.com",
                            "phone_number": "+14155552671",
                            "external_id": "5551234",
                        },
                    }
                },
            },
        }
    }
    assert world.fakes["klaviyo"].profile_updates == [
        {
            "data": {
                "type": "profile",
                "attributes": {
                    "email": "ava@example.com",
                    "phone_number": "+14155552671",
                    "external_id": "5551234",
                    "properties": {"Repeat Cart URL": f"{PUBLIC}/cart/{token}?ch=klaviyo"},
                },
            }
        }
    ]
    [postscript] = world.events("postscript")
    assert postscript == {
        "type": "DueToReplenish",
        "email": "ava@example.com",
        "phone": "+14155552671",
        "occurred_at": "2026-11-25 12:00:00.000",
        "external_id": key,
        "properties": _properties(token, "postscript", products, due_day),
    }
    [attentive] = world.events("attentive")
    user = {
        "phone": "+14155552671",
        "email": "ava@example.com",
        "externalIdentifiers": {"clientUserId": "5551234"},
    }
    assert attentive == {
        "type": "Repeat - Due To Replenish",
        "properties": _properties(token, "attentive", products, due_day),
        "externalEventId": key,
        "occurredAt": "2026-11-25T12:00:00+00:00",
        "user": user,
    }
    assert world.fakes["attentive"].profile_updates == [
        {"properties": {"Repeat Cart URL": f"{PUBLIC}/cart/{token}?ch=attentive"}, "user": user}
    ]
    rows = world.outbox()
    assert {row.status for row in rows} == {"sent"}
    assert all(row.sent_at == NOW and row.attempts == 1 for row in rows)


def test_a_scan_run_twice_queues_nothing_new(world: World, store: Store) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    first = world.scan()
    assert first.of("postscript").queued == 1
    again = world.scan(NOW + timedelta(minutes=15))
    assert all(again.of(name).queued == 0 for name in PROVIDERS)
    keys = {(row.integration, row.idempotency_key) for row in world.outbox()}
    assert len(keys) == len(world.outbox()) == 5
    assert cycle_key("due", ava.id, BOUGHT) in {key for _, key in keys}


def test_an_integration_switched_off_gets_nothing_queued(world: World, store: Store) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    summary = world.scan(postscript_enabled=False)
    assert summary.of("postscript").queued == 0
    assert summary.of("klaviyo").queued > 0  # the others still get theirs
    assert "postscript" not in {row.integration for row in world.outbox()}


def test_one_event_per_customer_per_cycle_until_they_reorder(world: World, store: Store) -> None:
    ava = store.customer()
    soap, tea = store.product("Soap"), store.product("Tea")
    store.due(ava, soap, BOUGHT)
    store.due(ava, tea, BOUGHT + timedelta(days=5))  # due five days later, same cycle
    world.scan()
    world.deliver()
    world.scan(NOW + timedelta(days=5))
    world.deliver(NOW + timedelta(days=5))
    assert len(world.events("postscript")) == 1
    assert len(world.events("postscript")[0]["properties"]["reorderableProducts"]) == 1


def test_customers_due_long_ago_are_not_messaged(world: World, store: Store) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"), NOW - timedelta(days=90), late=200)
    summary = world.scan()
    assert all(summary.of(name).queued == 0 for name in ("postscript",))
    assert world.outbox(kind="due") == []


# --- faults ---------------------------------------------------------------------------------


def _one_due_customer(store: Store, **customer: object) -> Customer:
    person = store.customer(**customer)  # type: ignore[arg-type]
    store.due(person, store.product(f"Soap {person.id}"))
    return person


def test_a_storm_of_429s_is_waited_out_and_sent_once(world: World, store: Store) -> None:
    _one_due_customer(store)
    world.scan(klaviyo_api_key="", attentive_api_key="")
    fake = world.fakes["postscript"]
    fake.fail_next(5, 429)  # more than the client's 3 attempts in one pass
    first = world.deliver(klaviyo_api_key="", attentive_api_key="")
    assert first.of("postscript").retrying == 1 and first.of("postscript").sent == 0
    [row] = world.outbox(integration="postscript")
    assert row.status == "pending" and row.attempts == 1 and row.provider_status == 429
    assert NOW + timedelta(seconds=30) <= row.next_attempt_at <= NOW + timedelta(seconds=60)
    assert "429" in row.last_error

    too_soon = world.deliver(NOW + timedelta(seconds=10), klaviyo_api_key="", attentive_api_key="")
    assert too_soon.of("postscript").sent == 0
    assert len(fake.requests) == 3, "a row waiting for its backoff is not retried early"

    second = world.deliver(NOW + timedelta(minutes=5), klaviyo_api_key="", attentive_api_key="")
    assert second.of("postscript").sent == 1  # two more 429s, then accepted
    assert fake.statuses() == [429] * 5 + [202]
    assert len(fake.events) == 1
    [row] = world.outbox(integration="postscript")
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")


def test_a_long_retry_after_is_honoured_by_the_next_pass(world: World, store: Store) -> None:
    _one_due_customer(store)
    world.scan(postscript_api_key="", attentive_api_key="")
    world.fakes["klaviyo"].fail_next(1, 429, retry_after=600)  # longer than a pass waits
    world.deliver(postscript_api_key="", attentive_api_key="")
    # the event lane or the profile lane got the 429, whichever asked first
    [row] = world.outbox(integration="klaviyo", status="pending")
    assert row.next_attempt_at >= NOW + timedelta(seconds=600)
    assert row.provider_status == 429
    world.deliver(NOW + timedelta(minutes=11), postscript_api_key="", attentive_api_key="")
    assert [row.status for row in world.outbox(integration="klaviyo")] == ["sent", "sent"]


def test_500s_are_retried_then_kept_as_failed_after_the_last_attempt(
    world: World, store: Store
) -> None:
    _one_due_customer(store)
    world.scan(klaviyo_api_key="", postscript_api_key="")
    fake = world.fakes["attentive"]
    fake.fail_next(100, 500)
    at = NOW
    for attempt in range(1, 4):
        summary = world.deliver(at, klaviyo_api_key="", postscript_api_key="", delivery_attempts=3)
        rows = {row.kind: row for row in world.outbox(integration="attentive")}
        assert rows["due"].attempts == attempt
        at = at + timedelta(hours=7)
    assert summary.of("attentive").failed == 2  # the event and the profile update
    due = rows["due"]
    assert due.status == "failed" and due.provider_status == 500
    assert "gave up after 3 delivery attempts" in due.last_error
    assert fake.events == []
    # failed rows stay failed (visible), no pass picks them up again
    fake.reset()
    world.deliver(at + timedelta(days=1), klaviyo_api_key="", postscript_api_key="")
    assert world.outbox(integration="attentive", kind="due")[0].status == "failed"
    assert fake.requests == []
    # until the merchant retries them
    with Session(get_engine(world.url)) as session:
        assert retry_failed(session, now=at) >= 1
        session.commit()
    world.deliver(at + timedelta(days=1), klaviyo_api_key="", postscript_api_key="")
    assert [row.status for row in world.outbox(integration="attentive")] == ["sent", "sent"]
    assert len(fake.events) == 1


def test_timeouts_are_retried_and_klaviyo_keeps_one_event(world: World, store: Store) -> None:
    _one_due_customer(store)
    world.scan(postscript_api_key="", attentive_api_key="")
    fake = world.fakes["klaviyo"]
    fake.delay_next(2, 0.6)  # the first event and the first profile update both time out
    settings = world.settings(postscript_api_key="", attentive_api_key="")
    clients = world.clients(settings, timeout=0.3)
    summary = deliver(settings, clients=clients, clock=lambda: NOW)
    for client in clients:
        client.close()
    assert summary.of("klaviyo").sent == 2
    fake.wait_idle()
    key = cycle_key("due", world.outbox(kind="due")[0].customer_id, BOUGHT)
    # the timed-out request still landed: two receipts, one recorded event (unique_id)
    assert fake.event_receipts[key] == 2
    assert [event["data"]["attributes"]["unique_id"] for event in fake.events] == [key]


def test_a_permanent_400_fails_visibly_once(world: World, store: Store) -> None:
    _one_due_customer(store)
    world.scan(klaviyo_api_key="", attentive_api_key="")
    fake = world.fakes["postscript"]
    fake.fail_next(1, 400)
    summary = world.deliver(klaviyo_api_key="", attentive_api_key="")
    assert summary.of("postscript").failed == 1
    [row] = world.outbox(integration="postscript")
    assert (row.status, row.provider_status, row.attempts) == ("failed", 400, 1)
    assert "postscript" in row.last_error and "400" in row.last_error
    world.deliver(NOW + timedelta(days=1), klaviyo_api_key="", attentive_api_key="")
    assert len(fake.requests) == 1, "a refusal is not retried in a loop"
    assert "failed 1" in summary.line()


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_that_integration_until_the_key_changes(
    world: World, store: Store, status: int
) -> None:
    for n in range(3):
        _one_due_customer(store, email=f"c{n}@example.com", gid=900 + n)
    world.scan()
    fake = world.fakes["postscript"]
    fake.invalid_key(status)
    summary = world.deliver()
    counts = summary.of("postscript")
    assert counts.stopped.startswith("key refused") and counts.waiting == 3
    assert "STOPPED: key refused" in summary.line()
    assert len(fake.requests) == 1, "the first refusal stops the integration"
    assert summary.of("klaviyo").sent == 6 and summary.of("attentive").sent == 6
    assert {row.status for row in world.outbox(integration="postscript")} == {"pending"}
    with Session(get_engine(world.url)) as session:
        stop = session.get(IntegrationStatus, "postscript")
        assert stop is not None and stop.auth_failed_at is not None
        assert stop.key_fingerprint == key_fingerprint(fake.api_key)
        assert fake.api_key not in stop.last_error

    again = world.deliver(NOW + timedelta(hours=1))
    assert again.of("postscript").stopped and len(fake.requests) == 1, "no request while stopped"

    fake.reset()
    old_key, fake.api_key = fake.api_key, "sk_test_new_key"
    try:
        fixed = world.deliver(NOW + timedelta(hours=2), postscript_api_key="sk_test_new_key")
    finally:
        fake.api_key = old_key
    assert fixed.of("postscript").sent == 3 and not fixed.of("postscript").stopped


def test_two_workers_at_once_never_send_a_row_twice(world: World, store: Store) -> None:
    for n in range(24):
        _one_due_customer(store, email=f"c{n}@example.com", gid=1000 + n)
    world.scan()
    for fake in world.fakes.values():
        fake.delay_next(20, 0.02)
    results: list[DispatchSummary] = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        settings = world.settings()
        clients = world.clients(settings)
        try:
            results.append(deliver(settings, clients=clients, clock=lambda: NOW, worker=name))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            for client in clients:
                client.close()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    # two processes share no limiter, so together they may meet 429s: later passes finish
    for hours in range(1, 6):
        if not world.outbox(status="pending"):
            break
        time.sleep(1.1)  # let the fakes' one-second windows clear
        results.append(world.deliver(NOW + timedelta(hours=hours)))
    for name in PROVIDERS:
        fake = world.fakes[name]
        assert sum(result.of(name).sent for result in results) == (
            24 if name == "postscript" else 48
        )
        assert len(fake.event_receipts) == 24
        assert set(fake.event_receipts.values()) == {1}, f"{name} got a row twice"
    assert {row.status for row in world.outbox()} == {"sent"}


# --- who gets what --------------------------------------------------------------------------


def _reorder(session: Session, customer: Customer, item: tuple[Product, Variant], at: datetime):
    """A real reorder: an order row, then the recompute a sync runs after storing it."""
    product, variant = item
    order = Order(
        shopify_gid=f"gid://shopify/Order/{next(_ids)}",
        customer_id=customer.id,
        processed_at=at,
        updated_at=at,
        financial_status="paid",
        total_cents=variant.price_cents or 0,
    )
    session.add(order)
    session.flush()
    session.add(OrderLine(order_id=order.id, product_id=product.id, variant_id=variant.id))
    session.flush()
    recompute_customers(session, [customer.id], at)
    session.commit()


def test_a_customer_who_reorders_before_delivery_gets_nothing(
    world: World, store: Store, session: Session
) -> None:
    ava = store.customer()
    soap = store.product("Soap")
    _reorder(session, ava, soap, BOUGHT)  # their history: one order, 30 days ago
    [row] = session.exec(select(DueItem).where(DueItem.customer_id == ava.id)).all()
    assert row.remind_at <= NOW
    world.scan()
    assert len(world.outbox(kind="due")) == 3
    _reorder(session, ava, soap, NOW - timedelta(hours=1))
    summary = world.deliver()
    assert all(summary.of(name).skipped["reordered"] == 1 for name in PROVIDERS)
    assert all(world.events(name) == [] for name in PROVIDERS)
    assert {row.skip_reason for row in world.outbox(kind="due")} == {"reordered"}


def test_a_snoozed_product_is_left_out(world: World, store: Store, session: Session) -> None:
    ava = store.customer()
    soap, tea = store.product("Soap"), store.product("Tea")
    store.due(ava, soap)
    store.due(ava, tea)
    snooze(session, ava.id, soap[0].id, 2, NOW - timedelta(days=1))
    session.commit()
    world.scan()
    world.deliver()
    for name in PROVIDERS:
        [event] = world.events(name)
        properties = (
            event["data"]["attributes"]["properties"] if name == "klaviyo" else event["properties"]
        )
        assert properties["reorderable_product_titles"] == ["Tea"]


def test_a_product_snoozed_after_queueing_is_removed_before_sending(
    world: World, store: Store, session: Session
) -> None:
    ava = store.customer()
    soap, tea = store.product("Soap", 1000), store.product("Tea", 500)
    store.due(ava, soap)
    store.due(ava, tea)
    world.scan(klaviyo_api_key="", attentive_api_key="")
    snooze(session, ava.id, tea[0].id, 1, NOW)
    session.commit()
    world.deliver(klaviyo_api_key="", attentive_api_key="")
    [event] = world.events("postscript")
    assert event["properties"]["reorderable_product_titles"] == ["Soap"]
    [row] = world.outbox(integration="postscript")
    assert row.payload["event"]["value_cents"] == 1000
    assert [p["title"] for p in row.payload["event"]["products"]] == ["Soap"]


def test_a_snoozed_cart_is_reminded_when_the_snooze_ends(
    world: World, store: Store, session: Session
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    snooze(session, ava.id, None, 2, NOW - timedelta(days=1))
    session.commit()
    summary = world.scan()
    assert summary.of("postscript").skipped["snoozed"] == 1
    assert world.outbox(kind="due") == []
    ended = NOW + timedelta(days=14)  # the remind date is 17 days old now: beyond the lookback
    world.scan(ended)
    world.deliver(ended)
    assert all(len(world.events(name)) == 1 for name in PROVIDERS)


def test_a_cart_snoozed_after_queueing_is_postponed_not_dropped(
    world: World, store: Store, session: Session
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    world.scan(klaviyo_api_key="", attentive_api_key="")
    snooze(session, ava.id, None, 1, NOW)
    session.commit()
    summary = world.deliver(klaviyo_api_key="", attentive_api_key="")
    assert summary.of("postscript").postponed == 1
    assert world.events("postscript") == []
    [row] = world.outbox(integration="postscript")
    assert row.status == "pending" and row.next_attempt_at == NOW + timedelta(weeks=1)
    world.deliver(NOW + timedelta(days=3), klaviyo_api_key="", attentive_api_key="")
    assert world.events("postscript") == []
    world.deliver(NOW + timedelta(weeks=1), klaviyo_api_key="", attentive_api_key="")
    [event] = world.events("postscript")
    assert event["occurred_at"].startswith("2026-12-02 12:00:00")


def test_a_late_event_only_after_the_p75_point_and_the_due_event(
    world: World, store: Store
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"), late=40)  # late at NOW + 10 days
    world.scan()
    world.deliver()
    world.scan(NOW + timedelta(days=9))
    assert world.outbox(kind="late") == []
    late = NOW + timedelta(days=10, hours=1)
    summary = world.scan(late)
    assert summary.of("postscript").queued == 1
    world.deliver(late)
    assert [
        e["data"]["attributes"]["metric"]["data"]["attributes"]["name"]
        for e in world.events("klaviyo")
    ] == ["Repeat - Due To Replenish", "Repeat - Late Due To Replenish"]
    assert [e["type"] for e in world.events("postscript")] == [
        "DueToReplenish",
        "LateDueToReplenish",
    ]
    assert world.events("attentive")[1]["type"] == "Repeat - Late Due To Replenish"
    assert world.events("attentive")[1]["externalEventId"] == cycle_key("late", ava.id, BOUGHT)


def test_no_late_event_while_the_due_one_is_unsent(world: World, store: Store) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"), late=31)  # late a day from now
    world.fakes["postscript"].invalid_key()
    world.scan()
    world.deliver()
    world.scan(NOW + timedelta(days=1, hours=1))
    assert {row.integration for row in world.outbox(kind="late")} == {"klaviyo", "attentive"}


def test_a_customer_already_late_when_reminded_gets_the_due_event_alone(
    world: World, store: Store
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"), late=29)  # late since yesterday, due since 3 days
    world.scan()
    world.deliver()
    world.scan(NOW + timedelta(days=1))
    world.deliver(NOW + timedelta(days=1))
    assert world.outbox(kind="late") == []
    assert [e["type"] for e in world.events("postscript")] == ["DueToReplenish"]


def test_a_customer_with_only_an_invalid_phone_is_skipped_with_a_reason(
    world: World, store: Store
) -> None:
    _one_due_customer(store, email=None, phone="555-01", gid=None)
    summary = world.scan()
    for name in PROVIDERS:
        assert summary.of(name).skipped["no email or phone it accepts"] >= 1
        assert summary.of(name).queued == 0
    rows = world.outbox(kind="due")
    assert len(rows) == 3
    assert {(row.status, row.skip_reason) for row in rows} == {
        ("skipped", "no email or phone it accepts")
    }
    world.deliver()
    assert all(world.fakes[name].requests == [] for name in PROVIDERS)


def test_a_shopify_id_is_enough_for_klaviyo_and_attentive_not_postscript(
    world: World, store: Store
) -> None:
    _one_due_customer(store, email=None, phone="not a phone", gid=777)
    world.scan()
    world.deliver()
    assert world.events("postscript") == []
    assert world.outbox(integration="postscript")[0].skip_reason == "no email or phone it accepts"
    [event] = world.events("klaviyo")
    assert event["data"]["attributes"]["profile"]["data"]["attributes"] == {"external_id": "777"}


def test_unsold_products_are_left_out_and_an_empty_cart_sends_nothing(
    world: World, store: Store
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap", status="archived"))
    summary = world.scan()
    assert summary.of("klaviyo").skipped["nothing available"] == 1
    assert world.outbox(kind="due") == []


# --- cart links ----------------------------------------------------------------------------


def test_the_cart_link_is_pushed_again_after_it_rotates(
    world: World, store: Store, session: Session
) -> None:
    ava = store.customer()
    first = store.link(ava)
    world.scan(postscript_api_key="")
    world.deliver(postscript_api_key="")
    fake = world.fakes["klaviyo"]
    [profile] = fake.profiles.values()
    assert profile["Repeat Cart URL"] == f"{PUBLIC}/cart/{first.token}?ch=klaviyo"

    second = rotate_link(session, ava.id)
    session.commit()
    world.scan(NOW + timedelta(minutes=15), postscript_api_key="")
    world.deliver(NOW + timedelta(minutes=15), postscript_api_key="")
    [profile] = fake.profiles.values()
    assert profile["Repeat Cart URL"] == f"{PUBLIC}/cart/{second.token}?ch=klaviyo"
    [attributes] = world.fakes["attentive"].attributes.values()
    assert attributes["Repeat Cart URL"] == f"{PUBLIC}/cart/{second.token}?ch=attentive"
    assert world.outbox(integration="postscript") == []


def test_a_link_rotated_before_delivery_is_not_pushed(
    world: World, store: Store, session: Session
) -> None:
    ava = store.customer()
    store.link(ava)
    world.scan(postscript_api_key="")
    newer = rotate_link(session, ava.id)
    session.commit()
    world.scan(postscript_api_key="")
    summary = world.deliver(postscript_api_key="")
    assert summary.of("klaviyo").skipped["link rotated"] == 1
    [profile] = world.fakes["klaviyo"].profiles.values()
    assert profile["Repeat Cart URL"].endswith(f"/cart/{newer.token}?ch=klaviyo")
    assert len(world.fakes["klaviyo"].profile_updates) == 1


def test_a_due_event_carries_the_current_link_after_a_rotation(
    world: World, store: Store, session: Session
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    world.scan(klaviyo_api_key="", attentive_api_key="")
    newer = rotate_link(session, ava.id)
    session.commit()
    world.deliver(klaviyo_api_key="", attentive_api_key="")
    [event] = world.events("postscript")
    assert (
        event["properties"]["Repeat Cart URL"] == f"{PUBLIC}/cart/{newer.token}?ch=postscript&m=due"
    )


# --- rate limits, dry run, CLI, worker ------------------------------------------------------


def test_delivery_stays_inside_the_rate_limit_on_its_own(world: World, store: Store) -> None:
    for n in range(30):
        _one_due_customer(store, email=f"c{n}@example.com", gid=2000 + n)
    world.scan(klaviyo_api_key="", attentive_api_key="")
    settings = world.settings(klaviyo_api_key="", attentive_api_key="")
    clients = world.clients(settings, retry=RetryPolicy(attempts=1))  # a 429 would show
    started = time.monotonic()
    summary = deliver(settings, clients=clients, clock=lambda: NOW)
    elapsed = time.monotonic() - started
    for client in clients:
        client.close()
    fake = world.fakes["postscript"]
    assert summary.of("postscript").sent == 30
    assert fake.count(429) == 0
    assert elapsed >= 1.0  # 30 requests under a 15/s limit cannot take less


def test_dry_run_shows_the_exact_bodies_and_sends_nothing(world: World, store: Store) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    summary, planned = plan(world.settings(), NOW)
    assert summary.of("klaviyo").queued == 2
    assert world.outbox() == []
    assert all(world.fakes[name].requests == [] for name in PROVIDERS)
    with Session(get_engine(world.url)) as session:
        assert session.exec(select(CartLink)).all() == [], "the scan's writes were rolled back"
    store.link(ava)
    _summary, planned = plan(world.settings(), NOW)
    bodies = {(m.integration, m.kind): m.body for m in planned if m.action == "send"}
    assert set(bodies) == {
        ("klaviyo", "due"),
        ("klaviyo", "cart_url"),
        ("postscript", "due"),
        ("attentive", "due"),
        ("attentive", "cart_url"),
    }
    world.scan()
    world.deliver()
    assert world.events("postscript") == [bodies[("postscript", "due")]]
    assert world.events("klaviyo") == [bodies[("klaviyo", "due")]]
    assert world.events("attentive") == [bodies[("attentive", "due")]]


def test_the_dispatch_command_prints_a_summary(
    world: World, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"), NOW - timedelta(days=29))
    for key, value in world.settings().environment().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the command sets up JSON logging
    try:
        with time_machine.travel(NOW):  # the command reads the clock: the test's, not today's
            assert cli_main(["dispatch", "--dry-run"]) == 0
            out = capsys.readouterr().out
            assert "Dry run: nothing is written or sent." in out
            assert '"type": "DueToReplenish"' in out
            assert all(world.fakes[name].requests == [] for name in PROVIDERS)
            assert cli_main(["dispatch"]) == 0
            out = capsys.readouterr().out
        assert "postscript: queued 1, sent 1, failed 0" in out
        assert len(world.events("postscript")) == 1
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        get_settings.cache_clear()


def test_the_worker_has_due_scan_and_delivery_jobs() -> None:
    names = {job.name: job for job in JOBS}
    settings = Settings(due_scan_minutes=15, delivery_seconds=60)
    assert names["due-scan"].trigger(settings).interval == timedelta(minutes=15)
    assert names["delivery"].trigger(settings).interval == timedelta(seconds=60)


def test_run_dispatch_with_nothing_enabled_says_so(database_url: str) -> None:
    summary = run_dispatch(Settings(database_url=database_url), now=NOW)
    assert summary.lines() == ["no integration enabled (set an API key)"]


# --- a worker killed mid-delivery -----------------------------------------------------------


def test_a_worker_killed_mid_delivery_loses_nothing(world: World, tmp_path) -> None:  # noqa: ANN001
    """SIGKILL while the fakes are slow, restart: every key arrives; Klaviyo records each once;
    the others see at most the one in-flight repeat per kill."""
    now = utcnow()
    customers = 12
    with Session(get_engine(world.url)) as session:
        store = Store(session)
        for n in range(customers):
            person = store.customer(email=f"k{n}@example.com", gid=3000 + n)
            store.due(person, store.product(f"Kill {n}"), now - timedelta(days=30))
    env = {key: value for key, value in os.environ.items() if not key.startswith("REPEATCART_")}
    env.update(world.settings(delivery_claim_seconds=2).environment())
    env = subprocess_env(env)
    for fake in world.fakes.values():
        fake.delay_next(1000, 0.15)
    command = [sys.executable, "-m", "services.cli", "dispatch"]
    process = subprocess.Popen(
        command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(len(world.fakes[name].events) >= 3 for name in PROVIDERS):
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL
    accepted_before = {name: len(world.fakes[name].event_receipts) for name in PROVIDERS}
    assert all(0 < n < customers for n in accepted_before.values()), accepted_before
    for fake in world.fakes.values():
        fake.wait_idle(10)
    time.sleep(2.5)  # the killed worker's claims expire
    done = subprocess.run(
        command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]

    with Session(get_engine(world.url)) as session:
        rows = session.exec(select(OutboxMessage)).all()
        assert {row.status for row in rows} == {"sent"}, [(r.status, r.last_error) for r in rows]
        keys = {row.idempotency_key for row in rows if row.kind == "due"}
    assert len(keys) == customers
    for name in PROVIDERS:
        receipts = world.fakes[name].event_receipts
        assert set(receipts) == keys, f"{name} is missing an event"
        repeats = sum(n - 1 for n in receipts.values())
        assert repeats <= 1, f"{name}: {repeats} repeats after one kill"
    klaviyo = [e["data"]["attributes"]["unique_id"] for e in world.events("klaviyo")]
    assert sorted(klaviyo) == sorted(keys), "Klaviyo records each event once"


# --- scan windows and the merchant's tools ----------------------------------------------------


def test_a_tick_looks_at_what_changed_and_a_full_sweep_at_the_rest(
    world: World, store: Store
) -> None:
    world.scan()  # the first scan is a full sweep
    # a row recompute placed in the past (an imported order, a relearned interval)
    late_comer = store.customer(email="late@example.com", gid=4242)
    store.due(late_comer, store.product("Soap"), NOW - timedelta(days=31))
    tick = world.scan(NOW + timedelta(minutes=15))
    assert tick.of("postscript").queued == 0
    sweep = world.scan(NOW + timedelta(hours=6))
    assert sweep.of("postscript").queued == 1
    # becoming due as time passes is seen by the next tick
    soon = store.customer(email="soon@example.com", gid=4343)
    store.due(soon, store.product("Tea"), NOW - timedelta(days=26, hours=12))  # remind +12 h
    assert world.scan(NOW + timedelta(hours=6, minutes=15)).of("postscript").queued == 0
    assert world.scan(NOW + timedelta(hours=12, minutes=30)).of("postscript").queued == 1


def test_a_newly_enabled_integration_gets_everyone_due(world: World, store: Store) -> None:
    _one_due_customer(store)
    world.scan(attentive_api_key="")
    assert world.outbox(integration="attentive") == []
    summary = world.scan(NOW + timedelta(minutes=15))
    assert summary.of("attentive").queued == 2 and summary.of("klaviyo").queued == 0


def test_a_stopped_integration_can_be_resumed_without_a_new_key(world: World, store: Store) -> None:
    _one_due_customer(store)
    world.scan(klaviyo_api_key="", attentive_api_key="")
    fake = world.fakes["postscript"]
    fake.invalid_key(403)  # e.g. a missing permission, fixed at Postscript
    assert world.deliver(klaviyo_api_key="", attentive_api_key="").of("postscript").stopped
    fake.reset()
    with Session(get_engine(world.url)) as session:
        assert resume_integration(session, "postscript") is True
        assert resume_integration(session, "postscript") is False
        session.commit()
    assert world.deliver(klaviyo_api_key="", attentive_api_key="").of("postscript").sent == 1


def test_erasing_a_customer_empties_their_messages(world: World, store: Store) -> None:
    ava = _one_due_customer(store)
    ben = _one_due_customer(store, email="ben@example.com", gid=77)
    world.scan()
    with Session(get_engine(world.url)) as session:
        counts = outbox_counts(session)
        assert counts["klaviyo"] == {"pending": 4}
        assert erase_customer_messages(session, [ava.id]) == 5
        session.commit()
    rows = world.outbox(customer_id=ava.id)
    assert {(row.status, row.skip_reason) for row in rows} == {("skipped", "customer erased")}
    assert all(row.payload == {} for row in rows)
    summary = world.deliver()
    assert summary.of("postscript").sent == 1
    assert [e["email"] for e in world.events("postscript")] == [ben.email]
