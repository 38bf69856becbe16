"""Webhook signatures and REST payloads → plain records (the adapter, no database)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from services.shopify.records import LineItemRecord, gid_tail
from services.shopify.webhook_protocol import (
    WebhookPayloadError,
    order_record,
    product_record,
    shape_problem,
    sign,
    verify_hmac,
)

SECRET = "shpss_test_secret"
BODY = json.dumps({"id": 1, "note": "é"}).encode()


def order_payload(**changes: object) -> dict:
    payload = {
        "id": 450789469,
        "admin_graphql_api_id": "gid://shopify/Order/450789469",
        "name": "#1001",
        "email": "Ava@Example.com",
        "phone": None,
        "created_at": "2025-10-07T09:50:26-04:00",
        "processed_at": "2025-10-07T09:50:26-04:00",
        "updated_at": "2025-10-08T10:00:00-04:00",
        "cancelled_at": None,
        "financial_status": "paid",
        "test": False,
        "total_price": "37.50",
        "currency": "eur",
        "note_attributes": [
            {"name": "_repeatcart_cart", "value": "7"},
            {"name": "gift", "value": 1},
            {"value": "nameless"},
        ],
        "customer": {
            "id": 207119551,
            "email": "ava@example.com",
            "phone": "+15550001111",
            "first_name": "Ava",
        },
        "line_items": [
            {
                "variant_id": 11,
                "product_id": 1,
                "quantity": 2,
                "price": "12.50",
                "title": "Coffee",
                "name": "Coffee - 1kg",
                "sku": "COF-1KG",
            },
            {
                "variant_id": None,
                "product_id": None,
                "quantity": "3",
                "price": "4",
                "title": "Tea",
                "sku": "",
            },
        ],
    }
    payload.update(changes)
    return payload


def product_payload(**changes: object) -> dict:
    payload = {
        "id": 632910392,
        "admin_graphql_api_id": "gid://shopify/Product/632910392",
        "title": "Coffee",
        "handle": "coffee",
        "status": "ACTIVE",
        "updated_at": "2025-10-08T10:00:00Z",
        "image": None,
        "images": [{"src": "https://cdn.example/coffee.png"}],
        "variants": [
            {
                "id": 11,
                "title": "1kg",
                "sku": "COF-1KG",
                "price": "24.00",
                "inventory_quantity": 5,
                "inventory_policy": "deny",
                "inventory_management": "shopify",
            },
            {
                "id": 12,
                "title": "250g",
                "sku": "",
                "price": "8.5",
                "inventory_quantity": 0,
                "inventory_policy": "deny",
                "inventory_management": "shopify",
            },
        ],
    }
    payload.update(changes)
    return payload


# --- HMAC ----------------------------------------------------------------------------------


def test_signature_is_base64_hmac_sha256_of_the_raw_body():
    expected = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert sign(SECRET, BODY) == expected
    assert verify_hmac(SECRET, BODY, expected)
    assert verify_hmac(SECRET, BODY, f"  {expected}\n")


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (SECRET, BODY, None),
        (SECRET, BODY, ""),
        (SECRET, BODY, "not base64 at all"),
        (SECRET, BODY, sign("another secret", BODY)),
        (SECRET, BODY + b" ", sign(SECRET, BODY)),  # tampered body
        (SECRET, json.dumps(json.loads(BODY)).encode() + b"\n", sign(SECRET, BODY)),
        ("", BODY, sign("", BODY)),  # no secret configured: nothing is trusted
        (SECRET, BODY, "ünïcode"),
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "wrong-secret",
        "tampered",
        "reserialised",
        "no-secret",
        "non-ascii",
    ],
)
def test_signature_refused(secret, body, header):
    assert verify_hmac(secret, body, header) is False


# --- orders --------------------------------------------------------------------------------


def test_order_payload_becomes_a_record():
    record = order_record(order_payload())
    assert record.gid == "gid://shopify/Order/450789469"
    assert record.name == "#1001"
    assert record.processed_at == datetime(2025, 10, 7, 13, 50, 26, tzinfo=UTC)
    assert record.updated_at == datetime(2025, 10, 8, 14, tzinfo=UTC)
    assert record.cancelled_at is None
    assert record.financial_status == "paid"
    assert record.test is False
    assert record.email == "Ava@Example.com"
    assert record.phone == "+15550001111"  # the customer's, as the order has none
    assert record.customer_gid == "gid://shopify/Customer/207119551"
    assert record.first_name == "Ava"
    assert (record.total_cents, record.currency) == (3750, "EUR")
    assert record.attributes == {"_repeatcart_cart": "7", "gift": "1"}
    assert record.lines == (
        LineItemRecord(
            title="Coffee - 1kg",
            sku="COF-1KG",
            quantity=2,
            unit_price_cents=1250,
            variant_gid="gid://shopify/ProductVariant/11",
            product_gid="gid://shopify/Product/1",
        ),
        LineItemRecord(title="Tea", sku=None, quantity=3, unit_price_cents=400),
    )


def test_order_gid_from_numeric_id_and_cancelled_order():
    payload = order_payload(
        admin_graphql_api_id=None,
        id="77",
        cancelled_at="2025-10-09T00:00:00Z",
        financial_status="REFUNDED",
        test=True,
        customer=None,
        processed_at=None,
    )
    record = order_record(payload)
    assert record.gid == "gid://shopify/Order/77"
    assert record.cancelled_at == datetime(2025, 10, 9, tzinfo=UTC)
    assert record.processed_at == datetime(2025, 10, 7, 13, 50, 26, tzinfo=UTC)  # created_at
    assert (record.financial_status, record.test) == ("refunded", True)
    assert (record.customer_gid, record.first_name, record.phone) == (None, "", None)


def test_order_line_quantity_is_what_is_left_after_edits():
    items = order_payload()["line_items"]
    items[0]["current_quantity"] = 1
    items[1]["current_quantity"] = 0  # removed by an order edit: dropped
    record = order_record(order_payload(line_items=items))
    assert [(line.title, line.quantity) for line in record.lines] == [("Coffee - 1kg", 1)]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "not a JSON object"),
        ("order", "not a JSON object"),
        (order_payload(id=None, admin_graphql_api_id=None), "has no id"),
        (order_payload(id="abc", admin_graphql_api_id=None), "bad order id"),
        (order_payload(id=True, admin_graphql_api_id=None), "bad order id"),
        (order_payload(created_at="yesterday", processed_at=None), "bad created_at"),
        (order_payload(processed_at="2025-10-07T09:50:26"), "no UTC offset"),
        (order_payload(created_at=None, processed_at=None), "neither processed_at"),
        (order_payload(updated_at=12), "not a string"),
        (order_payload(total_price="twelve"), "bad total_price"),
        (order_payload(line_items={"a": 1}), "not a list"),
        (order_payload(line_items=["x"]), "line item is not a JSON object"),
        (order_payload(line_items=[{"quantity": -1}]), "negative"),
        (order_payload(line_items=[{"title": "x"}]), "no quantity"),
        (order_payload(line_items=[{"quantity": 1, "variant_id": "v1"}]), "bad productvariant id"),
        (order_payload(customer="ava"), "customer is not an object"),
    ],
)
def test_malformed_order_payloads_are_refused(payload, message):
    with pytest.raises(WebhookPayloadError, match=message):
        order_record(payload)


# --- products ------------------------------------------------------------------------------


def test_product_payload_becomes_a_record():
    record = product_record(product_payload())
    assert record.gid == "gid://shopify/Product/632910392"
    assert (record.title, record.handle, record.status) == ("Coffee", "coffee", "active")
    assert record.updated_at == datetime(2025, 10, 8, 10, tzinfo=UTC)
    assert record.image_url == "https://cdn.example/coffee.png"
    assert [(v.gid, v.title, v.sku, v.price_cents, v.available) for v in record.variants] == [
        ("gid://shopify/ProductVariant/11", "1kg", "COF-1KG", 2400, True),
        ("gid://shopify/ProductVariant/12", "250g", None, 850, False),
    ]
    assert gid_tail(record.gid) == 632910392
    assert gid_tail("csv-product:coffee") is None


def test_product_image_prefers_the_main_image():
    record = product_record(product_payload(image={"src": "https://cdn.example/main.png"}))
    assert record.image_url == "https://cdn.example/main.png"
    assert product_record(product_payload(images=[])).image_url is None


@pytest.mark.parametrize(
    ("variant", "available"),
    [
        ({"inventory_quantity": 3, "inventory_policy": "deny", "inventory_management": "x"}, True),
        ({"inventory_quantity": 0, "inventory_policy": "deny", "inventory_management": "x"}, False),
        ({"inventory_quantity": -2, "inventory_policy": "deny"}, False),
        ({"inventory_quantity": 0, "inventory_policy": "continue"}, True),  # oversell allowed
        ({"inventory_quantity": 0, "inventory_management": None}, True),  # untracked
        ({"inventory_quantity": 0, "inventory_management": ""}, True),
        ({}, True),  # nothing said about inventory
    ],
)
def test_variant_availability(variant, available):
    payload = product_payload(variants=[{"id": 5, "price": "1.00", **variant}])
    assert product_record(payload).variants[0].available is available


def test_product_status_is_lowercased_and_archived_kept():
    assert product_record(product_payload(status="Archived")).status == "archived"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, "not a JSON object"),
        (product_payload(id=None, admin_graphql_api_id=None), "has no id"),
        (product_payload(updated_at="2025-13-01T00:00:00Z"), "bad updated_at"),
        (product_payload(updated_at=None, created_at=None), "no updated_at"),
        (product_payload(variants="many"), "not a list"),
        (product_payload(variants=[{"title": "x"}]), "productvariant has no id"),
        (product_payload(variants=[{"id": 1, "price": "1,5x"}]), "bad variant price"),
        (product_payload(variants=[{"id": 1, "inventory_quantity": "lots"}]), "bad quantity"),
    ],
)
def test_malformed_product_payloads_are_refused(payload, message):
    with pytest.raises(WebhookPayloadError, match=message):
        product_record(payload)


# --- each topic's shape --------------------------------------------------------------------

SHOP_DOMAIN = "tiny-store.myshopify.com"
CUSTOMER = {"id": 207119551, "email": "ava@example.com", "phone": "+15550001111"}
DATA_REQUEST = {
    "shop_id": 954889,
    "shop_domain": SHOP_DOMAIN,
    "orders_requested": [450789469],
    "customer": CUSTOMER,
    "data_request": {"id": 9999},
}
CUSTOMER_REDACT = {
    "shop_id": 954889,
    "shop_domain": SHOP_DOMAIN,
    "customer": CUSTOMER,
    "orders_to_redact": [450789469],
}
SHOP_REDACT = {"shop_id": 954889, "shop_domain": SHOP_DOMAIN}
BODIES = {
    "order": order_payload(),
    "product": product_payload(),
    "data_request": DATA_REQUEST,
    "customer_redact": CUSTOMER_REDACT,
    "shop_redact": SHOP_REDACT,
}
TOPIC_BODY = {
    "orders/create": "order",
    "orders/updated": "order",
    "products/update": "product",
    "customers/data_request": "data_request",
    "customers/redact": "customer_redact",
    "shop/redact": "shop_redact",
}


@pytest.mark.parametrize("topic", sorted(TOPIC_BODY))
def test_each_topic_accepts_its_own_shape_and_no_other(topic):
    """A signed body resent under another topic (the signature covers the body only) is told
    apart by its shape: every other topic's body is refused, with a reason."""
    assert shape_problem(topic, BODIES[TOPIC_BODY[topic]]) is None
    for kind, body in BODIES.items():
        if kind != TOPIC_BODY[topic]:
            problem = shape_problem(topic, body)
            assert problem and topic in problem, (topic, kind)


@pytest.mark.parametrize(
    ("topic", "body", "message"),
    [
        ("orders/create", order_payload(id=None), "no id"),
        ("orders/create", order_payload(id="abc"), "no id"),
        ("orders/updated", order_payload(line_items=None), "line_items"),
        ("orders/updated", order_payload(created_at=5), "created_at"),
        ("products/update", product_payload(title=None), "title"),
        ("products/update", product_payload(variants={"id": 1}), "variants"),
        ("customers/redact", {**CUSTOMER_REDACT, "customer": "ava"}, "customer"),
        ("customers/redact", {**CUSTOMER_REDACT, "orders_to_redact": None}, "orders_to_redact"),
        ("customers/redact", {**CUSTOMER_REDACT, "shop_id": None}, "shop_id"),
        ("customers/data_request", {**DATA_REQUEST, "data_request": 9999}, "data_request"),
        ("customers/data_request", {**DATA_REQUEST, "shop_domain": ""}, "shop_domain"),
        ("shop/redact", {"shop_domain": SHOP_DOMAIN}, "shop_id"),
        ("shop/redact", {"shop_id": 954889}, "shop_domain"),
        ("shop/redact", {**SHOP_REDACT, "shop_id": True}, "shop_id"),
        ("shop/redact", {**SHOP_REDACT, "orders_to_redact": []}, "orders_to_redact"),
        ("shop/redact", {**SHOP_REDACT, "customer": CUSTOMER}, "customer"),
        ("carts/update", {"id": 1}, "unsupported"),
    ],
)
def test_a_body_missing_its_topics_fields_is_refused(topic, body, message):
    problem = shape_problem(topic, body)
    assert problem is not None and message in problem
