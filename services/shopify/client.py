"""The Shopify Admin GraphQL client: cost-aware paging, bulk operations, self-pacing.

Shopify meters GraphQL by points from a leaky bucket. The client computes each query's requested
cost before sending it, reads `throttleStatus` from every reply, and waits until the bucket holds
enough points, so a steady sync is never throttled. A THROTTLED reply anyway (another app shares
the bucket), a 429/503 with `Retry-After`, a 5xx, a timeout or a reset goes through the shared
`RetryPolicy`. It hands back plain records (`services.shopify.parse`) and never writes the
database: `services.sync.store_sync` does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from services.core.config import Settings
from services.core.provider_http import ProviderError, RetryLater, RetryPolicy, retry_after_seconds
from services.shopify import queries
from services.shopify.parse import order_record, product_record
from services.shopify.query_cost import requested_cost
from services.shopify.records import OrderRecord, ProductRecord

__all__ = [
    "BulkOperation",
    "OrderPage",
    "ProductPage",
    "ShopifyClient",
    "ThrottleStatus",
]

PROVIDER = "Shopify"
log = logging.getLogger(__name__)


@dataclass(slots=True)
class ThrottleStatus:
    """The bucket as last reported, and when: points restore linearly from there."""

    maximum: float
    available: float
    restore_rate: float
    observed_at: float

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + (now - self.observed_at) * self.restore_rate)


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: list[OrderRecord]
    end_cursor: str | None
    has_next: bool
    follow_ups: int


@dataclass(frozen=True, slots=True)
class ProductPage:
    products: list[ProductRecord]
    end_cursor: str | None
    has_next: bool


@dataclass(frozen=True, slots=True)
class BulkOperation:
    id: str
    status: str
    object_count: int = 0
    url: str | None = None
    partial_data_url: str | None = None
    error_code: str | None = None

    @property
    def finished(self) -> bool:
        return self.status not in ("CREATED", "RUNNING", "CANCELING")


@dataclass(slots=True)
class ClientStats:
    """What the client did, for sync reports and the restore-rate benchmark."""

    requests: int = 0
    throttled: int = 0
    points_requested: float = 0.0
    points_spent: float = 0.0
    paced_seconds: float = 0.0


class ShopifyClient:
    """One shop's Admin API. Thread-safe for pacing; use one instance per sync."""

    def __init__(
        self,
        shop: str,
        token: str,
        api_version: str,
        base_url: str = "",
        *,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise ProviderError(PROVIDER, "no Admin API token set (REPEATCART_SHOPIFY_TOKEN)")
        root = (base_url or f"https://{shop}").rstrip("/")
        self.endpoint = f"{root}/admin/api/{api_version}/graphql.json"
        self._http = httpx.Client(
            timeout=timeout,
            headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
        )
        self._download = httpx.Client(timeout=timeout)  # result URLs are not the Admin API
        self._policy = policy or RetryPolicy(attempts=8, sleep=sleep)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.throttle: ThrottleStatus | None = None
        self.stats = ClientStats()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> ShopifyClient:
        return cls(
            settings.shopify_shop,
            settings.secret("shopify_token"),
            settings.shopify_api_version,
            settings.shopify_base_url,
            **kwargs,
        )

    def close(self) -> None:
        self._http.close()
        self._download.close()

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def sleep(self, seconds: float) -> None:
        """Wait between polls with the client's own sleep (tests and benchmarks replace it)."""
        self._sleep(seconds)

    # --- the one way to send a query -------------------------------------------------------

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query or mutation and return its `data`; raises `ProviderError`."""
        variables = variables or {}
        cost = requested_cost(query, variables)
        body = json.dumps({"query": query, "variables": variables})
        self._pace(cost)

        def send() -> httpx.Response:
            self.stats.requests += 1
            return self._http.post(self.endpoint, content=body)

        response = self._policy.send(PROVIDER, send, lambda reply: self._classify(reply, cost))
        payload = self._json(response)
        if response.status_code in (401, 403):
            raise ProviderError(
                PROVIDER, "the access token was refused", status=response.status_code
            )
        if response.status_code == 404:
            raise ProviderError(
                PROVIDER,
                "no Admin API at this address (check the shop domain and API version)",
                status=404,
            )
        if response.status_code >= 400:
            raise ProviderError(
                PROVIDER, "request refused", status=response.status_code, detail=response.text
            )
        errors = payload.get("errors")
        if errors and payload.get("data") is None:
            raise ProviderError(PROVIDER, "query failed", status=200, detail=_messages(errors))
        if errors:
            log.warning("shopify query returned partial errors: %s", _messages(errors))
        return payload.get("data") or {}

    def _pace(self, cost: float) -> None:
        """Wait until the bucket (as last reported, restoring since) can pay `cost` up front."""
        with self._lock:
            throttle = self.throttle
            if throttle is None:
                return
            needed = min(cost, throttle.maximum) - throttle.available_at(self._clock())
            if needed <= 0:
                return
            wait = needed / throttle.restore_rate
            self.stats.paced_seconds += wait
        self._sleep(wait)

    def _classify(self, response: httpx.Response, cost: float) -> None:
        """Transient replies raise `RetryLater`: 429/5xx, and THROTTLED at any status."""
        payload = self._json(response) if response.status_code in (200, 429) else {}
        self._observe(payload)
        if _is_throttled(payload):
            self.stats.throttled += 1
            wait = retry_after_seconds(response)
            if wait is None and self.throttle is not None:
                wait = max(0.0, (cost - self.throttle.available)) / self.throttle.restore_rate
            raise RetryLater(response, wait)
        if response.status_code in (408, 429, 500, 502, 503, 504):
            raise RetryLater(response, retry_after_seconds(response))

    def _observe(self, payload: dict[str, Any]) -> None:
        cost = (payload.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus")
        with self._lock:
            if cost.get("requestedQueryCost") is not None:
                self.stats.points_requested += float(cost["requestedQueryCost"])
            if cost.get("actualQueryCost") is not None:
                self.stats.points_spent += float(cost["actualQueryCost"])
            if status:
                self.throttle = ThrottleStatus(
                    maximum=float(status["maximumAvailable"]),
                    available=float(status["currentlyAvailable"]),
                    restore_rate=float(status["restoreRate"]) or 1.0,
                    observed_at=self._clock(),
                )

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            return {}
        return payload if isinstance(payload, dict) else {}

    # --- orders ------------------------------------------------------------------------------

    def order_pages(
        self, search: str | None = None, after: str | None = None
    ) -> Iterator[OrderPage]:
        """Orders sorted by `updatedAt`, a page at a time, each order with all its line items."""
        lines = queries.LINE_ITEMS_PER_ORDER
        first = queries.orders_page_size(lines)
        while True:
            data = self.execute(
                queries.ORDERS_QUERY,
                {"first": first, "after": after, "query": search, "lines": lines},
            )
            connection = data["orders"]
            nodes = connection["nodes"]
            line_nodes = {
                node["id"]: list((node.get("lineItems") or {}).get("nodes") or []) for node in nodes
            }
            unfinished = {
                node["id"]: (node["lineItems"].get("pageInfo") or {}).get("endCursor")
                for node in nodes
                if ((node.get("lineItems") or {}).get("pageInfo") or {}).get("hasNextPage")
            }
            follow_ups = self._complete_line_items(unfinished, line_nodes)
            records = [order_record(node, line_nodes[node["id"]]) for node in nodes]
            info = connection["pageInfo"]
            after = info.get("endCursor")
            yield OrderPage(records, after, bool(info.get("hasNextPage")), follow_ups)
            if not info.get("hasNextPage"):
                return

    def _complete_line_items(
        self, unfinished: dict[str, str | None], lines: dict[str, list[dict[str, Any]]]
    ) -> int:
        """Fetch the rest of long orders' line items, many orders per request (aliased
        `node` queries sized to the cost limit); returns the requests made."""
        calls = 0
        size = queries.line_items_batch_size()
        pending = dict(unfinished)
        while pending:
            batch = list(pending.items())[:size]
            variables: dict[str, Any] = {"first": queries.BATCH_LINES}
            for i, (gid, cursor) in enumerate(batch):
                variables[f"id{i}"], variables[f"after{i}"] = gid, cursor
            data = self.execute(queries.order_line_items_batch_query(len(batch)), variables)
            calls += 1
            for i, (gid, _cursor) in enumerate(batch):
                connection = (data.get(f"o{i}") or {}).get("lineItems") or {}
                lines.setdefault(gid, []).extend(connection.get("nodes") or [])
                info = connection.get("pageInfo") or {}
                if info.get("hasNextPage"):
                    pending[gid] = info.get("endCursor")
                else:
                    del pending[gid]
        return calls

    # --- products ----------------------------------------------------------------------------

    def product_pages(self, search: str | None = None) -> Iterator[ProductPage]:
        variants = queries.VARIANTS_PER_PRODUCT
        sizes = {
            "variants": variants,
            "groups": queries.PLAN_GROUPS_PER_PRODUCT,
            "plans": queries.PLANS_PER_GROUP,
        }
        first = queries.products_page_size(variants)
        after: str | None = None
        while True:
            data = self.execute(
                queries.PRODUCTS_QUERY,
                {"first": first, "after": after, "query": search, **sizes},
            )
            connection = data["products"]
            records = []
            for node in connection["nodes"]:
                inner = node.get("variants") or {}
                variant_nodes = list(inner.get("nodes") or [])
                info = inner.get("pageInfo") or {}
                cursor = info.get("endCursor")
                while info.get("hasNextPage"):
                    more = self.execute(
                        queries.PRODUCT_VARIANTS_QUERY,
                        {"id": node["id"], "first": queries.FOLLOW_UP_PAGE, "after": cursor},
                    )
                    inner = (more.get("node") or {}).get("variants") or {}
                    variant_nodes += inner.get("nodes") or []
                    info = inner.get("pageInfo") or {}
                    cursor = info.get("endCursor")
                records.append(product_record(node, variant_nodes, self._plan_groups(node)))
            info = connection["pageInfo"]
            after = info.get("endCursor")
            yield ProductPage(records, after, bool(info.get("hasNextPage")))
            if not info.get("hasNextPage"):
                return

    def _plan_groups(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        """A product's selling plan groups; when the page cut them short, all of them (up to
        `FOLLOW_UP_PLAN_GROUPS` of `FOLLOW_UP_PLANS` each) in one follow-up query."""
        groups = node.get("sellingPlanGroups") or {}
        nodes = list(groups.get("nodes") or [])
        cut = (groups.get("pageInfo") or {}).get("hasNextPage") or any(
            ((group.get("sellingPlans") or {}).get("pageInfo") or {}).get("hasNextPage")
            for group in nodes
        )
        if not cut:
            return nodes
        more = self.execute(
            queries.PRODUCT_SELLING_PLANS_QUERY,
            {
                "id": node["id"],
                "groups": queries.FOLLOW_UP_PLAN_GROUPS,
                "plans": queries.FOLLOW_UP_PLANS,
            },
        )
        return list(((more.get("node") or {}).get("sellingPlanGroups") or {}).get("nodes") or [])

    def shop(self) -> dict[str, Any]:
        """The shop's name, domains, currency and time zone: also the cheapest "Test connection"."""
        return self.execute(queries.SHOP_QUERY)["shop"]

    # --- bulk operations ---------------------------------------------------------------------

    def start_bulk_orders(self, search: str | None = None) -> BulkOperation:
        data = self.execute(queries.BULK_RUN_MUTATION, {"query": queries.bulk_orders_query(search)})
        result = data["bulkOperationRunQuery"]
        if result.get("userErrors"):
            raise ProviderError(
                PROVIDER,
                "bulk operation refused",
                detail=_messages(result["userErrors"]),
            )
        operation = result["bulkOperation"]
        return BulkOperation(id=operation["id"], status=operation["status"])

    def bulk_operation(self, operation_id: str) -> BulkOperation:
        node = self.execute(queries.BULK_OPERATION_QUERY, {"id": operation_id}).get("node")
        if not node:
            return BulkOperation(id=operation_id, status="NOT_FOUND")
        return BulkOperation(
            id=node["id"],
            status=node["status"],
            object_count=int(node.get("objectCount") or 0),
            url=node.get("url"),
            partial_data_url=node.get("partialDataUrl"),
            error_code=node.get("errorCode"),
        )

    def wait_for_bulk(
        self, operation_id: str, *, poll_seconds: float = 2.0, timeout: float = 6 * 3600
    ) -> BulkOperation:
        started = self._clock()
        while True:
            operation = self.bulk_operation(operation_id)
            if operation.finished:
                return operation
            if self._clock() - started > timeout:
                raise ProviderError(PROVIDER, f"bulk operation {operation_id} did not finish")
            self._sleep(poll_seconds)

    def bulk_lines(self, url: str) -> Iterator[dict[str, Any]]:
        """The JSONL result, streamed line by line (files of 500k orders do not fit memory)."""

        def open_stream() -> httpx.Response:
            response = self._download.send(self._download.build_request("GET", url), stream=True)
            if response.status_code != 200:
                response.read()  # an error body is small; retries and errors may quote it
            return response

        response = self._policy.send(PROVIDER, open_stream)
        try:
            if response.status_code != 200:
                response.read()
                raise ProviderError(
                    PROVIDER, "bulk result download failed", status=response.status_code
                )
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)
        finally:
            response.close()


def _is_throttled(payload: dict[str, Any]) -> bool:
    errors = payload.get("errors")
    if not isinstance(errors, list):
        return False
    return any(
        isinstance(error, dict) and (error.get("extensions") or {}).get("code") == "THROTTLED"
        for error in errors
    )


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(error.get("message", error)) if isinstance(error, dict) else str(error)
            for error in errors
        )
    return str(errors)
