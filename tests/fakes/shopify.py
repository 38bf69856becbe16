"""A fake Shopify Admin API that enforces CONTRACTS.md ("Shopify Admin API") over real HTTP.

A client that only ever met a mock would never learn that Shopify refuses a query costing over
1,000 points, throttles an overdrawn bucket, caps `first` at 250, pages with opaque cursors or
splits a bulk export into `__parentId` lines. This fake does all of that, from an in-memory store
of orders and products kept in the GraphQL (camelCase) shape:

    with FakeShopify(restore_rate=1000) as shopify:
        shopify.generate_orders(500, seed=1)
        settings.shopify_base_url = shopify.base_url
        ...

Queries are parsed and validated (graphql-core, against a small SDL of the fields the contract
names) and resolved by walking the AST over the store; costs come from
`services.shopify.query_cost`, so the client and the fake agree on the rules by construction.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import itertools
import json
import math
import random
import re
import socket
import struct
import threading
import time
import uuid
from bisect import bisect_left, bisect_right, insort
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from http import HTTPStatus
from types import TracebackType
from typing import Any

import httpx
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    build_schema,
    parse,
    print_ast,
    validate,
    value_from_ast_untyped,
)
from graphql.execution.values import get_variable_values
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from services.shopify.query_cost import MAX_QUERY_COST, actual_cost, requested_cost
from tests.fakes.server import FakeServer
from tests.fakes.shopify_discounts import (
    DISCOUNT_SDL,
    DISCOUNT_TYPES,
    DiscountFailure,
    FakeDiscounts,
)

__all__ = [
    "INVALID_TOKEN_MESSAGE",
    "FakeShopify",
    "ShopifyStats",
    "customers_data_request_payload",
    "customers_redact_payload",
    "order_webhook_payload",
    "product_webhook_payload",
    "send_webhook",
    "shop_redact_payload",
    "sign_webhook",
]

INVALID_TOKEN_MESSAGE = (
    "[API] Invalid API key or access token (unrecognized login or wrong password)"
)
MISSING_QUERY = {"errors": {"query": "Required parameter missing or invalid"}}
MAX_PAGE_SIZE = 250
BULK_IN_PROGRESS = "A bulk query operation for this app and shop is already in progress"
_VERSION = re.compile(r"^\d{4}-(01|04|07|10)$")
# codes: of a code creation
_NESTED_CONNECTIONS = frozenset(
    {"lineItems", "variants", "sellingPlanGroups", "sellingPlans", "codes"}
)
_ROOT_CONNECTIONS = frozenset({"orders", "products"})
_CONNECTIONS = _NESTED_CONNECTIONS | _ROOT_CONNECTIONS
_IMPLEMENTS = {
    "Order": {"Node"},
    "Product": {"Node"},
    "ProductVariant": {"Node"},
    "Customer": {"Node"},
    "BulkOperation": {"Node"},
    "MediaImage": {"Media", "Node"},
    **DISCOUNT_TYPES,
    "SellingPlanGroup": {"Node"},
    "SellingPlan": {"Node"},
}
_REST_TZ = timezone(timedelta(hours=-4))
"""Webhooks carry shop-local offsets, not Z: the default makes a client normalize them."""

SDL = """
schema { query: QueryRoot mutation: Mutation }

scalar DateTime
scalar Decimal
scalar Money
scalar URL
scalar UnsignedInt64

interface Node { id: ID! }

interface Media {
  id: ID!
  alt: String
  mediaContentType: MediaContentType!
  preview: MediaPreviewImage
}

enum MediaContentType { EXTERNAL_VIDEO IMAGE MODEL_3D VIDEO }
enum MediaPreviewImageStatus { FAILED PROCESSING READY UPLOADED }
enum CurrencyCode { AUD CAD CHF CZK DKK EUR GBP JPY NOK NZD PLN SEK USD }
enum OrderDisplayFinancialStatus {
  AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED
}
enum OrderSortKeys { CREATED_AT ID PROCESSED_AT UPDATED_AT }
enum ProductSortKeys { CREATED_AT ID TITLE UPDATED_AT }
enum ProductStatus { ACTIVE ARCHIVED DRAFT }
enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { MUTATION QUERY }
enum BulkOperationUserErrorCode { INVALID OPERATION_IN_PROGRESS }

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type Image { id: ID url: URL! altText: String width: Int height: Int }
type MediaPreviewImage { image: Image status: MediaPreviewImageStatus! }
type MediaImage implements Media & Node {
  id: ID!
  alt: String
  image: Image
  mediaContentType: MediaContentType!
  preview: MediaPreviewImage
}

type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }
type Attribute { key: String! value: String }

type CustomerEmailAddress { emailAddress: String }
type CustomerPhoneNumber { phoneNumber: String! }
type Customer implements Node {
  id: ID!
  firstName: String
  lastName: String
  displayName: String!
  defaultEmailAddress: CustomerEmailAddress
  defaultPhoneNumber: CustomerPhoneNumber
}

type ProductVariant implements Node {
  id: ID!
  title: String!
  displayName: String!
  sku: String
  price: Money!
  availableForSale: Boolean!
}
type ProductVariantEdge { cursor: String! node: ProductVariant! }
type ProductVariantConnection {
  edges: [ProductVariantEdge!]!
  nodes: [ProductVariant!]!
  pageInfo: PageInfo!
}

enum SellingPlanInterval { DAY MONTH WEEK YEAR }
enum SellingPlanPricingPolicyAdjustmentType { FIXED_AMOUNT PERCENTAGE PRICE }
enum SellingPlanCategory { OTHER PRE_ORDER SUBSCRIPTION TRY_BEFORE_YOU_BUY }
type SellingPlanRecurringDeliveryPolicy {
  interval: SellingPlanInterval!
  intervalCount: Int!
  createdAt: DateTime!
}
type SellingPlanFixedDeliveryPolicy { cutoff: Int createdAt: DateTime! }
union SellingPlanDeliveryPolicy =
  SellingPlanFixedDeliveryPolicy | SellingPlanRecurringDeliveryPolicy
type SellingPlanPricingPolicyPercentageValue { percentage: Float! }
union SellingPlanPricingPolicyAdjustmentValue =
  MoneyV2 | SellingPlanPricingPolicyPercentageValue
type SellingPlanFixedPricingPolicy {
  adjustmentType: SellingPlanPricingPolicyAdjustmentType!
  adjustmentValue: SellingPlanPricingPolicyAdjustmentValue!
  createdAt: DateTime!
}
type SellingPlanRecurringPricingPolicy {
  adjustmentType: SellingPlanPricingPolicyAdjustmentType!
  adjustmentValue: SellingPlanPricingPolicyAdjustmentValue!
  afterCycle: Int!
  createdAt: DateTime!
}
union SellingPlanPricingPolicy = SellingPlanFixedPricingPolicy | SellingPlanRecurringPricingPolicy
type SellingPlan implements Node {
  id: ID!
  name: String!
  description: String
  category: SellingPlanCategory
  position: Int
  deliveryPolicy: SellingPlanDeliveryPolicy!
  pricingPolicies: [SellingPlanPricingPolicy!]!
}
type SellingPlanEdge { cursor: String! node: SellingPlan! }
type SellingPlanConnection {
  edges: [SellingPlanEdge!]!
  nodes: [SellingPlan!]!
  pageInfo: PageInfo!
}
type SellingPlanGroup implements Node {
  id: ID!
  name: String!
  merchantCode: String!
  sellingPlans(
    first: Int, after: String, last: Int, before: String, reverse: Boolean = false
  ): SellingPlanConnection!
}
type SellingPlanGroupEdge { cursor: String! node: SellingPlanGroup! }
type SellingPlanGroupConnection {
  edges: [SellingPlanGroupEdge!]!
  nodes: [SellingPlanGroup!]!
  pageInfo: PageInfo!
}

type Product implements Node {
  id: ID!
  title: String!
  handle: String!
  status: ProductStatus!
  createdAt: DateTime!
  updatedAt: DateTime!
  requiresSellingPlan: Boolean!
  featuredMedia: Media
  variants(
    first: Int, after: String, last: Int, before: String, reverse: Boolean = false
  ): ProductVariantConnection!
  sellingPlanGroups(
    first: Int, after: String, last: Int, before: String, reverse: Boolean = false
  ): SellingPlanGroupConnection!
}
type ProductEdge { cursor: String! node: Product! }
type ProductConnection { edges: [ProductEdge!]! nodes: [Product!]! pageInfo: PageInfo! }

type LineItem {
  id: ID!
  name: String!
  title: String!
  quantity: Int!
  sku: String
  variantTitle: String
  variant: ProductVariant
  product: Product
  originalUnitPriceSet: MoneyBag!
  sellingPlan: LineItemSellingPlan
}
type LineItemSellingPlan { name: String! sellingPlanId: ID }
type LineItemEdge { cursor: String! node: LineItem! }
type LineItemConnection { edges: [LineItemEdge!]! nodes: [LineItem!]! pageInfo: PageInfo! }

type Order implements Node {
  id: ID!
  name: String!
  createdAt: DateTime!
  processedAt: DateTime!
  updatedAt: DateTime!
  cancelledAt: DateTime
  displayFinancialStatus: OrderDisplayFinancialStatus
  email: String
  phone: String
  test: Boolean!
  totalPriceSet: MoneyBag!
  customer: Customer
  customAttributes: [Attribute!]!
  lineItems(
    first: Int, after: String, last: Int, before: String, reverse: Boolean = false
  ): LineItemConnection!
}
type OrderEdge { cursor: String! node: Order! }
type OrderConnection { edges: [OrderEdge!]! nodes: [Order!]! pageInfo: PageInfo! }

type Shop {
  id: ID!
  name: String!
  email: String!
  myshopifyDomain: String!
  primaryDomain: Domain!
  currencyCode: CurrencyCode!
  ianaTimezone: String!
}
type Domain { id: ID! host: String! url: URL! sslEnabled: Boolean! }

type BulkOperation implements Node {
  id: ID!
  completedAt: DateTime
  createdAt: DateTime!
  errorCode: BulkOperationErrorCode
  fileSize: UnsignedInt64
  objectCount: UnsignedInt64!
  partialDataUrl: URL
  query: String!
  rootObjectCount: UnsignedInt64!
  status: BulkOperationStatus!
  type: BulkOperationType!
  url: URL
}
type BulkOperationUserError { code: BulkOperationUserErrorCode field: [String!] message: String! }
type BulkOperationRunQueryPayload {
  bulkOperation: BulkOperation
  userErrors: [BulkOperationUserError!]!
}

type QueryRoot {
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  order(id: ID!): Order
  orders(
    first: Int, after: String, last: Int, before: String, query: String,
    reverse: Boolean = false, sortKey: OrderSortKeys = ID
  ): OrderConnection!
  product(id: ID!): Product
  products(
    first: Int, after: String, last: Int, before: String, query: String,
    reverse: Boolean = false, sortKey: ProductSortKeys = ID
  ): ProductConnection!
  shop: Shop!
  bulkOperation(id: ID!): BulkOperation
}

type Mutation {
  bulkOperationRunQuery(query: String!, groupObjects: Boolean): BulkOperationRunQueryPayload
}
"""
SCHEMA = build_schema(SDL + DISCOUNT_SDL)


# --- small helpers -------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    """Shopify's GraphQL DateTime: UTC, whole seconds, `Z`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_DAY_PREFIXES: dict[int, str] = {}


def _iso_epoch(epoch: float) -> str:
    """`_iso` for a Unix time, with the date part cached: generating 100k orders calls it a lot."""
    day, rest = divmod(int(epoch), 86400)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        prefix = _DAY_PREFIXES[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def _as_iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _iso(value)


@lru_cache(maxsize=1 << 20)
def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def _gid_number(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1].split("?", 1)[0])


def _gid_kind(gid: str) -> str | None:
    match = re.fullmatch(r"gid://shopify/(\w+)/\d+", gid or "")
    return match.group(1) if match else None


def _cents(value: Any) -> int:
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(amount * 100)


def _decimal(cents: int) -> str:
    """Shopify's `Decimal` scalar drops trailing zeros ("37.0", "12.5"): clients must parse it."""
    text = f"{cents // 100}.{cents % 100:02d}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _money_str(cents: int) -> str:
    """`Money` (a variant's price) and REST amounts keep two places ("12.50")."""
    return f"{cents // 100}.{cents % 100:02d}"


def _money_bag(cents: int, currency: str) -> dict[str, Any]:
    money = {"amount": _decimal(cents), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def _encode_cursor(payload: Mapping[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as error:
        raise _Failure("Invalid cursor for current pagination sort.", "BAD_REQUEST") from error
    if not isinstance(payload, dict):
        raise _Failure("Invalid cursor for current pagination sort.", "BAD_REQUEST")
    return payload


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class _Failure(Exception):
    """A GraphQL error raised while resolving: the reply carries it and no data."""

    def __init__(self, message: str, code: str, node: FieldNode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.node = node

    def formatted(self, path: list[str | int] | None = None) -> dict[str, Any]:
        error = GraphQLError(
            self.message, nodes=self.node, path=path, extensions={"code": self.code}
        )
        return dict(error.formatted)


# --- search syntax --------------------------------------------------------------------------

_TERM = re.compile(
    r"""(?P<neg>-)?(?P<field>[A-Za-z_]+):(?P<op><=|>=|<|>)?"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)"""
)
_TIME_FIELDS = {
    "orders": {"updated_at": "updatedAt", "created_at": "createdAt", "processed_at": "processedAt"},
    "products": {"updated_at": "updatedAt", "created_at": "createdAt"},
}
_EQUAL_FIELDS = {
    "orders": {"financial_status", "status", "test", "email", "name", "id"},
    "products": {"status", "title", "handle", "id"},
}


@dataclass(frozen=True, slots=True)
class _Term:
    field: str
    op: str  # "=", ">", ">=", "<", "<="
    value: Any
    negate: bool


def _search_time(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _parse_search(query: str | None, kind: str) -> tuple[list[_Term], list[dict[str, str]]]:
    """Shopify's search syntax, the part the contract uses; unknown terms are ignored with a
    warning in `extensions.search`, as Shopify does, never an error."""
    terms: list[_Term] = []
    warnings: list[dict[str, str]] = []
    if not query:
        return terms, warnings
    leftover = _TERM.sub(" ", query)
    for word in leftover.split():
        if word.upper() not in {"AND", "OR", "NOT"}:
            warnings.append({"field": "default", "message": f"Free text '{word}' is ignored."})
    for match in _TERM.finditer(query):
        name = match["field"].lower()
        value = match["value"]
        if value[:1] in {"'", '"'}:
            value = value[1:-1]
        op = match["op"] or "="
        negate = bool(match["neg"])
        if name in _TIME_FIELDS[kind]:
            moment = _search_time(value)
            if moment is None:
                warnings.append({"field": name, "message": f"Invalid timestamp '{value}'."})
                continue
            terms.append(_Term(name, op, moment, negate))
        elif name in _EQUAL_FIELDS[kind]:
            terms.append(_Term(name, op, value, negate))
        else:
            warnings.append({"field": name, "message": "Invalid search field for this query."})
    return terms, warnings


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    return left == right


def _term_matches(term: _Term, row: Mapping[str, Any], kind: str) -> bool:
    name, value = term.field, term.value
    if name in _TIME_FIELDS[kind]:
        stamp = row.get(_TIME_FIELDS[kind][name])
        return stamp is not None and _compare(_epoch(stamp), term.op, value)
    if name == "id":
        return value.isdigit() and _compare(_gid_number(row["id"]), term.op, int(value))
    text = str(value).lower()
    if kind == "orders":
        if name == "financial_status":
            status = (row.get("displayFinancialStatus") or "").lower()
            return status in text.split(",")
        if name == "status":
            return {
                "cancelled": row.get("cancelledAt") is not None,
                "open": row.get("cancelledAt") is None,
            }.get(text, True)
        if name == "test":
            return str(bool(row.get("test"))).lower() == text
        if name == "email":
            return (row.get("email") or "").lower() == text
        if name == "name":
            return row.get("name") in {value, f"#{value}"}
    else:
        if name == "status":
            return (row.get("status") or "").lower() in text.split(",")
        if name == "title":
            return text in (row.get("title") or "").lower()
        if name == "handle":
            return row.get("handle") == value
    return True


def _predicate(terms: list[_Term], kind: str) -> Callable[[Mapping[str, Any]], bool]:
    def matches(row: Mapping[str, Any]) -> bool:
        return all(_term_matches(term, row, kind) != term.negate for term in terms)

    return matches


# --- the store ------------------------------------------------------------------------------


class _Table:
    """Rows by GID plus an index sorted by (updatedAt, numeric id).

    An incremental sync pages `sortKey: UPDATED_AT` with an `updated_at:>` filter; bisecting
    the index keeps each page cheap on a 100k-order store instead of sorting it every time.
    """

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.index: list[tuple[float, int, str]] = []
        self._keys: dict[str, tuple[float, int, str]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def put(self, row: dict[str, Any]) -> None:
        gid = row["id"]
        old = self._keys.get(gid)
        if old is not None:
            del self.index[bisect_left(self.index, old)]
        key = (_epoch(row["updatedAt"]), _gid_number(gid), gid)
        insort(self.index, key)
        self._keys[gid] = key
        self.rows[gid] = row

    def put_many(
        self, rows: Sequence[dict[str, Any]], epochs: Sequence[float] | None = None
    ) -> None:
        """Add many rows and sort the index once; `epochs` (of updatedAt) saves parsing."""
        for i, row in enumerate(rows):
            gid = row["id"]
            epoch = float(epochs[i]) if epochs is not None else _epoch(row["updatedAt"])
            self._keys[gid] = (epoch, _gid_number(gid), gid)
            self.rows[gid] = row
        self.index = sorted(self._keys.values())

    def remove(self, gid: str) -> dict[str, Any] | None:
        key = self._keys.pop(gid, None)
        if key is not None:
            del self.index[bisect_left(self.index, key)]
        return self.rows.pop(gid, None)

    def clear(self) -> None:
        self.rows.clear()
        self.index.clear()
        self._keys.clear()


# --- resolving ------------------------------------------------------------------------------

_SORT_FIELDS = {
    "UPDATED_AT": "updatedAt",
    "CREATED_AT": "createdAt",
    "PROCESSED_AT": "processedAt",
    "TITLE": "title",
    "ID": None,
}


def _sort_key(row: Mapping[str, Any], sort: str) -> tuple[Any, int]:
    number = _gid_number(row["id"])
    name = _SORT_FIELDS[sort]
    if name is None:
        return (number, number)
    if name == "title":
        return ((row.get("title") or "").lower(), number)
    return (_epoch(row[name]), number)


def _cursor_value(row: Mapping[str, Any], sort: str) -> Any:
    name = _SORT_FIELDS[sort]
    return _gid_number(row["id"]) if name is None else row.get(name)


def _cursor_key(cursor: Mapping[str, Any], sort: str) -> tuple[Any, int]:
    try:
        number = int(cursor["last_id"])
        value = cursor["last_value"]
        name = _SORT_FIELDS[sort]
        if name is None:
            return (int(value), number)
        if name == "title":
            return (str(value).lower(), number)
        return (_epoch(str(value)), number)
    except (KeyError, TypeError, ValueError) as error:
        raise _Failure("Invalid cursor for current pagination sort.", "BAD_REQUEST") from error


class _Resolver:
    """Walks one operation's selection sets over the store, returning the selected fields only."""

    def __init__(
        self,
        fake: FakeShopify,
        variables: Mapping[str, Any],
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> None:
        self.fake = fake
        self.variables = dict(variables)
        self.fragments = fragments
        self.search: list[dict[str, Any]] = []
        self._memo: dict[tuple[int, str | None], list[tuple[str, FieldNode, Any]]] = {}

    # selection plumbing

    def arguments(self, node: FieldNode) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for argument in node.arguments or ():
            value = value_from_ast_untyped(argument.value, self.variables)
            values[argument.name.value] = None if value is Undefined else value
        return values

    def _applies(self, condition: NamedTypeNode | None, typename: str | None) -> bool:
        if condition is None or typename is None:
            return True
        name = condition.name.value
        return name == typename or name in _IMPLEMENTS.get(typename, ())

    def fields(
        self, selection_set: SelectionSetNode, typename: str | None
    ) -> list[tuple[str, FieldNode, SelectionSetNode | None]]:
        """The fields selected on an object of `typename`, fragments applied, keys merged."""
        memo_key = (id(selection_set), typename)
        cached = self._memo.get(memo_key)
        if cached is not None:
            return cached
        grouped: dict[str, list[FieldNode]] = {}

        def visit(selections: SelectionSetNode) -> None:
            for selection in selections.selections:
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    grouped.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self._applies(selection.type_condition, typename):
                        visit(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments[selection.name.value]
                    if self._applies(fragment.type_condition, typename):
                        visit(fragment.selection_set)

        visit(selection_set)
        result: list[tuple[str, FieldNode, SelectionSetNode | None]] = []
        for key, nodes in grouped.items():
            sets = [node.selection_set for node in nodes if node.selection_set is not None]
            merged: SelectionSetNode | None = None
            if len(sets) == 1:
                merged = sets[0]
            elif sets:
                merged = SelectionSetNode(
                    selections=tuple(item for chosen in sets for item in chosen.selections)
                )
            result.append((key, nodes[0], merged))
        self._memo[memo_key] = result
        return result

    def select(self, obj: Mapping[str, Any], selection_set: SelectionSetNode) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, node, sub in self.fields(selection_set, obj.get("__typename")):
            out[key] = self.value(obj, node, sub)
        return out

    def value(self, obj: Mapping[str, Any], node: FieldNode, sub: SelectionSetNode | None) -> Any:
        name = node.name.value
        if name == "__typename":
            return obj.get("__typename")
        if name in _NESTED_CONNECTIONS and sub is not None:
            return self.list_connection(obj.get(name) or [], node, sub)
        value = obj.get(name)
        if sub is None or value is None:
            return value
        if isinstance(value, list):
            return [None if item is None else self.select(item, sub) for item in value]
        return self.select(value, sub)

    # connections

    def render_connection(
        self,
        selection_set: SelectionSetNode,
        rows: Sequence[Mapping[str, Any]],
        cursors: Sequence[str],
        has_next: bool,
        has_previous: bool,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, node, sub in self.fields(selection_set, None):
            name = node.name.value
            if name == "pageInfo" and sub is not None:
                info = {
                    "hasNextPage": has_next,
                    "hasPreviousPage": has_previous,
                    "startCursor": cursors[0] if cursors else None,
                    "endCursor": cursors[-1] if cursors else None,
                }
                out[key] = self.select(info, sub)
            elif name == "nodes" and sub is not None:
                out[key] = [self.select(row, sub) for row in rows]
            elif name == "edges" and sub is not None:
                out[key] = [
                    self.select({"cursor": cursor, "node": row}, sub)
                    for row, cursor in zip(rows, cursors, strict=True)
                ]
            elif name == "__typename":
                out[key] = None
        return out

    def list_connection(
        self, items: list[dict[str, Any]], node: FieldNode, sub: SelectionSetNode
    ) -> dict[str, Any]:
        args = self.arguments(node)
        _forward_only(args, node)
        start = 0
        if args.get("after"):
            cursor = _decode_cursor(args["after"])
            if not isinstance(cursor.get("offset"), int):
                raise _Failure("Invalid cursor for current pagination sort.", "BAD_REQUEST", node)
            start = cursor["offset"] + 1
        first = args.get("first")
        end = len(items) if first is None else min(len(items), start + first)
        rows = items[start:end]
        cursors = [_encode_cursor({"offset": start + i}) for i in range(len(rows))]
        return self.render_connection(sub, rows, cursors, end < len(items), start > 0)

    def root_connection(self, kind: str, node: FieldNode, sub: SelectionSetNode) -> dict[str, Any]:
        args = self.arguments(node)
        _forward_only(args, node)
        table = self.fake._table(kind)
        terms, warnings = _parse_search(args.get("query"), kind)
        if warnings:
            self.search.append({"path": [kind], "query": args.get("query"), "warnings": warnings})
        sort = args.get("sortKey") or "ID"
        first = args["first"]
        after = _decode_cursor(args["after"]) if args.get("after") else None
        if sort == "UPDATED_AT" and not args.get("reverse"):
            rows, has_next = _page_by_updated(table, terms, kind, first, after)
        else:
            rows, has_next = _page_sorted(table, terms, kind, first, after, sort, args)
        cursors = [
            _encode_cursor(
                {"last_id": _gid_number(row["id"]), "last_value": _cursor_value(row, sort)}
            )
            for row in rows
        ]
        return self.render_connection(sub, rows, cursors, has_next, after is not None)

    # roots

    def query_root(self, selection_set: SelectionSetNode) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, node, sub in self.fields(selection_set, "QueryRoot"):
            name = node.name.value
            args = self.arguments(node)
            if name == "__typename":
                out[key] = "QueryRoot"
            elif name in _ROOT_CONNECTIONS and sub is not None:
                out[key] = self.root_connection(name, node, sub)
            elif name == "shop" and sub is not None:
                out[key] = self.select(self.fake._shop_object(), sub)
            elif name == "nodes" and sub is not None:
                ids = args.get("ids") or []
                if len(ids) > MAX_PAGE_SIZE:
                    message = (
                        f"The input array size of {len(ids)} is greater than the maximum "
                        f"allowed of {MAX_PAGE_SIZE}."
                    )
                    raise _Failure(message, "MAX_INPUT_SIZE_EXCEEDED", node)
                found = [self.fake._node(gid, advance=True) for gid in ids]
                out[key] = [None if row is None else self.select(row, sub) for row in found]
            else:
                expected = {
                    "node": None, "order": "Order", "product": "Product",
                    "bulkOperation": "BulkOperation",
                    "discountRedeemCodeBulkCreation": "DiscountRedeemCodeBulkCreation",
                }[name]  # fmt: skip
                row = self.fake._node(args.get("id") or "", advance=True)
                if row is not None and expected and row.get("__typename") != expected:
                    row = None
                out[key] = None if row is None or sub is None else self.select(row, sub)
        return out

    def mutation_root(self, selection_set: SelectionSetNode) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, node, sub in self.fields(selection_set, "Mutation"):
            if node.name.value == "__typename":
                out[key] = "Mutation"
                continue
            args = self.arguments(node)
            try:
                if node.name.value == "discountCodeBasicCreate":
                    payload = self.fake.discounts.basic_create(args)
                elif node.name.value == "discountRedeemCodeBulkAdd":
                    payload = self.fake.discounts.bulk_add(args)
                else:
                    payload = self.fake._run_bulk(args.get("query") or "")
            except DiscountFailure as failure:
                raise _Failure(failure.message, failure.code, node) from failure
            out[key] = None if sub is None else self.select(payload, sub)
        return out

    # bulk

    def bulk_lines(self, root: FieldNode) -> tuple[list[bytes], int]:
        """The JSONL of a bulk query: each root node, then its nested connections' children
        on their own lines with `__parentId`, as Shopify writes them."""
        kind = root.name.value
        args = self.arguments(root)
        terms, _ = _parse_search(args.get("query"), kind)
        matches = _predicate(terms, kind)
        table = self.fake._table(kind)
        rows = sorted(
            (row for row in table.rows.values() if matches(row)),
            key=lambda row: _gid_number(row["id"]),
        )
        node_selection = _connection_node_selection(root)
        lines: list[bytes] = []
        if node_selection is None:
            return lines, 0
        for row in rows:
            parent: dict[str, Any] = {}
            children: list[tuple[str, SelectionSetNode]] = []
            for key, node, sub in self.fields(node_selection, row.get("__typename")):
                if node.name.value in _NESTED_CONNECTIONS and sub is not None:
                    inner = _connection_node_selection(node)
                    if inner is not None:
                        children.append((node.name.value, inner))
                    continue
                parent[key] = self.value(row, node, sub)
            lines.append(_dumps(parent))
            for name, inner in children:
                for child in row.get(name) or []:
                    line = self.select(child, inner)
                    line["__parentId"] = row["id"]
                    lines.append(_dumps(line))
        return lines, len(rows)


def _forward_only(args: Mapping[str, Any], node: FieldNode) -> None:
    if args.get("last") is not None or args.get("before") is not None:
        raise _Failure("The fake Shopify pages forward only (first/after).", "BAD_REQUEST", node)


def _connection_node_selection(node: FieldNode) -> SelectionSetNode | None:
    """The node's selection inside `edges { node { ... } }` or `nodes { ... }`."""
    if node.selection_set is None:
        return None
    for child in node.selection_set.selections:
        if not isinstance(child, FieldNode) or child.selection_set is None:
            continue
        if child.name.value == "nodes":
            return child.selection_set
        if child.name.value == "edges":
            for inner in child.selection_set.selections:
                if isinstance(inner, FieldNode) and inner.name.value == "node":
                    return inner.selection_set
    return None


def _page_by_updated(
    table: _Table,
    terms: list[_Term],
    kind: str,
    first: int,
    after: Mapping[str, Any] | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Keyset pagination over the (updatedAt, id) index, bounded by `updated_at` terms."""
    index = table.index
    start = 0
    upper: tuple[float, bool] | None = None
    for term in terms:
        if term.field != "updated_at" or term.negate:
            continue
        if term.op == ">":
            start = max(start, bisect_right(index, (term.value, math.inf)))
        elif term.op == ">=":
            start = max(start, bisect_left(index, (term.value,)))
        elif term.op in {"<", "<="}:
            inclusive = term.op == "<="
            if upper is None or term.value < upper[0]:
                upper = (term.value, inclusive)
    if after is not None:
        epoch, number = _cursor_key(after, "UPDATED_AT")
        start = max(start, bisect_right(index, (epoch, number, "\U0010ffff")))
    matches = _predicate(terms, kind)
    rows: list[dict[str, Any]] = []
    position = start
    while position < len(index) and len(rows) <= first:
        epoch, _, gid = index[position]
        position += 1
        if upper is not None and (epoch > upper[0] or (epoch == upper[0] and not upper[1])):
            break
        row = table.rows[gid]
        if matches(row):
            rows.append(row)
    return rows[:first], len(rows) > first


def _page_sorted(
    table: _Table,
    terms: list[_Term],
    kind: str,
    first: int,
    after: Mapping[str, Any] | None,
    sort: str,
    args: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], bool]:
    """Any other sort: filter and sort the whole table (fine for test-sized stores)."""
    matches = _predicate(terms, kind)
    reverse = bool(args.get("reverse"))
    rows = sorted(
        (row for row in table.rows.values() if matches(row)),
        key=lambda row: _sort_key(row, sort),
        reverse=reverse,
    )
    if after is not None:
        mark = _cursor_key(after, sort)
        if reverse:
            rows = [row for row in rows if _sort_key(row, sort) < mark]
        else:
            rows = [row for row in rows if _sort_key(row, sort) > mark]
    return rows[:first], len(rows) > first


def _page_size_errors(
    selection_set: SelectionSetNode,
    resolver: _Resolver,
    path: list[str | int],
    *,
    require_first: bool,
) -> list[dict[str, Any]]:
    """Shopify refuses a connection without `first`/`last`, or one over 250, before running."""
    errors: list[dict[str, Any]] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            here = [*path, key]
            if selection.name.value in _CONNECTIONS:
                args = resolver.arguments(selection)
                sizes = [(label, args.get(label)) for label in ("first", "last")]
                if require_first and all(size is None for _, size in sizes):
                    errors.append(
                        _Failure(
                            "you must provide one of first or last", "BAD_REQUEST", selection
                        ).formatted(here)
                    )
                for label, size in sizes:
                    if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
                        message = (
                            f"The requested page size ({label}: {size}) on '{key}' is outside "
                            f"0..{MAX_PAGE_SIZE}; the maximum page size is {MAX_PAGE_SIZE}."
                        )
                        errors.append(_Failure(message, "BAD_REQUEST", selection).formatted(here))
            if selection.selection_set is not None:
                errors += _page_size_errors(
                    selection.selection_set, resolver, here, require_first=require_first
                )
        elif isinstance(selection, InlineFragmentNode):
            errors += _page_size_errors(
                selection.selection_set, resolver, path, require_first=require_first
            )
        elif isinstance(selection, FragmentSpreadNode):
            fragment = resolver.fragments[selection.name.value]
            errors += _page_size_errors(
                fragment.selection_set, resolver, path, require_first=require_first
            )
    return errors


def _requested_cost(query: str, variables: Mapping[str, Any]) -> int:
    """`requested_cost`, memoised: only integer variables (`first`) can change it, and a sync
    sends the same document page after page with a new cursor."""
    sizes = tuple(sorted((k, v) for k, v in variables.items() if isinstance(v, int)))
    return _requested_cost_of(query, sizes)


@lru_cache(maxsize=1024)
def _requested_cost_of(query: str, sizes: tuple[tuple[str, int], ...]) -> int:
    return requested_cost(query, dict(sizes))


@lru_cache(maxsize=256)
def _prepare(query: str) -> tuple[DocumentNode | None, tuple[dict[str, Any], ...]]:
    """Parse and validate once per distinct document: a client sends the same few all day."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return None, (dict(error.formatted),)
    return document, tuple(_shopify_error(error) for error in validate(SCHEMA, document))


def _shopify_error(error: GraphQLError) -> dict[str, Any]:
    """graphql-core's validation message, reworded the way Shopify (graphql-ruby) says it."""
    formatted = dict(error.formatted)
    match = re.match(r"Cannot query field ['\"](\w+)['\"] on type ['\"](\w+)['\"]", error.message)
    if match:
        formatted["message"] = f"Field '{match[1]}' doesn't exist on type '{match[2]}'"
        formatted["extensions"] = {
            "code": "undefinedField", "typeName": match[2], "fieldName": match[1],
        }  # fmt: skip
    return formatted


def _coerce_variables(
    operation: OperationDefinitionNode, inputs: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result = get_variable_values(SCHEMA, operation.variable_definitions or (), inputs)
    if isinstance(result, list):
        errors = []
        for error in result:
            formatted = dict(error.formatted)
            formatted["extensions"] = {"code": "INVALID_VARIABLE"}
            errors.append(formatted)
        return {}, errors
    coerced = getattr(result, "coerced", result)  # graphql-core 3.3 wraps it; 3.2 does not
    return dict(coerced), []


# --- bookkeeping ----------------------------------------------------------------------------


@dataclass
class ShopifyStats:
    """What the fake saw: enough for tests to assert and for a benchmark to report pacing."""

    requests: int = 0
    operations: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    throttled: int = 0
    max_cost_exceeded: int = 0
    faults_injected: int = 0
    points_requested: int = 0
    points_spent: int = 0
    first_request_at: float | None = None
    last_request_at: float | None = None
    bulk_downloads: int = 0


@dataclass
class _Fault:
    kind: str  # "fail", "delay", "drop"
    status: int = 500
    retry_after: float | str | None = None
    seconds: float = 0.0
    body: Any = None


@dataclass
class _BulkOperation:
    number: int
    query: str
    root: FieldNode
    fragments: dict[str, FragmentDefinitionNode]
    created: float
    created_at: str
    status: str = "CREATED"
    polls: int = 0
    error_code: str | None = None
    partial: bool = False
    completed_at: str | None = None
    data: bytes | None = None
    partial_data: bytes | None = None
    object_count: int = 0
    root_object_count: int = 0

    @property
    def gid(self) -> str:
        return _gid("BulkOperation", self.number)


class _Bucket:
    """Shopify's leaky bucket of cost points, restored continuously at `restore_rate`."""

    def __init__(self, maximum: float, restore_rate: float, enabled: bool) -> None:
        self.maximum = float(maximum)
        self.restore_rate = float(restore_rate)
        self.enabled = enabled
        self.available = float(maximum)
        self._at = time.monotonic()

    def _restore(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self._at) * self.restore_rate)
        self._at = now

    def charge(self, points: int) -> bool:
        if not self.enabled:
            return True
        self._restore()
        if points > self.available:
            return False
        self.available -= points
        return True

    def refund(self, points: int) -> None:
        if self.enabled and points > 0:
            self._restore()
            self.available = min(self.maximum, self.available + points)

    def set(self, available: float) -> None:
        self._restore()
        self.available = max(0.0, min(self.maximum, float(available)))

    def status(self) -> dict[str, Any]:
        if self.enabled:
            self._restore()
        available = self.available if self.enabled else self.maximum
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": int(available),
            "restoreRate": self.restore_rate,
        }


# --- the fake -------------------------------------------------------------------------------

_FIRST_NAMES = (
    "Ava", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ines", "Jon", "Kai", "Lea",
    "Mo", "Nia", "Oren", "Pia", "Quinn", "Rae", "Sami", "Tove", "Uma", "Vik", "Wen", "Yara",
)  # fmt: skip
_PRODUCT_WORDS = (
    "Coffee Beans", "Green Tea", "Dog Food", "Cat Litter", "Vitamin D3", "Protein Powder",
    "Shampoo", "Face Cream", "Razor Blades", "Toothpaste", "Dish Soap", "Laundry Pods",
    "Oat Milk", "Granola", "Olive Oil", "Coffee Filters", "Contact Lens Solution",
    "Baby Wipes", "Diapers", "Bird Seed", "Fish Flakes", "Sparkling Water", "Honey", "Rice",
)  # fmt: skip
_SIZES = ("250g", "500g", "1kg", "2kg", "Small", "Large", "6-pack", "12-pack")


class FakeShopify:
    """A Shopify Admin API on 127.0.0.1 for one shop: GraphQL, cost bucket, bulk operations,
    fault injection, and signed webhooks built from its own store.

    `throttle=False` gives an effectively infinite bucket (never throttled; the reply still
    reports `maximumAvailable`). `throttled_status` is 200 (default) or 429: Shopify's is
    unconfirmed, so a client must handle both. Bulk operations advance one status per poll
    (CREATED → RUNNING → … → COMPLETED after `bulk_polls` polls) unless `bulk_delay` seconds
    are given, when they complete by the clock instead.
    """

    def __init__(
        self,
        shop: str = "repeatcart-test.myshopify.com",
        token: str = "shpat_test",
        versions: Iterable[str] = ("2026-10",),
        restore_rate: float = 100.0,
        bucket: int = 1000,
        throttle: bool = True,
        throttled_status: int = 200,
        *,
        shop_name: str = "RepeatCart Test Shop",
        shop_id: int = 548380009,
        currency: str = "EUR",
        primary_domain: str | None = None,
        timezone: str = "America/New_York",
        bulk_polls: int = 2,
        bulk_delay: float | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if throttled_status not in {200, 429}:
            raise ValueError("throttled_status is 200 or 429")
        self.shop = shop
        self.token = token
        self.versions = set(versions)
        self.shop_name = shop_name
        self.shop_id = shop_id
        self.currency = currency
        self.primary_domain = primary_domain or shop
        self.timezone = timezone
        self.throttled_status = throttled_status
        self.bulk_polls = max(1, bulk_polls)
        self.bulk_delay = bulk_delay
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stats = ShopifyStats()
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._bucket = _Bucket(bucket, restore_rate, throttle)
        self._orders = _Table()
        self._products = _Table()
        self._variants: dict[str, dict[str, Any]] = {}
        self._variant_product: dict[str, dict[str, Any]] = {}
        self._customers: dict[str, dict[str, Any]] = {}
        self._bulk: dict[int, _BulkOperation] = {}
        self._bulk_failures: deque[tuple[str, bool]] = deque()
        self._faults: deque[_Fault] = deque()
        self._forced_throttles = 0
        self.discounts = FakeDiscounts(lambda: _iso(self._now()))
        self._ids = {
            "Order": itertools.count(5_100_000_000_001),
            "LineItem": itertools.count(13_000_000_000_001),
            "Product": itertools.count(8_000_000_000_001),
            "ProductVariant": itertools.count(44_000_000_000_001),
            "MediaImage": itertools.count(30_000_000_000_001),
            "SellingPlanGroup": itertools.count(2_100_000_001),
            "SellingPlan": itertools.count(6_900_000_001),
            "Customer": itertools.count(7_000_000_000_001),
            "BulkOperation": itertools.count(1_000_000_001),
            "name": itertools.count(1001),
        }
        self._app = Starlette(
            routes=[
                Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"]),
                Route("/bulk/{name}", self._bulk_file, methods=["GET"]),
            ]
        )
        self._server: FakeServer | None = None

    # lifecycle

    def start(self) -> str:
        """Serve on a free 127.0.0.1 port; returns `base_url`."""
        self._server = FakeServer(self)
        self._server.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeShopify:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What `REPEATCART_SHOPIFY_BASE_URL` points at; the client appends the API path."""
        if self._server is None:
            raise RuntimeError("the fake Shopify is not started")
        return self._server.url

    def graphql_url(self, version: str | None = None) -> str:
        return f"{self.base_url}/admin/api/{version or self.default_version}/graphql.json"

    @property
    def default_version(self) -> str:
        return max(self.versions)

    def reset(self) -> None:
        """Forget data, faults, bulk operations and counters; refill the bucket."""
        with self._lock:
            self._orders.clear()
            self._products.clear()
            self._variants.clear()
            self._variant_product.clear()
            self._customers.clear()
            self._bulk.clear()
            self._bulk_failures.clear()
            self.clear_faults()
            self.reset_stats()
            self._bucket.set(self._bucket.maximum)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = ShopifyStats()
            self.calls = []

    # cost bucket

    @property
    def restore_rate(self) -> float:
        return self._bucket.restore_rate

    def set_bucket(
        self,
        *,
        available: float | None = None,
        restore_rate: float | None = None,
        maximum: float | None = None,
        throttle: bool | None = None,
    ) -> None:
        """Change the bucket mid-test (e.g. drain it to provoke THROTTLED)."""
        with self._lock:
            self._bucket._restore()
            if maximum is not None:
                self._bucket.maximum = float(maximum)
            if restore_rate is not None:
                self._bucket.restore_rate = float(restore_rate)
            if throttle is not None:
                self._bucket.enabled = throttle
            self._bucket.set(self._bucket.available if available is None else available)

    def throttle_status(self) -> dict[str, Any]:
        with self._lock:
            return self._bucket.status()

    def restore_share(self) -> float | None:
        """Points spent / points the bucket could give over the run (initial bucket + restore):
        how close a client's pacing came to the limit. None before two requests."""
        stats = self.stats
        if stats.first_request_at is None or stats.last_request_at is None:
            return None
        elapsed = stats.last_request_at - stats.first_request_at
        capacity = self._bucket.maximum + self._bucket.restore_rate * elapsed
        return stats.points_spent / capacity if capacity else None

    # fault injection

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        retry_after: float | str | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next `n` GraphQL requests with `status` (and `Retry-After` if given)."""
        with self._lock:
            for _ in range(n):
                self._faults.append(_Fault("fail", status, retry_after, body=body))

    def delay_next(self, n: int, seconds: float) -> None:
        """Hold the next `n` GraphQL requests `seconds` before answering (client timeouts)."""
        with self._lock:
            for _ in range(n):
                self._faults.append(_Fault("delay", seconds=seconds))

    def drop_next(self, n: int = 1) -> None:
        """Read the next `n` requests, then reset the connection without any answer."""
        with self._lock:
            for _ in range(n):
                self._faults.append(_Fault("drop"))

    def throttle_next(self, n: int = 1) -> None:
        """Answer the next `n` otherwise valid queries THROTTLED whatever the bucket holds."""
        with self._lock:
            self._forced_throttles += n

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._forced_throttles = 0

    def fail_next_bulk(
        self, error_code: str = "INTERNAL_SERVER_ERROR", *, partial: bool = False
    ) -> None:
        """The next bulk operation ends FAILED with `error_code` (and a partialDataUrl)."""
        with self._lock:
            self._bulk_failures.append((error_code, partial))

    # data: customers, products, orders

    @property
    def orders(self) -> dict[str, dict[str, Any]]:
        """The stored orders by GID (read-only use: change them with `update_order`)."""
        return self._orders.rows

    @property
    def products(self) -> dict[str, dict[str, Any]]:
        return self._products.rows

    @property
    def customers(self) -> dict[str, dict[str, Any]]:
        return self._customers

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def _bump(self, previous: str | None) -> str:
        """A fresh updatedAt that is strictly later than `previous`, as a change must be."""
        moment = self._now()
        if previous is not None:
            moment = max(moment, datetime.fromisoformat(previous) + timedelta(seconds=1))
        return _iso(moment)

    def add_customer(
        self,
        first_name: str | None = "Ava",
        email: str | None = None,
        phone: str | None = None,
        *,
        last_name: str | None = None,
        id: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            number = id if id is not None else next(self._ids["Customer"])
            customer = _customer_dict(number, first_name, last_name, email, phone)
            self._customers[customer["id"]] = customer
            return customer

    def add_product(
        self,
        title: str = "Coffee Beans",
        variants: int | Sequence[Mapping[str, Any] | tuple[Any, ...]] = 1,
        *,
        status: str = "ACTIVE",
        handle: str | None = None,
        image_url: str | None = "https://cdn.shopify.com/s/files/1/example.jpg",
        price: Any = "12.50",
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
        id: int | None = None,
        selling_plan_groups: Sequence[Mapping[str, Any]] = (),
        requires_selling_plan: bool = False,
    ) -> dict[str, Any]:
        """A product with variants given as a count, `(title, sku, price)` tuples or dicts
        (`title`, `sku`, `price`, `availableForSale`), and selling plan groups given as dicts
        (`name`, `plans`: see `_selling_plan`)."""
        with self._lock:
            number = id if id is not None else next(self._ids["Product"])
            now = self._now()
            specs: list[Mapping[str, Any]] = []
            if isinstance(variants, int):
                for i in range(variants):
                    size = _SIZES[i % len(_SIZES)] if variants > 1 else "Default Title"
                    sku = f"{_slug(title)[:12].upper()}-{i + 1}"
                    specs.append({"title": size, "sku": sku, "price": price})
            else:
                specs = [_variant_spec(spec) for spec in variants]
            product = {
                "__typename": "Product",
                "id": _gid("Product", number),
                "title": title,
                "handle": handle or _slug(title),
                "status": status.upper(),
                "createdAt": _as_iso(created_at) or _iso(now),
                "updatedAt": _as_iso(updated_at) or _iso(now),
                "requiresSellingPlan": requires_selling_plan,
                "featuredMedia": self._media(image_url),
                "variants": [self._variant(spec, title) for spec in specs],
                "sellingPlanGroups": [self._plan_group(g) for g in selling_plan_groups],
            }
            self._store_product(product)
            return product

    def _plan_group(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        number = spec.get("id") or next(self._ids["SellingPlanGroup"])
        name = spec.get("name") or "Subscribe and save"
        return {
            "__typename": "SellingPlanGroup",
            "id": number if isinstance(number, str) else _gid("SellingPlanGroup", number),
            "name": name,
            "merchantCode": _slug(name),
            "sellingPlans": [self._selling_plan(plan) for plan in spec.get("plans") or ()],
        }

    def _selling_plan(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A plan from `name`, `interval` (DAY/WEEK/MONTH/YEAR, recurring delivery; None for a
        fixed one), `interval_count`, and one of `percentage`, `amount` (off each item) or
        `price` (a fixed price); `id` is a number or a GID."""
        number = spec.get("id") or next(self._ids["SellingPlan"])
        created = _iso(self._now())
        interval = spec.get("interval", "MONTH")
        delivery: dict[str, Any] = (
            {
                "__typename": "SellingPlanRecurringDeliveryPolicy",
                "interval": interval,
                "intervalCount": int(spec.get("interval_count", 1)),
                "createdAt": created,
            }
            if interval
            else {
                "__typename": "SellingPlanFixedDeliveryPolicy",
                "cutoff": None,
                "createdAt": created,
            }
        )
        policies = []
        for kind, key in (
            ("PERCENTAGE", "percentage"),
            ("FIXED_AMOUNT", "amount"),
            ("PRICE", "price"),
        ):
            if spec.get(key) is None:
                continue
            value: dict[str, Any] = (
                {
                    "__typename": "SellingPlanPricingPolicyPercentageValue",
                    "percentage": float(spec[key]),
                }
                if key == "percentage"
                else {
                    "__typename": "MoneyV2",
                    "amount": _decimal(_cents(spec[key])),
                    "currencyCode": self.currency,
                }
            )
            policies.append(
                {
                    "__typename": "SellingPlanFixedPricingPolicy",
                    "adjustmentType": kind,
                    "adjustmentValue": value,
                    "createdAt": created,
                }
            )
        return {
            "__typename": "SellingPlan",
            "id": number if isinstance(number, str) else _gid("SellingPlan", number),
            "name": spec.get("name") or "Deliver every month",
            "description": None,
            "category": "SUBSCRIPTION",
            "position": None,
            "deliveryPolicy": delivery,
            "pricingPolicies": policies,
        }

    def _media(self, image_url: str | None) -> dict[str, Any] | None:
        if image_url is None:
            return None
        return {
            "__typename": "MediaImage",
            "id": _gid("MediaImage", next(self._ids["MediaImage"])),
            "alt": None,
            "mediaContentType": "IMAGE",
            "preview": {"image": {"url": image_url, "altText": None}, "status": "READY"},
        }

    def _variant(self, spec: Mapping[str, Any], product_title: str) -> dict[str, Any]:
        number = spec.get("id") or next(self._ids["ProductVariant"])
        title = spec.get("title") or "Default Title"
        return {
            "__typename": "ProductVariant",
            "id": number if isinstance(number, str) else _gid("ProductVariant", number),
            "title": title,
            "displayName": f"{product_title} - {title}",
            "sku": spec.get("sku"),
            "price": _money_str(_cents(spec.get("price", "10.00"))),
            "availableForSale": spec.get("availableForSale", True),
        }

    def _store_product(self, product: dict[str, Any]) -> None:
        self._products.put(product)
        for variant in product["variants"]:
            self._variants[variant["id"]] = variant
            self._variant_product[variant["id"]] = product

    def update_product(self, gid: str, **changes: Any) -> dict[str, Any]:
        """Change a product (camelCase or snake_case keys; `variants=` replaces them,
        `selling_plan_groups=` its plans, `image_url=` its media) and bump its updatedAt."""
        with self._lock:
            product = self._products.rows[gid]
            if "selling_plan_groups" in changes:
                groups = changes.pop("selling_plan_groups")
                product["sellingPlanGroups"] = [self._plan_group(g) for g in groups]
            if "image_url" in changes:
                product["featuredMedia"] = self._media(changes.pop("image_url"))
            if "variants" in changes:
                specs = changes.pop("variants")
                product["variants"] = [
                    self._variant(_variant_spec(spec), product["title"]) for spec in specs
                ]
            for key, value in changes.items():
                name = _camel(key)
                if name == "status":
                    value = value.upper()
                product[name] = _as_iso(value) if isinstance(value, datetime) else value
            if "updatedAt" not in {_camel(key) for key in changes}:
                product["updatedAt"] = self._bump(product["updatedAt"])
            self._store_product(product)
            return product

    def update_variant(self, gid: str, **changes: Any) -> dict[str, Any]:
        """Change a variant (e.g. `price="9.90"`, `availableForSale=False`); bumps its product."""
        with self._lock:
            variant = self._variants[gid]
            for key, value in changes.items():
                name = _camel(key)
                variant[name] = _money_str(_cents(value)) if name == "price" else value
            product = self._variant_product[gid]
            product["updatedAt"] = self._bump(product["updatedAt"])
            self._products.put(product)
            return variant

    def add_order(
        self,
        lines: Sequence[Any] = (),
        *,
        customer: Mapping[str, Any] | None = None,
        email: str | None = None,
        phone: str | None = None,
        created_at: datetime | str | None = None,
        processed_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
        cancelled_at: datetime | str | None = None,
        financial_status: str | None = "PAID",
        test: bool = False,
        attributes: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        currency: str | None = None,
        name: str | None = None,
        total: Any = None,
        id: int | None = None,
    ) -> dict[str, Any]:
        """An order. A line is a variant dict (quantity 1), a `(variant, quantity)` tuple or a
        dict (`variant`, `product`, `quantity`, `price`, `title`, `sku`); variants may be
        given by GID. Email/phone default to the customer's; the total to the lines' sum."""
        with self._lock:
            currency = currency or self.currency
            created = _as_iso(created_at) or _iso(self._now())
            items = [self._line_item(spec, currency) for spec in lines]
            if total is None:
                cents = sum(item.pop("_cents") for item in items)
            else:
                cents = _cents(total)
                for item in items:
                    item.pop("_cents")
            if customer is not None:
                email = email or (customer.get("defaultEmailAddress") or {}).get("emailAddress")
                phone = phone or (customer.get("defaultPhoneNumber") or {}).get("phoneNumber")
            if isinstance(attributes, Mapping):
                attributes = list(attributes.items())
            order = {
                "__typename": "Order",
                "id": _gid("Order", id if id is not None else next(self._ids["Order"])),
                "name": name or f"#{next(self._ids['name'])}",
                "createdAt": created,
                "processedAt": _as_iso(processed_at) or created,
                "updatedAt": _as_iso(updated_at) or created,
                "cancelledAt": _as_iso(cancelled_at),
                "displayFinancialStatus": financial_status,
                "email": email,
                "phone": phone,
                "test": test,
                "totalPriceSet": _money_bag(cents, currency),
                "customer": customer,
                "customAttributes": [{"key": k, "value": v} for k, v in attributes or ()],
                "lineItems": items,
            }
            self._orders.put(order)
            return order

    def _line_item(self, spec: Any, currency: str) -> dict[str, Any]:
        if isinstance(spec, tuple):
            spec = {"variant": spec[0], "quantity": spec[1]}
        elif isinstance(spec, Mapping) and spec.get("__typename") == "ProductVariant":
            spec = {"variant": spec}
        variant = spec.get("variant")
        if isinstance(variant, str):
            variant = self._variants.get(variant, {"__typename": "ProductVariant", "id": variant})
        product = spec.get("product")
        if isinstance(product, str):
            product = self._products.rows.get(product, {"__typename": "Product", "id": product})
        if product is None and variant is not None:
            product = self._variant_product.get(variant["id"])
        title = spec.get("title") or (product or {}).get("title") or "Custom item"
        variant_title = (variant or {}).get("title")
        price = spec.get("price", (variant or {}).get("price", "0"))
        quantity = int(spec.get("quantity", 1))
        cents = _cents(price)
        return {
            "__typename": "LineItem",
            "id": _gid("LineItem", next(self._ids["LineItem"])),
            "name": f"{title} - {variant_title}"
            if variant_title and variant_title != "Default Title"
            else title,
            "title": title,
            "variantTitle": variant_title,
            "quantity": quantity,
            "sku": spec.get("sku", (variant or {}).get("sku")),
            "variant": variant,
            "product": product,
            "originalUnitPriceSet": _money_bag(cents, currency),
            "sellingPlan": self._line_plan(spec.get("selling_plan"), product),
            "_cents": cents * quantity,
        }

    def _line_plan(self, plan: Any, product: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A line bought with a selling plan (its GID, or a plan dict) carries its name and id."""
        if plan is None:
            return None
        gid = plan if isinstance(plan, str) else plan["id"]
        groups = (product or {}).get("sellingPlanGroups") or ()
        known = {p["id"]: p for g in groups for p in g["sellingPlans"]}
        name = (known.get(gid) or (plan if isinstance(plan, Mapping) else {})).get("name")
        return {"__typename": "LineItemSellingPlan", "name": name or "", "sellingPlanId": gid}

    def update_order(self, gid: str, **changes: Any) -> dict[str, Any]:
        """Change an order (camelCase or snake_case keys, datetimes welcome; `lines=`
        replaces its line items, `attributes=` its custom attributes) and bump updatedAt."""
        with self._lock:
            order = self._orders.rows[gid]
            currency = order["totalPriceSet"]["shopMoney"]["currencyCode"]
            if "lines" in changes:
                items = [self._line_item(spec, currency) for spec in changes.pop("lines")]
                cents = sum(item.pop("_cents") for item in items)
                order["lineItems"] = items
                order["totalPriceSet"] = _money_bag(cents, currency)
            if "attributes" in changes:
                attributes = changes.pop("attributes") or ()
                if isinstance(attributes, Mapping):
                    attributes = list(attributes.items())
                order["customAttributes"] = [{"key": k, "value": v} for k, v in attributes]
            if "total" in changes:
                order["totalPriceSet"] = _money_bag(_cents(changes.pop("total")), currency)
            if "financial_status" in changes:
                changes["displayFinancialStatus"] = changes.pop("financial_status")
            for key, value in changes.items():
                order[_camel(key)] = _as_iso(value) if isinstance(value, datetime) else value
            if "updatedAt" not in {_camel(key) for key in changes}:
                order["updatedAt"] = self._bump(order["updatedAt"])
            self._orders.put(order)
            return order

    def cancel_order(
        self, gid: str, *, financial_status: str = "REFUNDED", at: datetime | None = None
    ) -> dict[str, Any]:
        return self.update_order(
            gid, cancelledAt=_iso(at or self._now()), displayFinancialStatus=financial_status
        )

    def remove_order(self, gid: str) -> dict[str, Any] | None:
        with self._lock:
            return self._orders.remove(gid)

    def generate_products(self, n: int = 24, *, seed: int = 0) -> list[dict[str, Any]]:
        """A catalog of consumables: 1–3 variants each, a few drafts/archived, some imageless."""
        rng = random.Random(seed)
        made = []
        for i in range(n):
            word = _PRODUCT_WORDS[i % len(_PRODUCT_WORDS)]
            title = word if i < len(_PRODUCT_WORDS) else f"{word} {i // len(_PRODUCT_WORDS) + 1}"
            count = rng.choice((1, 1, 2, 3))
            base = rng.randint(5, 60)
            variants = [
                (
                    _SIZES[j] if count > 1 else "Default Title",
                    f"{_slug(title)[:10].upper()}-{j + 1}",
                    f"{base + 4 * j}.{rng.choice(('00', '50', '90', '99'))}",
                    rng.random() > 0.05,
                )
                for j in range(count)
            ]
            status = rng.choices(("ACTIVE", "DRAFT", "ARCHIVED"), (90, 5, 5))[0]
            image = None if rng.random() < 0.15 else f"https://cdn.shopify.com/p/{_slug(title)}.jpg"
            made.append(self.add_product(title, variants, status=status, image_url=image))
        return made

    def generate_orders(
        self,
        n: int,
        *,
        seed: int = 0,
        products: Sequence[Mapping[str, Any]] | None = None,
        start: datetime | None = None,
        days: float = 365,
        customers: int | None = None,
    ) -> list[dict[str, Any]]:
        """`n` realistic orders fast (100k in seconds): 1–4 lines mostly, ~5 % with 6–12
        lines (so follow-up line-item queries are needed), some cancelled, test, refunded or
        pending, guest checkouts, and customers who come back (a skewed pool of n/3)."""
        enabled = gc.isenabled()
        gc.disable()  # the collector rescanning 100k fresh dicts tripled the time
        try:
            return self._generate_orders(n, seed, products, start, days, customers)
        finally:
            if enabled:
                gc.enable()

    def _generate_orders(
        self,
        n: int,
        seed: int,
        products: Sequence[Mapping[str, Any]] | None,
        start: datetime | None,
        days: float,
        customers: int | None,
    ) -> list[dict[str, Any]]:
        rng = random.Random(seed)
        with self._lock:
            catalog = list(products or self._products.rows.values())
            if not catalog:
                catalog = self.generate_products(24, seed=seed)
            variants = [(v, p) for p in catalog for v in p["variants"]]
            variant_weights = list(itertools.accumulate(1 / (i + 1) for i in range(len(variants))))
            prices = {v["id"]: _cents(v["price"]) for v, _ in variants}
            bags = {v["id"]: _money_bag(prices[v["id"]], self.currency) for v, _ in variants}
            pool_size = max(1, customers or n // 3)
            pool = []
            for i in range(pool_size):
                number = next(self._ids["Customer"])
                kind = rng.random()
                email = None if kind < 0.1 else f"shopper{number % 10_000_000}@example.com"
                phone = f"+1555{number % 10_000_000:07d}" if kind < 0.4 else None
                first = _FIRST_NAMES[i % len(_FIRST_NAMES)]
                customer = _customer_dict(number, first, None, email, phone)
                self._customers[customer["id"]] = customer
                pool.append(customer)
            customer_weights = list(
                itertools.accumulate(1 / (i + 1) ** 0.6 for i in range(pool_size))
            )
            now_epoch = self._now().timestamp()
            span = days * 86400
            begin = start.timestamp() if start else now_epoch - span
            moments = sorted(int(begin + rng.random() * span) for _ in range(n))
            # draw everything at once: per-order random calls made 100k orders slow
            counts = rng.choices((1, 2, 3, 4, 0), (45, 27, 15, 8, 5), k=n)
            counts = [count or rng.randint(6, 12) for count in counts]
            picks = iter(
                rng.choices(range(len(variants)), cum_weights=variant_weights, k=sum(counts))
            )
            quantities = iter(rng.choices((1, 2, 3), (50, 35, 15), k=sum(counts)))
            buyers = rng.choices(pool, cum_weights=customer_weights, k=n)
            templates = []
            for variant, product in variants:
                suffix = "" if variant["title"] == "Default Title" else f" - {variant['title']}"
                templates.append(
                    {
                        "__typename": "LineItem",
                        "name": product["title"] + suffix,
                        "title": product["title"],
                        "variantTitle": variant["title"],
                        "sku": variant["sku"],
                        "variant": variant,
                        "product": product,
                        "originalUnitPriceSet": bags[variant["id"]],
                    }
                )
            line_ids = self._ids["LineItem"]
            now_int = int(now_epoch)
            made: list[dict[str, Any]] = []
            epochs: list[float] = []
            for created, count, buyer in zip(moments, counts, buyers, strict=True):
                items = []
                cents = 0
                for _ in range(count):
                    pick = next(picks)
                    quantity = next(quantities)
                    cents += prices[variants[pick][0]["id"]] * quantity
                    item = dict(templates[pick])
                    item["id"] = f"gid://shopify/LineItem/{next(line_ids)}"
                    item["quantity"] = quantity
                    items.append(item)
                roll = rng.random()
                status = "PAID"
                cancelled = None
                updated = created + int(roll * 36000) % 3600
                if roll < 0.03:
                    status = "REFUNDED" if roll < 0.02 else "VOIDED"
                    cancelled = created + 600 + int(roll * 1e7) % 86400
                    updated = cancelled
                elif roll < 0.08:
                    status = "REFUNDED" if roll < 0.06 else "PARTIALLY_REFUNDED"
                    updated = created + 86400 + int(roll * 1e9) % (19 * 86400)
                elif roll < 0.10:
                    status = "PENDING" if roll < 0.09 else "AUTHORIZED"
                updated = max(created, min(updated, now_int))
                customer = None if roll > 0.97 else buyer
                if customer is None:
                    email, phone = f"guest{int(roll * 1e12)}@example.com", None
                else:
                    email = (customer["defaultEmailAddress"] or {}).get("emailAddress")
                    phone = (customer["defaultPhoneNumber"] or {}).get("phoneNumber")
                created_iso = _iso_epoch(created)
                epochs.append(updated)
                made.append(
                    {
                        "__typename": "Order",
                        "id": _gid("Order", next(self._ids["Order"])),
                        "name": f"#{next(self._ids['name'])}",
                        "createdAt": created_iso,
                        "processedAt": created_iso,
                        "updatedAt": _iso_epoch(updated),
                        "cancelledAt": None if cancelled is None else _iso_epoch(cancelled),
                        "displayFinancialStatus": status,
                        "email": email,
                        "phone": phone,
                        "test": 0.965 < roll <= 0.975,
                        "totalPriceSet": _money_bag(cents, self.currency),
                        "customer": customer,
                        "customAttributes": [],
                        "lineItems": items,
                    }
                )
            self._orders.put_many(made, epochs)
            return made

    def orders_of(self, customer_gid: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                order
                for order in self._orders.rows.values()
                if (order.get("customer") or {}).get("id") == customer_gid
            ]

    # bulk operations

    def bulk_operation(self, gid: str) -> dict[str, Any] | None:
        """The operation as a poll would show it, without advancing it."""
        with self._lock:
            operation = self._bulk.get(_gid_number(gid))
            return None if operation is None else self._bulk_view(operation)

    def _run_bulk(self, inner: str) -> dict[str, Any]:
        def refuse(message: str, code: str = "INVALID") -> dict[str, Any]:
            error = {"field": ["query"], "message": message, "code": code}
            return {"bulkOperation": None, "userErrors": [error]}

        document, errors = _prepare(inner)
        if document is None or errors:
            reason = errors[0]["message"] if errors else "unparseable"
            return refuse(f"Invalid bulk query: {reason}")
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
            return refuse("Invalid bulk query: it must hold exactly one query operation.")
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        roots = [
            s for s in operations[0].selection_set.selections
            if isinstance(s, FieldNode) and s.name.value in _ROOT_CONNECTIONS
        ]  # fmt: skip
        if len(roots) != 1:
            return refuse("Bulk queries must contain exactly one top-level connection.")
        node_selection = _connection_node_selection(roots[0])
        if node_selection is None:
            return refuse("Invalid bulk query: select the connection's edges { node } or nodes.")
        selects_id = any(
            isinstance(s, FieldNode) and s.name.value == "id" for s in node_selection.selections
        )
        nested = any(
            isinstance(s, FieldNode) and s.name.value in _NESTED_CONNECTIONS
            for s in node_selection.selections
        )
        if nested and not selects_id:
            return refuse("Invalid bulk query: the parent of a nested connection must select `id`.")
        with self._lock:
            for operation in self._bulk.values():
                if operation.status in {"CREATED", "RUNNING"}:
                    return refuse(f"{BULK_IN_PROGRESS}: {operation.gid}.", "OPERATION_IN_PROGRESS")
            operation = _BulkOperation(
                number=next(self._ids["BulkOperation"]),
                query=inner,
                root=roots[0],
                fragments=fragments,
                created=time.monotonic(),
                created_at=_iso(self._now()),
            )
            if self._bulk_failures:
                operation.error_code, operation.partial = self._bulk_failures.popleft()
            self._bulk[operation.number] = operation
            return {"bulkOperation": self._bulk_view(operation), "userErrors": []}

    def _advance(self, operation: _BulkOperation) -> None:
        if operation.status not in {"CREATED", "RUNNING"}:
            return
        operation.polls += 1
        if self.bulk_delay is not None:
            done = time.monotonic() - operation.created >= self.bulk_delay
        else:
            done = operation.polls >= self.bulk_polls
        if not done:
            operation.status = "RUNNING"
            return
        resolver = _Resolver(self, {}, operation.fragments)
        lines, roots = resolver.bulk_lines(operation.root)
        operation.completed_at = _iso(self._now())
        if operation.error_code is not None:
            operation.status = "FAILED"
            if operation.partial:
                half = lines[: len(lines) // 2]
                operation.partial_data = b"".join(line + b"\n" for line in half)
                operation.object_count = len(half)
            return
        operation.status = "COMPLETED"
        operation.data = b"".join(line + b"\n" for line in lines)
        operation.object_count = len(lines)
        operation.root_object_count = roots

    def _bulk_view(self, operation: _BulkOperation) -> dict[str, Any]:
        base = self._server.url if self._server is not None else ""
        url = f"{base}/bulk/{operation.number}.jsonl" if operation.data is not None else None
        partial = (
            f"{base}/bulk/{operation.number}.partial.jsonl"
            if operation.partial_data is not None
            else None
        )
        size = operation.data if operation.data is not None else operation.partial_data
        return {
            "__typename": "BulkOperation",
            "id": operation.gid,
            "status": operation.status,
            "errorCode": operation.error_code if operation.status == "FAILED" else None,
            "objectCount": str(operation.object_count),
            "rootObjectCount": str(operation.root_object_count),
            "fileSize": None if size is None else str(len(size)),
            "url": url,
            "partialDataUrl": partial,
            "createdAt": operation.created_at,
            "completedAt": operation.completed_at,
            "query": operation.query,
            "type": "QUERY",
        }

    # webhooks

    def order_payload(self, gid: str) -> dict[str, Any]:
        """The REST-shaped `orders/create` / `orders/updated` body of a stored order."""
        return order_webhook_payload(self._orders.rows[gid])

    def product_payload(self, gid: str) -> dict[str, Any]:
        return product_webhook_payload(self._products.rows[gid])

    def customer_data_request_payload(self, order_gid: str) -> dict[str, Any]:
        order = self._orders.rows[order_gid]
        return customers_data_request_payload(
            order, shop_id=self.shop_id, shop_domain=self.shop, orders=self._same_buyer(order)
        )

    def customer_redact_payload(self, order_gid: str) -> dict[str, Any]:
        order = self._orders.rows[order_gid]
        return customers_redact_payload(
            order, shop_id=self.shop_id, shop_domain=self.shop, orders=self._same_buyer(order)
        )

    def shop_redact_payload(self) -> dict[str, Any]:
        return shop_redact_payload(shop_id=self.shop_id, shop_domain=self.shop)

    def _same_buyer(self, order: Mapping[str, Any]) -> list[dict[str, Any]]:
        customer = order.get("customer")
        if customer is None:
            return [dict(order)]
        return self.orders_of(customer["id"])

    def send_webhook(
        self, url: str, topic: str, payload: Mapping[str, Any] | bytes, secret: str, **kwargs: Any
    ) -> httpx.Response:
        """`send_webhook` with this shop's domain and API version filled in."""
        kwargs.setdefault("shop_domain", self.shop)
        kwargs.setdefault("api_version", self.default_version)
        return send_webhook(url, topic, payload, secret=secret, **kwargs)

    # store lookups used by the resolver

    def _table(self, kind: str) -> _Table:
        return self._orders if kind == "orders" else self._products

    def _node(self, gid: str, *, advance: bool = False) -> dict[str, Any] | None:
        kind = _gid_kind(gid)
        if kind == "Order":
            return self._orders.rows.get(gid)
        if kind == "Product":
            return self._products.rows.get(gid)
        if kind == "ProductVariant":
            return self._variants.get(gid)
        if kind == "Customer":
            return self._customers.get(gid)
        if kind == "DiscountRedeemCodeBulkCreation":
            return self.discounts.creation(_gid_number(gid), advance=advance)
        if kind == "BulkOperation":
            operation = self._bulk.get(_gid_number(gid))
            if operation is None:
                return None
            if advance:
                self._advance(operation)
            return self._bulk_view(operation)
        return None

    def _shop_object(self) -> dict[str, Any]:
        return {
            "__typename": "Shop",
            "id": _gid("Shop", self.shop_id),
            "name": self.shop_name,
            "email": f"owner@{self.shop}",
            "myshopifyDomain": self.shop,
            "primaryDomain": {
                "__typename": "Domain",
                "id": _gid("Domain", self.shop_id),
                "host": self.primary_domain,
                "url": f"https://{self.primary_domain}",
                "sslEnabled": True,
            },
            "currencyCode": self.currency,
            "ianaTimezone": self.timezone,
        }

    # HTTP

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The Starlette app behind a shim that can reset a connection (`drop_next`)."""
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/graphql.json")
        ):
            with self._lock:
                drop = bool(self._faults) and self._faults[0].kind == "drop"
                if drop:
                    self._faults.popleft()
                    self._count_request()
                    self.stats.faults_injected += 1
            if drop:
                await _reset_connection(receive, send)
                return
        await self._app(scope, receive, send)

    def _count_request(self) -> None:
        now = time.monotonic()
        self.stats.requests += 1
        if self.stats.first_request_at is None:
            self.stats.first_request_at = now
        self.stats.last_request_at = now

    def _reply(
        self, status: int, body: Any, version: str | None, headers: Mapping[str, str] | None = None
    ) -> Response:
        with self._lock:
            self.stats.statuses[status] += 1
        extra = {"X-Request-Id": str(uuid.uuid4())}
        if version:
            extra["X-Shopify-API-Version"] = version
        extra.update(headers or {})
        return Response(_dumps(body), status, extra, media_type="application/json")

    async def _graphql(self, request: Request) -> Response:
        version = request.path_params["version"]
        try:
            raw = await request.body()  # before any delay: the client may give up meanwhile
        except ClientDisconnect:
            return Response(status_code=400)
        with self._lock:
            self._count_request()
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            with self._lock:
                self.stats.faults_injected += 1
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "fail":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                return self._reply(
                    fault.status, fault.body or _fault_body(fault.status), None, headers
                )
        if not _VERSION.match(version) or version not in self.versions:
            return self._reply(404, {"errors": "Not Found"}, None)
        if request.headers.get("x-shopify-access-token") != self.token:
            return self._reply(401, {"errors": INVALID_TOKEN_MESSAGE}, version)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return self._reply(
                415, {"errors": "Unsupported Media Type: use application/json"}, version
            )
        try:
            body = json.loads(raw)
        except ValueError:
            return self._reply(400, MISSING_QUERY, version)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("query"), str)
            or not body["query"].strip()
        ):
            return self._reply(400, MISSING_QUERY, version)
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return self._reply(400, {"errors": {"variables": "must be an object"}}, version)
        status, reply = self._execute(body["query"], variables, body.get("operationName"), version)
        return self._reply(status, reply, version)

    def _execute(
        self, query: str, variables: dict[str, Any], operation_name: Any, version: str
    ) -> tuple[int, dict[str, Any]]:
        """Validate, price, charge, run, refund: the order Shopify's cost limiter works in."""
        document, errors = _prepare(query)
        name = "(invalid)"
        call = {"operation": name, "variables": variables, "version": version}
        with self._lock:
            self.calls.append(call)

        def refused(errors: Sequence[Mapping[str, Any]], requested: int = 0) -> tuple[int, dict]:
            with self._lock:
                self.stats.operations[call["operation"]] += 1
                cost = self._cost(requested, None)
            return 200, {"errors": list(errors), "extensions": {"cost": cost}}

        if document is None or errors:
            return refused(errors)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [
            op for op in operations
            if operation_name is None or (op.name and op.name.value == operation_name)
        ]  # fmt: skip
        if len(chosen) != 1:
            return refused([{"message": "An operation name is required to pick one operation."}])
        operation = chosen[0]
        call["operation"] = operation.name.value if operation.name else "(anonymous)"
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        coerced, errors_ = _coerce_variables(operation, variables)
        if errors_:
            return refused(errors_)
        resolver = _Resolver(self, coerced, fragments)
        page_errors = _page_size_errors(operation.selection_set, resolver, [], require_first=True)
        if page_errors:
            return refused(page_errors)
        single = _single_operation(query, document, operation)
        requested = _requested_cost(single, coerced)
        if requested > MAX_QUERY_COST:
            with self._lock:
                self.stats.max_cost_exceeded += 1
            message = (
                f"Query cost is {requested}, which exceeds the single query max cost limit "
                f"({MAX_QUERY_COST}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits "
                "for more information on how the\ncost of a query is calculated.\n\nTo query "
                "larger amounts of data with fewer limits, bulk operations should be used "
                "instead.\nSee https://shopify.dev/api/usage/bulk-operations/queries for usage "
                "details.\n"
            )
            error = {
                "message": message,
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": MAX_QUERY_COST,
                },
            }
            return refused([error], requested)
        with self._lock:
            self.stats.operations[call["operation"]] += 1
            forced = self._forced_throttles > 0
            if forced:
                self._forced_throttles -= 1
            if forced or not self._bucket.charge(requested):
                self.stats.throttled += 1
                error = {
                    "message": "Throttled",
                    "extensions": {
                        "code": "THROTTLED",
                        "documentation": "https://shopify.dev/api/usage/rate-limits",
                    },
                }
                cost = self._cost(requested, None)
                return self.throttled_status, {"errors": [error], "extensions": {"cost": cost}}
            self.stats.points_requested += requested
            try:
                if operation.operation == OperationType.MUTATION:
                    data = resolver.mutation_root(operation.selection_set)
                else:
                    data = resolver.query_root(operation.selection_set)
            except _Failure as failure:
                self._bucket.refund(requested)
                return 200, {
                    "data": None,
                    "errors": [failure.formatted()],
                    "extensions": {"cost": self._cost(requested, 0)},
                }
            spent = min(requested, actual_cost(single, coerced, data))
            self._bucket.refund(requested - spent)
            self.stats.points_spent += spent
            extensions: dict[str, Any] = {"cost": self._cost(requested, spent)}
            if resolver.search:
                extensions["search"] = resolver.search
            return 200, {"data": data, "extensions": extensions}

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": self._bucket.status(),
        }

    async def _bulk_file(self, request: Request) -> Response:
        """The JSONL download; like a signed storage URL it needs no Shopify token."""
        match = re.fullmatch(r"(\d+)(\.partial)?\.jsonl", request.path_params["name"])
        with self._lock:
            operation = self._bulk.get(int(match[1])) if match else None
            data = None
            if operation is not None:
                data = operation.partial_data if match and match[2] else operation.data
            if data is not None:
                self.stats.bulk_downloads += 1
        if data is None:
            return Response(
                b"<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml"
            )
        return Response(data, 200, media_type="application/jsonl")


def _single_operation(
    query: str, document: DocumentNode, operation: OperationDefinitionNode
) -> str:
    """The query text `query_cost` can price: it wants exactly one operation."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) == 1:
        return query
    kept = [
        d
        for d in document.definitions
        if d is operation or not isinstance(d, OperationDefinitionNode)
    ]
    return print_ast(DocumentNode(definitions=tuple(kept)))


async def _reset_connection(receive: Receive, send: Send) -> None:
    """Read the request, then close the socket with RST: a peer that died mid-request."""
    more = True
    while more:
        message = await receive()
        more = message["type"] == "http.request" and message.get("more_body", False)
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # not uvicorn's protocol: cut the reply short instead
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"1000")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise ConnectionAbortedError("dropped by the fake on purpose")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0.01)  # let the server see the disconnect before it would answer 500


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {
            "errors": "Exceeded 2 calls per second for api client. Reduce request rates to "
            "resume uninterrupted service."
        }
    try:
        return {"errors": HTTPStatus(status).phrase}
    except ValueError:
        return {"errors": "Error"}


def _variant_spec(spec: Mapping[str, Any] | tuple[Any, ...]) -> Mapping[str, Any]:
    if isinstance(spec, tuple):
        names = ("title", "sku", "price", "availableForSale")[: len(spec)]
        return dict(zip(names, spec, strict=True))
    return spec


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _customer_dict(
    number: int, first: str | None, last: str | None, email: str | None, phone: str | None
) -> dict[str, Any]:
    return {
        "__typename": "Customer",
        "id": _gid("Customer", number),
        "firstName": first,
        "lastName": last,
        "displayName": " ".join(p for p in (first, last) if p) or (email or phone or ""),
        "defaultEmailAddress": None if email is None else {"emailAddress": email},
        "defaultPhoneNumber": None if phone is None else {"phoneNumber": phone},
    }


# --- webhooks -------------------------------------------------------------------------------


def sign_webhook(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, raw body)) — the `X-Shopify-Hmac-Sha256` header."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def send_webhook(
    url: str,
    topic: str,
    payload: Mapping[str, Any] | bytes,
    *,
    secret: str,
    shop_domain: str,
    api_version: str = "2026-10",
    webhook_id: str | None = None,
    event_id: str | None = None,
    triggered_at: datetime | None = None,
    hmac_header: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """POST a webhook the way Shopify does: JSON body signed over its raw bytes.

    `hmac_header` overrides the signature (a forged or stale one for a 401 test); pass the
    same `event_id` twice to test dedupe of Shopify's retries.
    """
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    moment = (triggered_at or datetime.now(UTC)).astimezone(UTC)
    sent = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": hmac_header
        if hmac_header is not None
        else sign_webhook(body, secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": moment.isoformat().replace("+00:00", "Z"),
    }
    sent.update(headers or {})
    return httpx.post(url, content=body, headers=sent, timeout=timeout)


def _rest_time(iso: str | None, tz: timezone) -> str | None:
    if iso is None:
        return None
    return datetime.fromisoformat(iso).astimezone(tz).isoformat()


def _rest_money(amount: str) -> str:
    return _money_str(_cents(amount))


def _rest_customer(customer: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {
        "id": _gid_number(customer["id"]),
        "admin_graphql_api_id": customer["id"],
        "email": (customer.get("defaultEmailAddress") or {}).get("emailAddress"),
        "phone": (customer.get("defaultPhoneNumber") or {}).get("phoneNumber"),
        "first_name": customer.get("firstName"),
        "last_name": customer.get("lastName"),
    }


def order_webhook_payload(order: Mapping[str, Any], *, tz: timezone = _REST_TZ) -> dict[str, Any]:
    """The REST (snake_case) order JSON of `orders/create` / `orders/updated`."""
    money = order["totalPriceSet"]["shopMoney"]
    name = order["name"]
    status = order.get("displayFinancialStatus")
    return {
        "id": _gid_number(order["id"]),
        "admin_graphql_api_id": order["id"],
        "name": name,
        "order_number": int(name.lstrip("#")) if name.lstrip("#").isdigit() else None,
        "email": order.get("email"),
        "contact_email": order.get("email"),
        "phone": order.get("phone"),
        "created_at": _rest_time(order["createdAt"], tz),
        "processed_at": _rest_time(order.get("processedAt"), tz),
        "updated_at": _rest_time(order["updatedAt"], tz),
        "cancelled_at": _rest_time(order.get("cancelledAt"), tz),
        "financial_status": status.lower() if status else None,
        "test": bool(order.get("test")),
        "total_price": _rest_money(money["amount"]),
        "currency": money["currencyCode"],
        "presentment_currency": money["currencyCode"],
        "line_items": [
            {
                "id": _gid_number(line["id"]),
                "admin_graphql_api_id": line["id"],
                "variant_id": _gid_number(line["variant"]["id"]) if line.get("variant") else None,
                "product_id": _gid_number(line["product"]["id"]) if line.get("product") else None,
                "quantity": line["quantity"],
                "price": _rest_money(line["originalUnitPriceSet"]["shopMoney"]["amount"]),
                "title": line["title"],
                "name": line.get("name", line["title"]),
                "variant_title": line.get("variantTitle"),
                "sku": line.get("sku"),
            }
            for line in order.get("lineItems") or ()
        ],
        "customer": _rest_customer(order.get("customer")),
        "note_attributes": [
            {"name": item["key"], "value": item["value"]}
            for item in order.get("customAttributes") or ()
        ],
    }


def product_webhook_payload(
    product: Mapping[str, Any], *, tz: timezone = _REST_TZ
) -> dict[str, Any]:
    """The REST product JSON of `products/create` / `products/update`."""
    media = product.get("featuredMedia") or {}
    image = ((media.get("preview") or {}).get("image") or {}).get("url")
    number = _gid_number(product["id"])
    return {
        "id": number,
        "admin_graphql_api_id": product["id"],
        "title": product["title"],
        "handle": product["handle"],
        "status": product["status"].lower(),
        "created_at": _rest_time(product.get("createdAt"), tz),
        "updated_at": _rest_time(product["updatedAt"], tz),
        "image": None if image is None else {"src": image},
        "images": [] if image is None else [{"src": image}],
        "variants": [
            {
                "id": _gid_number(variant["id"]),
                "admin_graphql_api_id": variant["id"],
                "product_id": number,
                "title": variant["title"],
                "sku": variant.get("sku"),
                "price": _rest_money(variant["price"]),
                "available": variant.get("availableForSale", True),
            }
            for variant in product.get("variants") or ()
        ],
    }


def _privacy_customer(order: Mapping[str, Any]) -> dict[str, Any]:
    customer = order.get("customer")
    if customer is None:
        return {"id": None, "email": order.get("email"), "phone": order.get("phone")}
    return {
        "id": _gid_number(customer["id"]),
        "email": (customer.get("defaultEmailAddress") or {}).get("emailAddress"),
        "phone": (customer.get("defaultPhoneNumber") or {}).get("phoneNumber"),
    }


def customers_data_request_payload(
    order: Mapping[str, Any],
    *,
    shop_id: int,
    shop_domain: str,
    orders: Sequence[Mapping[str, Any]] | None = None,
    request_id: int | None = None,
) -> dict[str, Any]:
    """`customers/data_request`: the buyer of `order` asks for their data."""
    return {
        "shop_id": shop_id,
        "shop_domain": shop_domain,
        "orders_requested": [_gid_number(o["id"]) for o in orders or [order]],
        "customer": _privacy_customer(order),
        "data_request": {"id": request_id or random.randint(1000, 9999)},
    }


def customers_redact_payload(
    order: Mapping[str, Any],
    *,
    shop_id: int,
    shop_domain: str,
    orders: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """`customers/redact`: erase the buyer of `order` and these orders."""
    return {
        "shop_id": shop_id,
        "shop_domain": shop_domain,
        "customer": _privacy_customer(order),
        "orders_to_redact": [_gid_number(o["id"]) for o in orders or [order]],
    }


def shop_redact_payload(*, shop_id: int, shop_domain: str) -> dict[str, Any]:
    """`shop/redact`: 48 hours after uninstall, erase the shop."""
    return {"shop_id": shop_id, "shop_domain": shop_domain}
