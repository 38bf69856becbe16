"""The fake Shopify Admin API enforces the contract: checked with plain httpx, not our client.

If the fake let a wrong request through, every client test run against it would prove nothing;
so each rule of CONTRACTS.md ("Shopify Admin API") is exercised here on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.shopify import queries
from services.shopify.query_cost import MAX_QUERY_COST, requested_cost
from tests.fakes.server import FakeServer
from tests.fakes.shopify import INVALID_TOKEN_MESSAGE, FakeShopify

TOKEN = "shpat_test"
SECRET = "shpss_webhook_secret"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeShopify]:
    with FakeShopify(token=TOKEN, throttle=False) as fake:
        yield fake


@pytest.fixture
def shopify(server: FakeShopify) -> FakeShopify:
    server.reset()
    return server


def post(
    fake: FakeShopify,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = TOKEN,
    version: str | None = None,
    timeout: float = 5.0,
) -> httpx.Response:
    headers = {} if token is None else {"X-Shopify-Access-Token": token}
    body = {"query": query, "variables": variables or {}}
    return httpx.post(fake.graphql_url(version), json=body, headers=headers, timeout=timeout)


def data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def error_codes(response: httpx.Response) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in response.json()["errors"]]


# --- the HTTP envelope -----------------------------------------------------------------------


def test_a_missing_or_wrong_token_is_401(shopify: FakeShopify) -> None:
    for token in (None, "shpat_wrong"):
        response = post(shopify, queries.SHOP_QUERY, token=token)
        assert response.status_code == 401
        assert response.json() == {"errors": INVALID_TOKEN_MESSAGE}


def test_a_malformed_or_unsupported_version_is_404(shopify: FakeShopify) -> None:
    assert post(shopify, queries.SHOP_QUERY, version="2026-11").status_code == 404
    assert post(shopify, queries.SHOP_QUERY, version="2025-10").status_code == 404
    response = post(shopify, queries.SHOP_QUERY, version="2026-10")
    assert data(response)["shop"] == {
        "name": shopify.shop_name,
        "myshopifyDomain": shopify.shop,
        "primaryDomain": {"url": f"https://{shopify.shop}", "host": shopify.shop},
        "currencyCode": "EUR",
        "ianaTimezone": "America/New_York",
    }
    assert response.headers["X-Shopify-API-Version"] == "2026-10"


def test_the_body_must_be_json_with_a_query(shopify: FakeShopify) -> None:
    headers = {"X-Shopify-Access-Token": TOKEN}
    as_text = httpx.post(
        shopify.graphql_url(),
        content=queries.SHOP_QUERY,
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert as_text.status_code in {400, 415}
    missing = httpx.post(shopify.graphql_url(), json={"variables": {}}, headers=headers)
    assert missing.status_code == 400
    assert missing.json() == {"errors": {"query": "Required parameter missing or invalid"}}


# --- query rules -----------------------------------------------------------------------------


def test_first_over_250_or_missing_is_refused_before_running(shopify: FakeShopify) -> None:
    over = post(shopify, "{ orders(first: 251) { nodes { id } } }")
    assert over.status_code == 200
    assert "data" not in over.json()
    assert error_codes(over) == ["BAD_REQUEST"]
    assert over.json()["errors"][0]["path"] == ["orders"]
    nested = post(shopify, queries.ORDERS_QUERY, {"first": 1, "lines": 300})
    assert error_codes(nested) == ["BAD_REQUEST"]
    missing = post(shopify, "{ products { nodes { id } } }")
    assert missing.json()["errors"][0]["message"] == "you must provide one of first or last"


def test_unknown_fields_and_missing_variables_are_refused(shopify: FakeShopify) -> None:
    unknown = post(shopify, "{ orders(first: 1) { nodes { id customer { email } } } }")
    assert error_codes(unknown) == ["undefinedField"]
    assert "doesn't exist on type 'Customer'" in unknown.json()["errors"][0]["message"]
    no_first = post(shopify, queries.ORDERS_QUERY, {"lines": 5})
    assert "data" not in no_first.json()
    assert "$first" in no_first.json()["errors"][0]["message"]


def test_a_query_over_1000_points_is_refused_with_max_cost_exceeded(shopify: FakeShopify) -> None:
    variables = {"first": 50, "lines": 10}
    expected = requested_cost(queries.ORDERS_QUERY, variables)
    response = post(shopify, queries.ORDERS_QUERY, variables)
    body = response.json()
    assert response.status_code == 200
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": expected,
        "maxCost": MAX_QUERY_COST,
    }
    assert error["message"].startswith(f"Query cost is {expected}, which exceeds")
    assert body["extensions"]["cost"]["requestedQueryCost"] == expected
    assert shopify.stats.max_cost_exceeded == 1


def test_every_reply_reports_its_cost_and_refunds_down_to_actual(shopify: FakeShopify) -> None:
    shopify.generate_orders(3, seed=2)
    variables = {"first": 20, "lines": 5}
    cost = post(shopify, queries.ORDERS_QUERY, variables).json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == requested_cost(queries.ORDERS_QUERY, variables)
    assert 0 < cost["actualQueryCost"] < cost["requestedQueryCost"]
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    assert shopify.stats.points_spent == cost["actualQueryCost"]


# --- pagination and filters ------------------------------------------------------------------


def all_orders(fake: FakeShopify, search: str | None = None, page: int = 7) -> list[dict]:
    nodes: list[dict] = []
    after = None
    while True:
        variables = {"first": page, "lines": 5, "after": after, "query": search}
        orders = data(post(fake, queries.ORDERS_QUERY, variables))["orders"]
        nodes += orders["nodes"]
        if not orders["pageInfo"]["hasNextPage"]:
            return nodes
        after = orders["pageInfo"]["endCursor"]


def remaining_lines(fake: FakeShopify, order: dict) -> list[dict]:
    lines = list(order["lineItems"]["nodes"])
    info = order["lineItems"]["pageInfo"]
    while info["hasNextPage"]:
        variables = {"id0": order["id"], "first": 2, "after0": info["endCursor"]}
        query = queries.order_line_items_batch_query(1)
        page = data(post(fake, query, variables))["o0"]["lineItems"]
        lines += page["nodes"]
        info = page["pageInfo"]
    return lines


def test_pagination_returns_every_order_once_with_all_its_lines(shopify: FakeShopify) -> None:
    shopify.generate_orders(60, seed=3)
    nodes = all_orders(shopify)
    assert sorted(node["id"] for node in nodes) == sorted(shopify.orders)
    keys = [(node["updatedAt"], int(node["id"].rsplit("/", 1)[1])) for node in nodes]
    assert keys == sorted(keys)
    long_orders = [node for node in nodes if node["lineItems"]["pageInfo"]["hasNextPage"]]
    assert long_orders, "the generator makes some orders with more than 5 lines"
    for node in nodes:
        stored = shopify.orders[node["id"]]["lineItems"]
        assert [line["sku"] for line in remaining_lines(shopify, node)] == [
            line["sku"] for line in stored
        ]
    assert shopify.stats.operations["Orders"] == -(-60 // 7)


def test_updated_at_and_created_at_filters(shopify: FakeShopify) -> None:
    stamps = ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]
    made = [shopify.add_order(created_at=stamp, updated_at=stamp) for stamp in stamps]
    ids = [order["id"] for order in made]

    def found(search: str) -> list[str]:
        return [node["id"] for node in all_orders(shopify, search, page=2)]

    assert found(f"updated_at:>'{stamps[1]}'") == ids[2:]
    assert found(f"updated_at:>='{stamps[1]}'") == ids[1:]
    assert found(f"updated_at:<'{stamps[1]}'") == ids[:1]
    assert found(f"updated_at:<='{stamps[1]}'") == ids[:2]
    assert found("created_at:>2026-01-15 created_at:<2026-02-15") == ids[1:2]
    assert found("updated_at:>'2026-01-15T00:00:00+02:00' status:any") == ids[1:]
    shopify.update_order(ids[0], email="new@example.com")
    assert found(f"updated_at:>'{stamps[2]}'") == [ids[0]]


def test_unknown_search_terms_are_ignored_with_a_warning(shopify: FakeShopify) -> None:
    shopify.add_order()
    body = post(shopify, queries.ORDERS_QUERY, {"first": 5, "lines": 1, "query": "colour:red"})
    assert len(body.json()["data"]["orders"]["nodes"]) == 1
    assert body.json()["extensions"]["search"][0]["warnings"][0]["field"] == "colour"


def test_products_filter_by_status_and_page_their_variants(shopify: FakeShopify) -> None:
    coffee = shopify.add_product("Coffee", 3, image_url=None)
    shopify.add_product("Old Tea", 1, status="ARCHIVED")
    variables = {"first": 10, "variants": 2, "groups": 2, "plans": 4, "query": "status:active"}
    products = data(post(shopify, queries.PRODUCTS_QUERY, variables))["products"]["nodes"]
    assert [product["id"] for product in products] == [coffee["id"]]
    assert products[0]["requiresSellingPlan"] is False
    assert products[0]["sellingPlanGroups"]["nodes"] == []
    assert products[0]["featuredMedia"] is None
    assert products[0]["status"] == "ACTIVE"
    variants = products[0]["variants"]
    assert [v["id"] for v in variants["nodes"]] == [v["id"] for v in coffee["variants"][:2]]
    assert variants["nodes"][0]["price"] == "12.50"
    follow_up = {"id": coffee["id"], "first": 100, "after": variants["pageInfo"]["endCursor"]}
    rest = data(post(shopify, queries.PRODUCT_VARIANTS_QUERY, follow_up))["node"]["variants"]
    assert [v["id"] for v in rest["nodes"]] == [coffee["variants"][2]["id"]]
    assert rest["pageInfo"]["hasNextPage"] is False


def test_node_resolves_known_gids_and_null_otherwise(shopify: FakeShopify) -> None:
    order = shopify.add_order()
    query = queries.order_line_items_batch_query(2)
    variables = {"id0": order["id"], "id1": "gid://shopify/Order/1", "first": 5}
    assert data(post(shopify, query, variables)) == {
        "o0": {
            "id": order["id"],
            "lineItems": {"pageInfo": {"hasNextPage": False, "endCursor": ANY}, "nodes": ANY},
        },
        "o1": None,
    }


# --- the cost bucket -------------------------------------------------------------------------


def test_an_overdrawn_bucket_answers_throttled_with_its_cost() -> None:
    with FakeShopify(token=TOKEN, bucket=100, restore_rate=1.0) as fake:
        variables = {"first": 2, "lines": 5}
        requested = requested_cost(queries.ORDERS_QUERY, variables)
        assert 20 < requested < 100
        first = post(fake, queries.ORDERS_QUERY, variables).json()
        status = first["extensions"]["cost"]["throttleStatus"]
        assert status["maximumAvailable"] == 100
        assert status["restoreRate"] == 1
        assert (
            status["currentlyAvailable"] >= 100 - first["extensions"]["cost"]["actualQueryCost"] - 1
        )
        fake.set_bucket(available=10)
        response = post(fake, queries.ORDERS_QUERY, variables)
        body = response.json()
        assert response.status_code == 200
        assert "data" not in body
        assert error_codes(response) == ["THROTTLED"]
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] == requested
        assert cost["actualQueryCost"] is None
        assert cost["throttleStatus"]["currentlyAvailable"] < requested
        assert fake.stats.throttled == 1
        fake.set_bucket(restore_rate=10_000)
        assert "data" in post(fake, queries.ORDERS_QUERY, variables).json()


def test_throttled_replies_can_be_http_429() -> None:
    with FakeShopify(token=TOKEN, throttled_status=429) as fake:
        fake.throttle_next(1)
        response = post(fake, queries.SHOP_QUERY)
        assert response.status_code == 429
        assert error_codes(response) == ["THROTTLED"]
        assert post(fake, queries.SHOP_QUERY).status_code == 200


# --- fault injection -------------------------------------------------------------------------


def test_fail_next_answers_errors_with_retry_after(shopify: FakeShopify) -> None:
    shopify.fail_next(1, status=500)
    shopify.fail_next(1, status=429, retry_after=2.0)
    assert post(shopify, queries.SHOP_QUERY).status_code == 500
    throttled = post(shopify, queries.SHOP_QUERY)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2.0"
    assert post(shopify, queries.SHOP_QUERY).status_code == 200
    assert shopify.stats.faults_injected == 2
    assert shopify.stats.requests == 3


def test_delay_next_trips_a_client_timeout(shopify: FakeShopify) -> None:
    shopify.delay_next(1, 0.5)
    with pytest.raises(httpx.ReadTimeout):
        post(shopify, queries.SHOP_QUERY, timeout=0.1)
    assert post(shopify, queries.SHOP_QUERY).status_code == 200


def test_drop_next_resets_the_connection(shopify: FakeShopify) -> None:
    shopify.drop_next(1)
    with pytest.raises(httpx.TransportError):
        post(shopify, queries.SHOP_QUERY)
    assert post(shopify, queries.SHOP_QUERY).status_code == 200


# --- bulk operations -------------------------------------------------------------------------


def run_bulk(fake: FakeShopify, search: str | None = None) -> dict[str, Any]:
    variables = {"query": queries.bulk_orders_query(search)}
    return data(post(fake, queries.BULK_RUN_MUTATION, variables))["bulkOperationRunQuery"]


def poll(fake: FakeShopify, gid: str) -> dict[str, Any]:
    return data(post(fake, queries.BULK_OPERATION_QUERY, {"id": gid}))["node"]


def test_a_bulk_operation_runs_once_at_a_time_and_serves_jsonl(shopify: FakeShopify) -> None:
    shopify.add_order(updated_at="2020-01-01T00:00:00Z")  # outside the filter below
    recent = shopify.generate_orders(40, seed=5, start=datetime(2026, 1, 1, tzinfo=UTC), days=30)
    started = run_bulk(shopify, "updated_at:>'2025-12-31T00:00:00Z'")
    assert started["userErrors"] == []
    gid = started["bulkOperation"]["id"]
    assert gid.startswith("gid://shopify/BulkOperation/")
    assert started["bulkOperation"]["status"] == "CREATED"
    busy = run_bulk(shopify)
    assert busy["bulkOperation"] is None
    assert "already in progress" in busy["userErrors"][0]["message"]

    assert poll(shopify, gid)["status"] == "RUNNING"
    done = poll(shopify, gid)
    assert done["status"] == "COMPLETED"
    assert done["errorCode"] is None
    lines = [json.loads(line) for line in httpx.get(done["url"]).text.splitlines()]
    assert done["objectCount"] == str(len(lines))

    parents = [line for line in lines if "__parentId" not in line]
    assert sorted(p["id"] for p in parents) == sorted(order["id"] for order in recent)
    assert "lineItems" not in parents[0]
    assert parents[0]["totalPriceSet"]["shopMoney"]["currencyCode"] == "EUR"
    current = None
    for line in lines:
        if "__parentId" not in line:
            current = line["id"]
            continue
        assert line["__parentId"] == current
        assert set(line) >= {"quantity", "sku", "variant", "originalUnitPriceSet"}
    total_lines = sum(len(order["lineItems"]) for order in recent)
    assert len(lines) == len(recent) + total_lines
    assert run_bulk(shopify)["userErrors"] == []  # the next one may start now


def test_a_bulk_operation_can_fail_and_bad_queries_are_user_errors(shopify: FakeShopify) -> None:
    shopify.generate_orders(5, seed=6)
    shopify.fail_next_bulk("INTERNAL_SERVER_ERROR")
    gid = run_bulk(shopify)["bulkOperation"]["id"]
    poll(shopify, gid)
    failed = poll(shopify, gid)
    assert failed["status"] == "FAILED"
    assert failed["errorCode"] == "INTERNAL_SERVER_ERROR"
    assert failed["url"] is None
    broken = data(post(shopify, queries.BULK_RUN_MUTATION, {"query": "{ orders { edges "}))
    assert broken["bulkOperationRunQuery"]["bulkOperation"] is None
    assert broken["bulkOperationRunQuery"]["userErrors"][0]["field"] == ["query"]


# --- data and webhooks -----------------------------------------------------------------------


def test_generated_orders_look_like_a_real_store(shopify: FakeShopify) -> None:
    orders = shopify.generate_orders(2000, seed=7)
    assert any(len(order["lineItems"]) > 5 for order in orders)
    assert any(order["cancelledAt"] for order in orders)
    assert any(order["test"] for order in orders)
    assert {"PAID", "REFUNDED", "PARTIALLY_REFUNDED"} <= {
        order["displayFinancialStatus"] for order in orders
    }
    buyers = [order["customer"]["id"] for order in orders if order["customer"]]
    assert len(set(buyers)) < len(buyers) / 2
    assert any(order["customer"] is None for order in orders)


def test_webhooks_are_signed_over_the_raw_body(shopify: FakeShopify) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    async def hook(request: Request) -> Response:
        received.append((await request.body(), dict(request.headers)))
        return Response(status_code=200)

    customer = shopify.add_customer("Ava", "ava@example.com", "+15550001111")
    product = shopify.add_product("Coffee", 2)
    order = shopify.add_order(
        [(product["variants"][1], 2)], customer=customer, attributes={"gift": "yes"}
    )
    receiver = Starlette(routes=[Route("/webhooks/shopify", hook, methods=["POST"])])
    with FakeServer(receiver) as server:
        url = f"{server.url}/webhooks/shopify"
        payload = shopify.order_payload(order["id"])
        response = shopify.send_webhook(url, "orders/create", payload, SECRET, event_id="ev-1")
    assert response.status_code == 200
    body, headers = received[0]
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    assert hmac.compare_digest(headers["x-shopify-hmac-sha256"].encode(), expected)
    assert headers["x-shopify-topic"] == "orders/create"
    assert headers["x-shopify-shop-domain"] == shopify.shop
    assert headers["x-shopify-api-version"] == "2026-10"
    assert headers["x-shopify-event-id"] == "ev-1"
    assert headers["x-shopify-webhook-id"] and headers["x-shopify-triggered-at"]
    assert headers["content-type"] == "application/json"

    sent = json.loads(body)
    assert sent["id"] == int(order["id"].rsplit("/", 1)[1])
    assert sent["admin_graphql_api_id"] == order["id"]
    assert sent["financial_status"] == "paid"
    assert sent["total_price"] == "25.00"
    assert sent["note_attributes"] == [{"name": "gift", "value": "yes"}]
    assert sent["customer"]["email"] == "ava@example.com"
    line = sent["line_items"][0]
    assert line["variant_id"] == int(product["variants"][1]["id"].rsplit("/", 1)[1])
    assert (line["quantity"], line["price"]) == (2, "12.50")
    assert datetime.fromisoformat(sent["created_at"]) == datetime.fromisoformat(order["createdAt"])

    redact = shopify.customer_redact_payload(order["id"])
    assert redact["orders_to_redact"] == [sent["id"]]
    buyer = {"id": sent["customer"]["id"], "email": "ava@example.com", "phone": "+15550001111"}
    assert redact["customer"] == buyer
    request = shopify.customer_data_request_payload(order["id"])
    assert request["orders_requested"] == [sent["id"]] and "id" in request["data_request"]
    assert shopify.shop_redact_payload() == {
        "shop_id": shopify.shop_id,
        "shop_domain": shopify.shop,
    }
