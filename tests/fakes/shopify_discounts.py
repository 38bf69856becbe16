"""The fake Shopify's discount codes (CONTRACTS.md, "Discount codes and subscriptions").

`discountCodeBasicCreate` makes one basic code discount, its input checked the way Shopify
answers a bad one (`userErrors`, nothing created). `discountRedeemCodeBulkAdd` takes at most
250 codes (more is refused before anything runs, as Shopify refuses an oversized input array)
and answers with a `DiscountRedeemCodeBulkCreation` that is not `done` at first: it completes
after `polls` polls of it (or `delay` seconds when given), and only then is each code checked
(blank, too long, or TAKEN: a code that already exists in the shop, on any discount or
earlier in the same call). Codes with an error are not added. Both mutations cost 10 points
through the shared cost bucket (`FakeShopify._execute`), and without the `write_discounts`
scope (`scope=False`) they are refused with ACCESS_DENIED, as Shopify does.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["DISCOUNT_SDL", "DiscountFailure", "FakeDiscounts"]

MAX_CODES = 250
CODE_MAX = 255
TAKEN_MESSAGE = "Code must be unique. Please try a different code."

DISCOUNT_SDL = """
enum DiscountErrorCode {
  BLANK INVALID TAKEN TOO_LONG TOO_SHORT VALUE_OUTSIDE_RANGE MISSING_ARGUMENT
  TOO_MANY_ARGUMENTS EXCEEDED_MAX INTERNAL_ERROR
}
enum DiscountBuyerSelection { ALL }
input DiscountCustomerSelectionInput { all: Boolean }
input DiscountContextInput { all: DiscountBuyerSelection }
input DiscountAmountInput { amount: Decimal appliesOnEachItem: Boolean }
input DiscountCustomerGetsValueInput { percentage: Float discountAmount: DiscountAmountInput }
input DiscountItemsInput { all: Boolean }
input DiscountCustomerGetsInput {
  value: DiscountCustomerGetsValueInput
  items: DiscountItemsInput
  appliesOnOneTimePurchase: Boolean
  appliesOnSubscription: Boolean
}
input DiscountCombinesWithInput {
  orderDiscounts: Boolean productDiscounts: Boolean shippingDiscounts: Boolean
}
input DiscountCodeBasicInput {
  title: String
  code: String
  startsAt: DateTime
  endsAt: DateTime
  customerSelection: DiscountCustomerSelectionInput
  context: DiscountContextInput
  customerGets: DiscountCustomerGetsInput
  appliesOncePerCustomer: Boolean
  usageLimit: Int
  combinesWith: DiscountCombinesWithInput
}
input DiscountRedeemCodeInput { code: String! }

type DiscountUserError {
  code: DiscountErrorCode
  extraInfo: String
  field: [String!]
  message: String!
}
type DiscountCodeNode implements Node { id: ID! }
type DiscountCodeBasicCreatePayload {
  codeDiscountNode: DiscountCodeNode
  userErrors: [DiscountUserError!]!
}
type DiscountRedeemCodeBulkCreationCode { code: String! errors: [DiscountUserError!]! }
type DiscountRedeemCodeBulkCreationCodeEdge {
  cursor: String!
  node: DiscountRedeemCodeBulkCreationCode!
}
type DiscountRedeemCodeBulkCreationCodeConnection {
  edges: [DiscountRedeemCodeBulkCreationCodeEdge!]!
  nodes: [DiscountRedeemCodeBulkCreationCode!]!
  pageInfo: PageInfo!
}
type DiscountRedeemCodeBulkCreation implements Node {
  id: ID!
  createdAt: DateTime!
  done: Boolean!
  codesCount: Int!
  importedCount: Int!
  failedCount: Int!
  codes(
    first: Int, after: String, last: Int, before: String, reverse: Boolean = false
  ): DiscountRedeemCodeBulkCreationCodeConnection!
}
type DiscountRedeemCodeBulkAddPayload {
  bulkCreation: DiscountRedeemCodeBulkCreation
  userErrors: [DiscountUserError!]!
}
extend type QueryRoot {
  discountRedeemCodeBulkCreation(id: ID!): DiscountRedeemCodeBulkCreation
}
extend type Mutation {
  discountCodeBasicCreate(
    basicCodeDiscount: DiscountCodeBasicInput!
  ): DiscountCodeBasicCreatePayload
  discountRedeemCodeBulkAdd(
    discountId: ID!, codes: [DiscountRedeemCodeInput!]!
  ): DiscountRedeemCodeBulkAddPayload
}
"""

DISCOUNT_TYPES = {"DiscountCodeNode": {"Node"}, "DiscountRedeemCodeBulkCreation": {"Node"}}


class DiscountFailure(Exception):
    """A top-level GraphQL error (the fake turns it into its own `_Failure`)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Discount:
    gid: str
    title: str
    codes: list[str]
    starts_at: str
    ends_at: str | None
    value: dict[str, Any]
    applies_once_per_customer: bool
    usage_limit: int | None


@dataclass
class _Creation:
    number: int
    discount: Discount
    codes: list[str]
    created: float
    created_at: str
    polls: int = 0
    done: bool = False
    errors: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> error

    @property
    def gid(self) -> str:
        return f"gid://shopify/DiscountRedeemCodeBulkCreation/{self.number}"


def _error(path: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": path, "message": message, "code": code, "extraInfo": None}


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class FakeDiscounts:
    """The shop's code discounts and bulk code creations; guarded by the fake's lock."""

    def __init__(self, now: Any) -> None:
        self._now = now  # () -> ISO string
        self.scope = True  # False: no write_discounts scope, mutations get ACCESS_DENIED
        self.polls = 2  # polls before a creation is done (unless `delay`)
        self.delay: float | None = None
        self.discounts: dict[str, Discount] = {}
        self.taken: set[str] = set()  # every code in the shop, upper-cased (Shopify compares so)
        self.calls: dict[str, int] = {"create": 0, "bulk_add": 0, "poll": 0}
        self._creations: dict[int, _Creation] = {}
        self._ids = {
            "discount": itertools.count(1_057_000_001),
            "creation": itertools.count(2_000_000_001),
        }

    # test helpers

    def preexisting(self, *codes: str) -> None:
        """Codes that already exist in the shop (another discount's): adding them is TAKEN."""
        self.taken.update(code.upper() for code in codes)

    def codes_of(self, discount_gid: str) -> list[str]:
        return list(self.discounts[discount_gid].codes)

    def all_codes(self) -> list[str]:
        return [code for discount in self.discounts.values() for code in discount.codes]

    # resolvers

    def _allowed(self, name: str) -> None:
        if not self.scope:
            raise DiscountFailure(
                f"Access denied for {name} field. Required access: `write_discounts` access scope.",
                "ACCESS_DENIED",
            )

    def basic_create(self, args: dict[str, Any]) -> dict[str, Any]:
        self._allowed("discountCodeBasicCreate")
        self.calls["create"] += 1
        data = args.get("basicCodeDiscount") or {}
        errors = self._basic_errors(data)
        if errors:
            return {"codeDiscountNode": None, "userErrors": errors}
        number = next(self._ids["discount"])
        gid = f"gid://shopify/DiscountCodeNode/{number}"
        code = str(data["code"])
        self.discounts[gid] = Discount(
            gid=gid,
            title=str(data["title"]),
            codes=[code],
            starts_at=str(data["startsAt"]),
            ends_at=data.get("endsAt"),
            value=dict(data["customerGets"]["value"]),
            applies_once_per_customer=bool(data.get("appliesOncePerCustomer")),
            usage_limit=data.get("usageLimit"),
        )
        self.taken.add(code.upper())
        return {"codeDiscountNode": {"__typename": "DiscountCodeNode", "id": gid}, "userErrors": []}

    def _basic_errors(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        path = ["basicCodeDiscount"]
        errors = []
        if not str(data.get("title") or "").strip():
            errors.append(_error([*path, "title"], "Title can't be blank", "BLANK"))
        code = str(data.get("code") or "")
        if not code.strip():
            errors.append(_error([*path, "code"], "Code can't be blank", "BLANK"))
        elif len(code) > CODE_MAX:
            errors.append(_error([*path, "code"], "Code is too long", "TOO_LONG"))
        elif code.upper() in self.taken:
            errors.append(_error([*path, "code"], TAKEN_MESSAGE, "TAKEN"))
        starts, ends = _time(data.get("startsAt")), _time(data.get("endsAt"))
        if starts is None:
            errors.append(_error([*path, "startsAt"], "Starts at can't be blank", "BLANK"))
        if data.get("endsAt") is not None and (ends is None or (starts and ends <= starts)):
            errors.append(
                _error([*path, "endsAt"], "Ends at needs to be after starts_at", "INVALID")
            )
        if (data.get("customerSelection") is None) == (data.get("context") is None):
            errors.append(
                _error(path, "Give exactly one of customerSelection or context.", "INVALID")
            )
        usage = data.get("usageLimit")
        if usage is not None and usage < 1:
            errors.append(
                _error([*path, "usageLimit"], "Usage limit must be greater than 0",
                       "VALUE_OUTSIDE_RANGE")
            )  # fmt: skip
        errors += self._gets_errors(data.get("customerGets"), [*path, "customerGets"])
        return errors

    @staticmethod
    def _gets_errors(gets: Any, path: list[str]) -> list[dict[str, Any]]:
        if not gets or not gets.get("value") or not gets.get("items"):
            return [_error(path, "Customer gets needs a value and items", "BLANK")]
        value = gets["value"]
        if (value.get("percentage") is None) == (value.get("discountAmount") is None):
            return [_error([*path, "value"], "Give a percentage or an amount", "INVALID")]
        if value.get("percentage") is not None:
            if not 0 < float(value["percentage"]) <= 1:
                message = "Value must be between 0.0 and 1.0"
                return [_error([*path, "value", "percentage"], message, "VALUE_OUTSIDE_RANGE")]
            return []
        try:
            amount = Decimal(str(value["discountAmount"].get("amount")))
        except InvalidOperation:
            amount = Decimal(0)
        if not amount.is_finite() or amount <= 0:
            message = "Amount must be greater than 0"
            return [_error([*path, "value", "discountAmount"], message, "VALUE_OUTSIDE_RANGE")]
        return []

    def bulk_add(self, args: dict[str, Any]) -> dict[str, Any]:
        self._allowed("discountRedeemCodeBulkAdd")
        codes = [str(item.get("code") or "") for item in args.get("codes") or []]
        if len(codes) > MAX_CODES:
            raise DiscountFailure(
                f"The input array size of {len(codes)} is greater than the maximum allowed of "
                f"{MAX_CODES}.",
                "MAX_INPUT_SIZE_EXCEEDED",
            )
        self.calls["bulk_add"] += 1
        discount = self.discounts.get(str(args.get("discountId") or ""))
        if discount is None:
            error = _error(["discountId"], "Code discount does not exist.", "INVALID")
            return {"bulkCreation": None, "userErrors": [error]}
        if not codes:
            error = _error(["codes"], "Codes can't be blank", "BLANK")
            return {"bulkCreation": None, "userErrors": [error]}
        number = next(self._ids["creation"])
        creation = _Creation(number, discount, codes, time.monotonic(), self._now())
        self._creations[number] = creation
        return {"bulkCreation": self._view(creation), "userErrors": []}

    def creation(self, number: int, *, advance: bool) -> dict[str, Any] | None:
        creation = self._creations.get(number)
        if creation is None:
            return None
        if advance:
            self.calls["poll"] += 1
            self._advance(creation)
        return self._view(creation)

    def _advance(self, creation: _Creation) -> None:
        if creation.done:
            return
        creation.polls += 1
        if self.delay is not None:
            finished = time.monotonic() - creation.created >= self.delay
        else:
            finished = creation.polls >= self.polls
        if not finished:
            return
        for index, code in enumerate(creation.codes):
            if not code.strip():
                creation.errors[index] = _error(["code"], "Code can't be blank", "BLANK")
            elif len(code) > CODE_MAX:
                creation.errors[index] = _error(["code"], "Code is too long", "TOO_LONG")
            elif code.upper() in self.taken:
                creation.errors[index] = _error(["code"], TAKEN_MESSAGE, "TAKEN")
            else:
                self.taken.add(code.upper())
                creation.discount.codes.append(code)
        creation.done = True

    def _view(self, creation: _Creation) -> dict[str, Any]:
        failed = len(creation.errors) if creation.done else 0
        imported = len(creation.codes) - failed if creation.done else 0
        return {
            "__typename": "DiscountRedeemCodeBulkCreation",
            "id": creation.gid,
            "createdAt": creation.created_at,
            "done": creation.done,
            "codesCount": len(creation.codes),
            "importedCount": imported,
            "failedCount": failed,
            "codes": [
                {
                    "__typename": "DiscountRedeemCodeBulkCreationCode",
                    "code": code,
                    "errors": [creation.errors[i]] if i in creation.errors else [],
                }
                for i, code in enumerate(creation.codes)
            ],
        }
