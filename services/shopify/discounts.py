"""Unique discount codes in the Admin API (CONTRACTS.md, "Discount codes and subscriptions").

One basic code discount (`discountCodeBasicCreate`: once per customer, usage limit 1, an end
date) holds every customer's code; codes are added to it at most 250 per call with
`discountRedeemCodeBulkAdd`, which works asynchronously: `discountRedeemCodeBulkCreation(id)`
is polled until `done`, then read for each code's errors. Every call goes through
`ShopifyClient.execute`, so it is paced by the cost bucket like the sync (a mutation costs 10).
Plain records only: `services.discounts` keeps the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.core.provider_http import ProviderError
from services.shopify.client import PROVIDER, ShopifyClient

__all__ = [
    "MAX_CODES_PER_CALL",
    "CodeCreation",
    "CodeError",
    "add_codes",
    "code_creation",
    "create_code_discount",
    "explain",
    "wait_for_codes",
]

MAX_CODES_PER_CALL = 250
ACCESS_HINT = (
    "the app's access token lacks the write_discounts scope: add it to the app in Shopify "
    "(Settings → Apps → Develop apps → Configuration) and reinstall"
)

CREATE_DISCOUNT_MUTATION = """
mutation RepeatCartCreateDiscount($input: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $input) {
    codeDiscountNode { id }
    userErrors { field message code }
  }
}
"""
ADD_CODES_MUTATION = """
mutation RepeatCartAddCodes($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) {
  discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) {
    bulkCreation { id done }
    userErrors { field message code }
  }
}
"""
CREATION_QUERY = """
query RepeatCartCodeCreation($id: ID!) {
  discountRedeemCodeBulkCreation(id: $id) { id done codesCount importedCount failedCount }
}
"""
CREATION_CODES_QUERY = """
query RepeatCartCreatedCodes($id: ID!, $first: Int!, $after: String) {
  discountRedeemCodeBulkCreation(id: $id) {
    id done codesCount importedCount failedCount
    codes(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { code errors { field message code } }
    }
  }
}
"""


@dataclass(frozen=True, slots=True)
class CodeError:
    code: str  # Shopify's error code, e.g. TAKEN for a code that already exists in the shop
    message: str


@dataclass(frozen=True, slots=True)
class CodeCreation:
    id: str
    done: bool
    codes_count: int = 0
    imported_count: int = 0
    failed_count: int = 0
    errors: dict[str, CodeError] = field(default_factory=dict)  # code -> why it was not added


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _refused(what: str, errors: Sequence[dict[str, Any]]) -> ProviderError:
    detail = "; ".join(str(error.get("message", error)) for error in errors)
    return ProviderError(PROVIDER, what, status=200, detail=detail)  # a GraphQL reply, refused


def explain(error: ProviderError) -> str:
    """The merchant's reason for a failure, the missing scope spelled out."""
    text = str(error)
    if "ACCESS_DENIED" in text or "write_discounts" in text or "Access denied" in text:
        return f"{text} ({ACCESS_HINT})"
    return text


def create_code_discount(
    client: ShopifyClient,
    *,
    title: str,
    code: str,
    kind: Literal["percentage", "fixed"],
    value: int,
    starts_at: datetime,
    ends_at: datetime,
) -> str:
    """Create the one basic code discount (once per customer, each code used once); returns its
    GID. `value` is a percentage (1 to 100) or cents."""
    gets_value: dict[str, Any] = (
        {"percentage": round(value / 100, 4)}
        if kind == "percentage"
        else {"discountAmount": {"amount": _money(value), "appliesOnEachItem": False}}
    )
    variables = {
        "input": {
            "title": title,
            "code": code,
            "startsAt": _iso(starts_at),
            "endsAt": _iso(ends_at),
            "customerSelection": {"all": True},
            "customerGets": {"value": gets_value, "items": {"all": True}},
            "appliesOncePerCustomer": True,
            "usageLimit": 1,
            "combinesWith": {
                "orderDiscounts": False,
                "productDiscounts": False,
                "shippingDiscounts": True,
            },
        }
    }
    data = client.execute(CREATE_DISCOUNT_MUTATION, variables)
    result = data.get("discountCodeBasicCreate") or {}
    if result.get("userErrors"):
        raise _refused("the discount was refused", result["userErrors"])
    node = result.get("codeDiscountNode") or {}
    if not node.get("id"):
        raise ProviderError(PROVIDER, "no discount came back from discountCodeBasicCreate")
    return str(node["id"])


def add_codes(client: ShopifyClient, discount_gid: str, codes: Sequence[str]) -> str:
    """Start adding up to 250 codes to the discount; returns the bulk creation's GID."""
    if not 0 < len(codes) <= MAX_CODES_PER_CALL:
        raise ValueError(f"1 to {MAX_CODES_PER_CALL} codes per call, not {len(codes)}")
    data = client.execute(
        ADD_CODES_MUTATION,
        {"discountId": discount_gid, "codes": [{"code": code} for code in codes]},
    )
    result = data.get("discountRedeemCodeBulkAdd") or {}
    if result.get("userErrors"):
        raise _refused("the codes were refused", result["userErrors"])
    creation = result.get("bulkCreation") or {}
    if not creation.get("id"):
        raise ProviderError(PROVIDER, "no bulk creation came back from discountRedeemCodeBulkAdd")
    return str(creation["id"])


def _counts(node: dict[str, Any], errors: dict[str, CodeError]) -> CodeCreation:
    return CodeCreation(
        id=str(node["id"]),
        done=bool(node.get("done")),
        codes_count=int(node.get("codesCount") or 0),
        imported_count=int(node.get("importedCount") or 0),
        failed_count=int(node.get("failedCount") or 0),
        errors=errors,
    )


def code_creation(client: ShopifyClient, creation_gid: str, *, codes: bool = False) -> CodeCreation:
    """The bulk creation as it stands; with `codes`, each failed code's error too (read in pages
    of 250, only once it is done)."""
    if not codes:
        node = client.execute(CREATION_QUERY, {"id": creation_gid}).get(
            "discountRedeemCodeBulkCreation"
        )
        if not node:
            raise ProviderError(PROVIDER, f"bulk code creation {creation_gid} not found")
        return _counts(node, {})
    errors: dict[str, CodeError] = {}
    after: str | None = None
    while True:
        variables = {"id": creation_gid, "first": MAX_CODES_PER_CALL, "after": after}
        node = client.execute(CREATION_CODES_QUERY, variables).get("discountRedeemCodeBulkCreation")
        if not node:
            raise ProviderError(PROVIDER, f"bulk code creation {creation_gid} not found")
        connection = node.get("codes") or {}
        for item in connection.get("nodes") or []:
            problems = item.get("errors") or []
            if problems:
                first = problems[0]
                errors[str(item["code"])] = CodeError(
                    str(first.get("code") or ""), str(first.get("message") or "")
                )
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return _counts(node, errors)
        after = info.get("endCursor")


def wait_for_codes(
    client: ShopifyClient,
    creation_gid: str,
    *,
    poll_seconds: float = 1.0,
    timeout: float = 600.0,
) -> CodeCreation:
    """Poll until the creation is done, then (when any failed) read which codes and why."""
    waited = 0.0
    while not (creation := code_creation(client, creation_gid)).done:
        if waited >= timeout:
            raise ProviderError(PROVIDER, f"bulk code creation {creation_gid} did not finish")
        client.sleep(poll_seconds)
        waited += poll_seconds
    if creation.failed_count == 0 and creation.imported_count == creation.codes_count:
        return creation  # every code went in: no need to read 250 codes back (~500 points)
    return code_creation(client, creation_gid, codes=True)
