"""The wire bodies, field by field against CONTRACTS.md and Repeat's event properties."""

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.messaging import payloads
from services.messaging.base import DueEvent, DueProduct, Recipient

CART = "https://carts.example.com/cart/tok123?utm_source=klaviyo"

SHAMPOO = DueProduct(
    product_gid="gid://shopify/Product/7013593874511",
    product_id_numeric=7013593874511,
    title="Magic In A Box",
    handle="magic-in-a-box",
    price_cents=2400,
    currency="USD",
    image_url="https://cdn.shopify.com/s/files/1/magic.png",
    variant_gid="gid://shopify/ProductVariant/40645138776143",
    variant_id_numeric=40645138776143,
    variant_title="250 ml",
)
SOAP = DueProduct(
    product_gid="gid://shopify/Product/7013593874512",
    product_id_numeric=7013593874512,
    title="Fizz In A Can",
    handle="fizz-in-a-can",
    price_cents=905,
    currency="USD",
    image_url=None,
    variant_gid="gid://shopify/ProductVariant/40645138776144",
    variant_id_numeric=40645138776144,
    variant_title="Default Title",
)
PERSON = Recipient(email="ava@example.com", phone="+14155552671", external_id="cust-42")


def make_event(kind="due", recipient=PERSON, occurred_at=None) -> DueEvent:
    return DueEvent(
        kind=kind,
        idempotency_key="due:42:2026-11-25",
        occurred_at=occurred_at or datetime(2026, 11, 25, 14, 0, 0, 123456, tzinfo=UTC),
        cart_url=CART,
        due_date=date(2026, 11, 25),
        products=(SHAMPOO, SOAP),
        value_cents=3305,
        currency="USD",
        recipient=recipient,
    )


PROPERTIES = {
    "Repeat Cart URL": CART,
    "reorderableProducts": [
        {
            "product": {
                "id": 7013593874511,
                "title": "Magic In A Box",
                "price": "24.00",
                "handle": "magic-in-a-box",
                "images": [{"src": "https://cdn.shopify.com/s/files/1/magic.png"}],
                "variant": {"id": 40645138776143, "title": "250 ml"},
            }
        },
        {
            "product": {
                "id": 7013593874512,
                "title": "Fizz In A Can",
                "price": "9.05",
                "handle": "fizz-in-a-can",
                "images": [],
                "variant": {"id": 40645138776144, "title": "Default Title"},
            }
        },
    ],
    "reorderable_product_ids": [7013593874511, 7013593874512],
    "reorderable_product_titles": ["Magic In A Box", "Fizz In A Can"],
    "due_date": "2026-11-25",
}


def test_properties_match_repeat():
    assert payloads.event_properties(make_event()) == PROPERTIES


@pytest.mark.parametrize(
    ("cents", "text"), [(2400, "24.00"), (905, "9.05"), (5, "0.05"), (0, "0.00"), (-150, "-1.50")]
)
def test_price_is_a_decimal_string(cents, text):
    assert payloads.price_string(cents) == text


def test_klaviyo_event():
    assert payloads.klaviyo_event_body(make_event()) == {
        "data": {
            "type": "event",
            "attributes": {
                "properties": PROPERTIES,
                "time": "2026-11-25T14:00:00+00:00",
                "value": 33.05,
                "value_currency": "USD",
                "unique_id": "due:42:2026-11-25",
                "metric": {
                    "data": {"type": "metric", "attributes": {"name": "Repeat - Due To Replenish"}}
                },
                "profile": {
                    "data": {
                        "type": "profile",
                        "attributes": {
                            "email": "ava@example.com",
                            "phone_number": "+14155552671",
                            "external_id": "cust-42",
                        },
                    }
                },
            },
        }
    }


def test_klaviyo_late_metric_and_time_in_utc():
    paris = timezone(timedelta(hours=1))
    body = payloads.klaviyo_event_body(
        make_event("late", occurred_at=datetime(2026, 11, 25, 15, 30, tzinfo=paris))
    )
    attributes = body["data"]["attributes"]
    assert attributes["metric"]["data"]["attributes"]["name"] == "Repeat - Late Due To Replenish"
    assert attributes["time"] == "2026-11-25T14:30:00+00:00"


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        payloads.klaviyo_event_body(make_event(occurred_at=datetime(2026, 11, 25, 14)))


def test_klaviyo_profile_import():
    assert payloads.klaviyo_profile_import_body(PERSON, CART) == {
        "data": {
            "type": "profile",
            "attributes": {
                "email": "ava@example.com",
                "phone_number": "+14155552671",
                "external_id": "cust-42",
                "properties": {"Repeat Cart URL": CART},
            },
        }
    }


def test_postscript_event():
    assert payloads.postscript_event_body(make_event()) == {
        "type": "DueToReplenish",
        "email": "ava@example.com",
        "phone": "+14155552671",
        "occurred_at": "2026-11-25 14:00:00.123",
        "external_id": "due:42:2026-11-25",
        "properties": PROPERTIES,
    }


def test_postscript_types_and_time_format():
    for kind in ("due", "late"):
        body = payloads.postscript_event_body(make_event(kind))
        assert re.fullmatch(r"[A-Za-z0-9_]+", body["type"])
    assert payloads.postscript_event_body(make_event("late"))["type"] == "LateDueToReplenish"
    on_the_second = make_event(occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert payloads.postscript_event_body(on_the_second)["occurred_at"] == "2026-01-02 03:04:05.000"


def test_attentive_event():
    assert payloads.attentive_event_body(make_event("late")) == {
        "type": "Repeat - Late Due To Replenish",
        "properties": PROPERTIES,
        "externalEventId": "due:42:2026-11-25",
        "occurredAt": "2026-11-25T14:00:00+00:00",
        "user": {
            "phone": "+14155552671",
            "email": "ava@example.com",
            "externalIdentifiers": {"clientUserId": "cust-42"},
        },
    }


def _keys(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def test_attentive_types_and_property_keys_use_allowed_characters():
    for kind in ("due", "late"):
        body = payloads.attentive_event_body(make_event(kind))
        assert not re.search(r"[\"'(){}\[\]\\|,]", body["type"])
        assert all(not re.search(r"[\"{}\[\]\\|]", key) for key in _keys(body["properties"]))


def test_attentive_attributes_are_flat():
    assert payloads.attentive_attributes_body(PERSON, CART) == {
        "properties": {"Repeat Cart URL": CART},
        "user": {
            "phone": "+14155552671",
            "email": "ava@example.com",
            "externalIdentifiers": {"clientUserId": "cust-42"},
        },
    }


def test_malformed_identifiers_are_left_out_not_sent():
    messy = Recipient(email="not-an-email", phone="(415) 555-2671", external_id="cust-42")
    assert payloads.klaviyo_identifiers(messy) == {"external_id": "cust-42"}
    assert payloads.postscript_identifiers(messy) == {}
    assert payloads.attentive_user(messy) == {"externalIdentifiers": {"clientUserId": "cust-42"}}
    email_only = Recipient(email=" ava@example.com ", phone=None, external_id=None)
    assert payloads.postscript_event_body(make_event(recipient=email_only))["email"] == (
        "ava@example.com"
    )
    assert "phone" not in payloads.postscript_event_body(make_event(recipient=email_only))


def test_about_to_lapse_has_its_own_names_and_the_days_since_the_last_order() -> None:
    event = make_event()
    event = DueEvent(
        kind="lapse",
        idempotency_key="lapse-42-20260901100000",
        occurred_at=event.occurred_at,
        cart_url=CART,
        due_date=event.due_date,
        products=event.products,
        value_cents=event.value_cents,
        currency="USD",
        recipient=PERSON,
        days_since_last_order=41,
    )
    expected = {**PROPERTIES, "days_since_last_order": 41}
    klaviyo = payloads.klaviyo_event_body(event)["data"]["attributes"]
    assert klaviyo["metric"]["data"]["attributes"]["name"] == "Repeat - About To Lapse"
    assert klaviyo["properties"] == expected
    postscript = payloads.postscript_event_body(event)
    assert postscript["type"] == "AboutToLapse"
    assert re.fullmatch(r"[A-Za-z0-9_]+", postscript["type"])
    assert postscript["properties"] == expected
    attentive = payloads.attentive_event_body(event)
    assert attentive["type"] == "Repeat - About To Lapse"
    assert attentive["properties"] == expected
    # the due events never carry it
    assert "days_since_last_order" not in payloads.event_properties(make_event("due"))
