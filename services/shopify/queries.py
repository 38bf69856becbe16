"""The GraphQL documents RepeatCart sends to the Shopify Admin API, and their page sizes.

Page sizes are derived from the query cost rules, not guessed: `largest_first` finds the biggest
`first` whose requested cost stays within 1,000 points, so the client is never refused with
MAX_COST_EXCEEDED. Long connections inside a node (an order's line items, a product's variants)
get a small inner `first` and are completed by the follow-up queries below.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from services.shopify.query_cost import MAX_QUERY_COST, requested_cost

__all__ = [
    "BATCH_LINES",
    "BULK_OPERATION_QUERY",
    "BULK_RUN_MUTATION",
    "LINE_ITEMS_PER_ORDER",
    "ORDERS_QUERY",
    "PRODUCTS_QUERY",
    "PRODUCT_SELLING_PLANS_QUERY",
    "PRODUCT_VARIANTS_QUERY",
    "PLAN_GROUPS_PER_PRODUCT",
    "PLANS_PER_GROUP",
    "SHOP_QUERY",
    "VARIANTS_PER_PRODUCT",
    "line_items_batch_size",
    "order_line_items_batch_query",
    "bulk_orders_query",
    "largest_first",
    "orders_page_size",
    "products_page_size",
]

LINE_ITEMS_PER_ORDER = 5
"""Most orders have fewer lines; longer ones are completed by batched follow-up queries."""
VARIANTS_PER_PRODUCT = 20
PLAN_GROUPS_PER_PRODUCT = 2
PLANS_PER_GROUP = 4
"""Most subscription products have one group of a few plans; more are completed by
`PRODUCT_SELLING_PLANS_QUERY`."""
FOLLOW_UP_PLAN_GROUPS = 10
FOLLOW_UP_PLANS = 20
FOLLOW_UP_PAGE = 100

_LINE_ITEM_FIELDS = """
      quantity
      title
      sku
      variant { id }
      product { id }
      originalUnitPriceSet { shopMoney { amount } }
      sellingPlan { sellingPlanId }
"""

_ORDER_FIELDS = """
    id
    name
    createdAt
    processedAt
    updatedAt
    cancelledAt
    displayFinancialStatus
    email
    phone
    test
    totalPriceSet { shopMoney { amount currencyCode } }
    customer {
      id
      firstName
      defaultEmailAddress { emailAddress }
      defaultPhoneNumber { phoneNumber }
    }
    customAttributes { key value }
"""

ORDERS_QUERY = f"""
query Orders($first: Int!, $after: String, $query: String, $lines: Int!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
{_ORDER_FIELDS}
      lineItems(first: $lines) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {_LINE_ITEM_FIELDS} }}
      }}
    }}
  }}
}}
"""

_VARIANT_FIELDS = "id title sku price availableForSale"

_PLAN_GROUPS = """
      sellingPlanGroups(first: $groups) {
        pageInfo { hasNextPage }
        nodes {
          name
          sellingPlans(first: $plans) {
            pageInfo { hasNextPage }
            nodes {
              id
              name
              deliveryPolicy {
                ... on SellingPlanRecurringDeliveryPolicy { interval intervalCount }
              }
              pricingPolicies {
                ... on SellingPlanFixedPricingPolicy {
                  adjustmentType
                  adjustmentValue {
                    ... on SellingPlanPricingPolicyPercentageValue { percentage }
                    ... on MoneyV2 { amount }
                  }
                }
              }
            }
          }
        }
      }
"""

PRODUCTS_QUERY = f"""
query Products(
  $first: Int!, $after: String, $query: String, $variants: Int!, $groups: Int!, $plans: Int!
) {{
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id
      title
      handle
      status
      updatedAt
      requiresSellingPlan
      featuredMedia {{ preview {{ image {{ url }} }} }}
      variants(first: $variants) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {_VARIANT_FIELDS} }}
      }}
{_PLAN_GROUPS}
    }}
  }}
}}
"""

PRODUCT_SELLING_PLANS_QUERY = f"""
query ProductSellingPlans($id: ID!, $groups: Int!, $plans: Int!) {{
  node(id: $id) {{
    ... on Product {{
      id
{_PLAN_GROUPS}
    }}
  }}
}}
"""

PRODUCT_VARIANTS_QUERY = f"""
query ProductVariants($id: ID!, $first: Int!, $after: String) {{
  node(id: $id) {{
    ... on Product {{
      id
      variants(first: $first, after: $after) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {_VARIANT_FIELDS} }}
      }}
    }}
  }}
}}
"""

BATCH_LINES = 10
"""Line items per order in a batched follow-up: most long orders have 6–15 lines."""


@cache
def order_line_items_batch_query(count: int) -> str:
    """Completes the line items of `count` orders in one request, one aliased `node` each."""
    params = ", ".join(f"$id{i}: ID!, $after{i}: String" for i in range(count))
    nodes = "\n".join(
        f"""  o{i}: node(id: $id{i}) {{
    ... on Order {{
      id
      lineItems(first: $first, after: $after{i}) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {_LINE_ITEM_FIELDS} }}
      }}
    }}
  }}"""
        for i in range(count)
    )
    return f"query OrderLineItemsBatch($first: Int!, {params}) {{\n{nodes}\n}}"


@cache
def line_items_batch_size(lines: int = BATCH_LINES) -> int:
    """How many orders one batched follow-up can complete within the cost limit."""
    one = requested_cost(order_line_items_batch_query(1), {"first": lines, "id0": "x"})
    return max(1, MAX_QUERY_COST // one)


SHOP_QUERY = """
query Shop {
  shop { name myshopifyDomain primaryDomain { url host } currencyCode ianaTimezone }
}
"""

BULK_RUN_MUTATION = """
mutation RunBulk($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

BULK_OPERATION_QUERY = """
query BulkOperation($id: ID!) {
  node(id: $id) {
    ... on BulkOperation {
      id
      status
      errorCode
      objectCount
      url
      partialDataUrl
    }
  }
}
"""


def bulk_orders_query(search: str | None = None) -> str:
    """The inner query of a bulk export of orders; children arrive as `__parentId` lines."""
    argument = f'(query: "{_escape(search)}")' if search else ""
    return f"""
{{
  orders{argument} {{
    edges {{
      node {{
{_ORDER_FIELDS}
        lineItems {{
          edges {{
            node {{ {_LINE_ITEM_FIELDS} }}
          }}
        }}
      }}
    }}
  }}
}}
"""


def largest_first(cost_of: Callable[[int], int], ceiling: int = 250) -> int:
    """The biggest `first` in 1..ceiling whose cost fits the limit (cost grows with `first`)."""
    low, high = 1, ceiling
    if cost_of(low) > MAX_QUERY_COST:
        raise ValueError("even one item per page exceeds the query cost limit")
    while low < high:
        middle = (low + high + 1) // 2
        if cost_of(middle) <= MAX_QUERY_COST:
            low = middle
        else:
            high = middle - 1
    return low


@cache
def orders_page_size(lines: int = LINE_ITEMS_PER_ORDER) -> int:
    return largest_first(lambda n: requested_cost(ORDERS_QUERY, {"first": n, "lines": lines}))


@cache
def products_page_size(
    variants: int = VARIANTS_PER_PRODUCT,
    groups: int = PLAN_GROUPS_PER_PRODUCT,
    plans: int = PLANS_PER_GROUP,
) -> int:
    sizes = {"variants": variants, "groups": groups, "plans": plans}
    return largest_first(lambda n: requested_cost(PRODUCTS_QUERY, {"first": n, **sizes}))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
