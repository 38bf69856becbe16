"""A fake Shopify Storefront API for one shop: `cartCreate`, from CONTRACTS.md.

Strict like the real one: the token header, the API version, a GraphQL schema every request is
validated against (a misspelt field or a wrong input shape is a GraphQL error), merchandise
that must exist, a selling plan that must belong to the variant's product, and the null cart,
without userErrors, for a subscription-only product sent without its selling plan. Every cart
it makes is recorded (`carts`), with the checkout URL it answered, so tests assert what was
sent. `fail_next` queues HTTP failures (429 with Retry-After, 5xx) for the retry tests.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, build_schema, graphql_sync
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer

__all__ = ["FakeStorefront", "StorefrontCart"]

SCHEMA = build_schema(
    """
    scalar URL

    type Query { shop: Shop! }
    type Shop { name: String! }

    type Mutation { cartCreate(input: CartInput): CartCreatePayload }

    input CartInput {
      lines: [CartLineInput!]
      discountCodes: [String!]
      attributes: [AttributeInput!]
      note: String
      buyerIdentity: CartBuyerIdentityInput
    }
    input CartBuyerIdentityInput { email: String phone: String countryCode: String }
    input CartLineInput {
      merchandiseId: ID!
      quantity: Int
      sellingPlanId: ID
      attributes: [AttributeInput!]
    }
    input AttributeInput { key: String! value: String! }

    type CartCreatePayload {
      cart: Cart
      userErrors: [CartUserError!]!
      warnings: [CartWarning!]!
    }
    enum CartErrorCode { INVALID LESS_THAN INVALID_MERCHANDISE_LINE MISSING_DISCOUNT_CODE }
    type CartUserError { field: [String!] message: String! code: CartErrorCode }
    type CartWarning { code: String! message: String! target: ID! }
    type Attribute { key: String! value: String }
    type CartDiscountCode { code: String! applicable: Boolean! }
    type Cart {
      id: ID!
      checkoutUrl: URL!
      totalQuantity: Int!
      note: String
      attributes: [Attribute!]!
      discountCodes: [CartDiscountCode!]!
    }
    """
)
_VERSION = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_VARIANT_GID = re.compile(r"^gid://shopify/ProductVariant/\d+$")
_MAX_LINES = 250


@dataclass
class _Variant:
    product_gid: str
    selling_plans: set[str]
    subscription_only: bool


@dataclass
class StorefrontCart:
    """One cart the fake made: what was sent, and the checkout URL it answered."""

    lines: list[dict[str, Any]]
    discount_codes: list[str]
    attributes: dict[str, str]
    checkout_url: str
    id: str = ""


@dataclass
class _Fault:
    status: int
    retry_after: float | None = None


@dataclass
class _Seen:
    token: str | None
    status: int = 200
    body: Any = field(default=None)


class FakeStorefront:
    """`with FakeStorefront(shop=..., token=...) as fake: fake.base_url` — the Storefront API
    at `{base_url}/api/{version}/graphql.json`."""

    def __init__(
        self,
        shop: str = "repeatcart-test.myshopify.com",
        token: str = "storefront_test_token",
        versions: tuple[str, ...] = ("2026-10",),
    ) -> None:
        self.shop = shop
        self.token = token
        self.versions = set(versions)
        self._lock = threading.Lock()
        self._variants: dict[str, _Variant] = {}
        self._faults: deque[_Fault] = deque()
        self.carts: list[StorefrontCart] = []
        self.requests: list[_Seen] = []
        self._app = Starlette(
            routes=[Route("/api/{version}/graphql.json", self._graphql, methods=["POST"])]
        )
        self._server: FakeServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        self._server = FakeServer(self._app)
        return self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeStorefront:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Storefront is not running")
        return self._server.url

    # --- the store ---------------------------------------------------------------------------

    def add_variant(
        self,
        variant_gid: str,
        product_gid: str,
        selling_plans: tuple[str, ...] = (),
        *,
        subscription_only: bool = False,
    ) -> None:
        """A variant on sale, its product's selling plans, and whether it is sold only so."""
        with self._lock:
            self._variants[variant_gid] = _Variant(
                product_gid, set(selling_plans), subscription_only
            )

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        with self._lock:
            self._faults.extend(_Fault(status, retry_after) for _ in range(times))

    # --- the endpoint ------------------------------------------------------------------------

    async def _graphql(self, request: Request) -> Response:
        raw = await request.body()
        token = request.headers.get("x-shopify-storefront-access-token")
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            seen = _Seen(token)
            self.requests.append(seen)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            seen.status = fault.status
            return JSONResponse(
                {"errors": [{"message": "Try again later"}]}, fault.status, headers=headers
            )
        if request.path_params["version"] not in self.versions or not _VERSION.match(
            request.path_params["version"]
        ):
            seen.status = 404
            return JSONResponse({"errors": "Not Found"}, 404)
        if token != self.token:
            seen.status = 401
            return JSONResponse(
                {"errors": [{"message": "", "extensions": {"code": "UNAUTHORIZED"}}]}, 401
            )
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            seen.status = 415
            return JSONResponse({"errors": "Unsupported Media Type"}, 415)
        try:
            body = json.loads(raw)
        except ValueError:
            seen.status = 400
            return JSONResponse({"errors": [{"message": "Invalid JSON"}]}, 400)
        seen.body = body
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            seen.status = 400
            return JSONResponse({"errors": [{"message": "Parameter Missing: query"}]}, 400)
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return JSONResponse({"errors": [{"message": "Variables must be an object"}]}, 200)
        result = graphql_sync(
            SCHEMA,
            body["query"],
            root_value={"cartCreate": self._cart_create, "shop": {"name": self.shop}},
            variable_values=variables,
            operation_name=body.get("operationName"),
        )
        payload: dict[str, Any] = {}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.data is not None:
            payload["data"] = result.data
        return JSONResponse(payload, 200)

    def _cart_create(self, _info: Any, input: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: A002
        cart_input = input or {}
        lines = cart_input.get("lines") or []
        errors = self._line_errors(lines)
        if errors:
            return {"cart": None, "userErrors": errors, "warnings": []}
        if any(
            self._variants[line["merchandiseId"]].subscription_only
            and not line.get("sellingPlanId")
            for line in lines
        ):
            # as Shopify does: no cart, and no error saying why
            return {"cart": None, "userErrors": [], "warnings": []}
        token = secrets.token_hex(16)
        key = secrets.token_hex(16)
        checkout_url = f"https://{self.shop}/cart/c/{token}?key={key}"
        attributes = {a["key"]: a["value"] for a in cart_input.get("attributes") or []}
        codes = list(cart_input.get("discountCodes") or [])
        cart_id = f"gid://shopify/Cart/{token}?key={key}"
        with self._lock:
            self.carts.append(
                StorefrontCart(
                    lines=[dict(line) for line in lines],
                    discount_codes=codes,
                    attributes=attributes,
                    checkout_url=checkout_url,
                    id=cart_id,
                )
            )
        return {
            "cart": {
                "id": cart_id,
                "checkoutUrl": checkout_url,
                "totalQuantity": sum(int(line.get("quantity") or 1) for line in lines),
                "note": cart_input.get("note"),
                "attributes": [{"key": k, "value": v} for k, v in attributes.items()],
                "discountCodes": [{"code": code, "applicable": True} for code in codes],
            },
            "userErrors": [],
            "warnings": [],
        }

    def _line_errors(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(lines) > _MAX_LINES:
            raise GraphQLError(f"The input array size of {len(lines)} is greater than 250.")
        errors: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            where = ["input", "lines", str(index)]
            merchandise = line["merchandiseId"]
            quantity = line.get("quantity", 1)
            variant = self._variants.get(merchandise) if _VARIANT_GID.match(merchandise) else None
            if variant is None:
                errors.append(
                    {
                        "field": [*where, "merchandiseId"],
                        "message": f"The merchandise with id {merchandise} does not exist.",
                        "code": "INVALID",
                    }
                )
                continue
            if quantity is not None and quantity < 1:
                errors.append(
                    {
                        "field": [*where, "quantity"],
                        "message": "The quantity must be greater than 0.",
                        "code": "LESS_THAN",
                    }
                )
            plan = line.get("sellingPlanId")
            if plan and plan not in variant.selling_plans:
                errors.append(
                    {
                        "field": [*where, "sellingPlanId"],
                        "message": f"The selling plan with id {plan} is not available for "
                        "this merchandise.",
                        "code": "INVALID",
                    }
                )
        return errors
