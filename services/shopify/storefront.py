"""The shop's Storefront API, for the one thing a permalink cannot do: a cart with a selling plan.

`cartCreate` takes the lines (variant GIDs, quantities, selling plan GIDs), the discount code
and the attribution attributes, and answers a cart whose `checkoutUrl` the shopper is sent to.
It has its own access token (`X-Shopify-Storefront-Access-Token`), not the Admin API's.

A shopper is waiting on the button, so retries are few and short (429/5xx, resets). Every
other failure is a `ProviderError` whose message says what went wrong, never the token: a
refused token (401/403), `userErrors`, and the null cart Shopify answers, without an error, for
a subscription-only product sent without its selling plan.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from services.core.config import Settings
from services.core.provider_http import ProviderError, RetryPolicy

__all__ = [
    "CART_CREATE",
    "PROVIDER",
    "SHOPPER_RETRY",
    "StorefrontClient",
    "StorefrontLine",
]

PROVIDER = "shopify storefront"
SHOPPER_RETRY = RetryPolicy(attempts=3, initial_delay=0.3, max_delay=2.0, max_retry_after=5)
"""A shopper waits on Check Out: a few quick tries, then the permalink instead."""

CART_CREATE = """
mutation cartCreate($input: CartInput!) {
  cartCreate(input: $input) {
    cart { id checkoutUrl }
    userErrors { field message code }
  }
}
"""


@dataclass(frozen=True, slots=True)
class StorefrontLine:
    merchandise_id: str  # the variant's GID
    quantity: int
    selling_plan_id: str | None = None  # the selling plan's GID; None buys it one-time

    def as_input(self) -> dict[str, Any]:
        line: dict[str, Any] = {"merchandiseId": self.merchandise_id, "quantity": self.quantity}
        if self.selling_plan_id:
            line["sellingPlanId"] = self.selling_plan_id
        return line


class StorefrontClient:
    """One shop's Storefront API; `with StorefrontClient.from_settings(s) as client: ...`."""

    def __init__(
        self,
        shop: str,
        token: str,
        api_version: str,
        base_url: str = "",
        *,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        if not token:
            raise ProviderError(
                PROVIDER, "no Storefront API token set (REPEATCART_SHOPIFY_STOREFRONT_TOKEN)"
            )
        root = (base_url or f"https://{shop}").rstrip("/")
        self.endpoint = f"{root}/api/{api_version}/graphql.json"
        self._token = token
        self._http = httpx.Client(
            timeout=timeout,
            headers={
                "X-Shopify-Storefront-Access-Token": token,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        self._policy = policy or SHOPPER_RETRY

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> StorefrontClient:
        return cls(
            settings.shopify_shop,
            settings.secret("shopify_storefront_token"),
            settings.shopify_api_version,
            settings.shopify_storefront_base_url,
            **kwargs,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StorefrontClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def create_cart(
        self,
        lines: Sequence[StorefrontLine],
        *,
        discount_codes: Sequence[str] = (),
        attributes: Sequence[tuple[str, str]] = (),
    ) -> str:
        """`cartCreate`, and the new cart's `checkoutUrl`; raises `ProviderError`."""
        if not lines:
            raise ValueError("a cart needs at least one line")
        cart_input: dict[str, Any] = {"lines": [line.as_input() for line in lines]}
        codes = [code.strip() for code in discount_codes if code.strip()]
        if codes:
            cart_input["discountCodes"] = codes
        if attributes:
            cart_input["attributes"] = [{"key": k, "value": v} for k, v in attributes]
        data = self._execute(CART_CREATE, {"input": cart_input})
        result = data.get("cartCreate")
        if not isinstance(result, dict):
            raise ProviderError(PROVIDER, "cartCreate answered nothing", status=200)
        errors = result.get("userErrors") or []
        if errors:
            raise ProviderError(
                PROVIDER, "the cart was refused", status=200, detail=_messages(errors)
            )
        cart = result.get("cart")
        url = cart.get("checkoutUrl") if isinstance(cart, dict) else None
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ProviderError(
                PROVIDER,
                "Shopify returned no cart (a subscription-only product without its selling "
                "plan, or a product not on sale)",
                status=200,
            )
        return url

    def _execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables})
        response = self._policy.send(PROVIDER, lambda: self._http.post(self.endpoint, content=body))
        if response.status_code in (401, 403):
            raise ProviderError(
                PROVIDER, "the Storefront access token was refused", status=response.status_code
            )
        if response.status_code == 404:
            raise ProviderError(
                PROVIDER,
                "no Storefront API at this address (check the shop domain and API version)",
                status=404,
            )
        if response.status_code >= 400:
            status, detail = response.status_code, self._text(response)
            raise ProviderError(PROVIDER, "request refused", status=status, detail=detail)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ProviderError(PROVIDER, "the reply was not JSON", status=response.status_code)
        if payload.get("errors"):
            raise ProviderError(
                PROVIDER, "query failed", status=200, detail=_messages(payload["errors"])
            )
        data = payload.get("data")
        return data if isinstance(data, dict) else {}

    def _text(self, response: httpx.Response) -> str:
        return response.text.replace(self._token, "***")


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(error.get("message", error)) if isinstance(error, dict) else str(error)
            for error in errors
        )
    return str(errors)
