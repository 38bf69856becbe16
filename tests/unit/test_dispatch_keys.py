"""Idempotency keys, outbox payloads and summaries: the pure parts of the dispatcher."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from services.dispatch import (
    DispatchSummary,
    IntegrationSummary,
    cycle_key,
    event_from_payload,
    event_to_payload,
    key_fingerprint,
    wire_body,
)
from services.messaging import DueEvent, DueProduct, Recipient
from services.messaging import payloads as wire

ANCHOR = datetime(2026, 10, 1, 9, 30, 0, 123456, tzinfo=UTC)
EVENT = DueEvent(
    kind="due",
    idempotency_key=cycle_key("due", 42, ANCHOR),
    occurred_at=datetime(2026, 11, 25, 12, tzinfo=UTC),
    cart_url="https://carts.example.com/cart/tok?ch=klaviyo",
    due_date=date(2026, 10, 31),
    products=(
        DueProduct(
            product_gid="gid://shopify/Product/7013593874511",
            product_id_numeric=7013593874511,
            title="Magic In A Box",
            handle="magic-in-a-box",
            price_cents=2400,
            currency="USD",
            image_url=None,
            variant_gid="gid://shopify/ProductVariant/40645138776143",
            variant_id_numeric=40645138776143,
            variant_title="250 ml",
        ),
    ),
    value_cents=2400,
    currency="USD",
    recipient=Recipient(email="ava@example.com", phone="+14155552671", external_id="123"),
)


def test_the_key_names_the_kind_the_customer_and_the_cycle() -> None:
    assert cycle_key("due", 42, ANCHOR) == "due-42-20261001093000"
    assert cycle_key("late", 42, ANCHOR) == "late-42-20261001093000"


def test_the_key_is_the_same_whatever_the_timezone_it_is_read_in() -> None:
    paris = ANCHOR.astimezone(timezone(timedelta(hours=2)))
    assert cycle_key("due", 42, paris) == cycle_key("due", 42, ANCHOR)


@given(
    customer=st.integers(min_value=1, max_value=2**63 - 1),
    anchor=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_keys_fit_every_provider_and_change_only_with_the_cycle(customer, anchor) -> None:
    key = cycle_key("late", customer, anchor)
    assert len(key) <= 64 and key.isascii() and " " not in key
    assert cycle_key("late", customer, anchor.replace(microsecond=0)) == key
    assert cycle_key("late", customer, anchor + timedelta(seconds=1)) != key
    assert cycle_key("due", customer, anchor) != key


def test_a_fingerprint_names_a_key_without_holding_it() -> None:
    fingerprint = key_fingerprint("pk_live_secret")
    assert len(fingerprint) == 12 and "secret" not in fingerprint
    assert fingerprint == key_fingerprint("pk_live_secret") != key_fingerprint("pk_live_other")


def test_an_event_survives_the_outbox_as_json() -> None:
    stored = json.loads(json.dumps(event_to_payload(EVENT)))
    assert event_from_payload(stored) == EVENT


def test_the_wire_body_is_the_adapters_own() -> None:
    payload = {"event": event_to_payload(EVENT)}
    assert wire_body("klaviyo", "due", payload) == wire.klaviyo_event_body(EVENT)
    assert wire_body("postscript", "due", payload) == wire.postscript_event_body(EVENT)
    assert wire_body("attentive", "due", payload) == wire.attentive_event_body(EVENT)
    link = {"recipient": {"email": "a@b.co", "phone": None, "external_id": None}, "cart_url": "u"}
    assert wire_body("attentive", "cart_url", link) == {
        "properties": {"Repeat Cart URL": "u"},
        "user": {"email": "a@b.co"},
    }


def test_the_summary_says_what_happened_per_integration() -> None:
    summary = DispatchSummary()
    summary.of("klaviyo").merge(
        IntegrationSummary(queued=3, sent=2, skipped=Counter({"reordered": 1}))
    )
    summary.of("postscript").stopped = "key refused: postscript: ... (HTTP 401)"
    summary.of("postscript").waiting = 4
    assert summary.lines() == [
        "klaviyo: queued 3, sent 2, failed 0, skipped 1 (reordered 1)",
        "postscript: queued 0, sent 0, failed 0, skipped 0; "
        "STOPPED: key refused: postscript: ... (HTTP 401) (4 waiting)",
    ]
    assert summary.fields()["klaviyo"]["skipped"] == {"reordered": 1}
    assert DispatchSummary().lines() == ["no integration enabled (set an API key)"]
