"""Shopify's query cost rules, checked against hand-computed figures (CONTRACTS.md)."""

from __future__ import annotations

import pytest

from services.shopify import queries
from services.shopify.query_cost import MAX_QUERY_COST, actual_cost, requested_cost


def test_an_object_costs_one_and_scalars_nothing() -> None:
    assert requested_cost("{ shop { name currencyCode } }") == 1


def test_a_connection_costs_two_plus_first() -> None:
    assert requested_cost("{ orders(first: 10) { nodes { id name } } }") == 12
    assert requested_cost("{ orders(first: 10) { pageInfo { hasNextPage } nodes { id } } }") == 13


def test_a_nested_connection_is_multiplied_by_its_parent_first() -> None:
    query = "{ orders(first: 4) { nodes { lineItems(first: 3) { nodes { variant { id } } } } } }"
    # 2 + 4 orders, each: lineItems 2 + 3, plus 3 variants
    assert requested_cost(query) == 6 + 4 * (5 + 3)


def test_the_contract_example_of_fifty_orders_with_ten_lines_is_over_two_thousand() -> None:
    cost = requested_cost(queries.ORDERS_QUERY, {"first": 50, "lines": 10})
    assert cost > 2000


def test_variables_and_edges_are_counted_like_literals_and_nodes() -> None:
    with_edges = (
        "query($n: Int!) { products(first: $n) { edges { node { featuredMedia { id } } } } }"
    )
    assert requested_cost(with_edges, {"n": 5}) == 2 + 5 + 5 * 1


def test_a_mutation_costs_ten() -> None:
    assert requested_cost(queries.BULK_RUN_MUTATION, {"query": "{ shop { id } }"}) == 10


@pytest.mark.parametrize(
    ("query", "page_size"),
    [
        (queries.ORDERS_QUERY, lambda: queries.orders_page_size()),
        (queries.PRODUCTS_QUERY, lambda: queries.products_page_size()),
    ],
)
def test_page_sizes_are_the_largest_under_the_limit(query, page_size) -> None:  # noqa: ANN001
    size = page_size()
    inner = {
        "lines": queries.LINE_ITEMS_PER_ORDER,
        "variants": queries.VARIANTS_PER_PRODUCT,
        "groups": queries.PLAN_GROUPS_PER_PRODUCT,
        "plans": queries.PLANS_PER_GROUP,
    }
    assert requested_cost(query, {"first": size, **inner}) <= MAX_QUERY_COST
    assert requested_cost(query, {"first": size + 1, **inner}) > MAX_QUERY_COST


def test_follow_up_queries_fit_the_limit() -> None:
    variants = {"id": "x", "first": queries.FOLLOW_UP_PAGE}
    assert requested_cost(queries.PRODUCT_VARIANTS_QUERY, variants) <= 1000
    size = queries.line_items_batch_size()
    batch = {"first": queries.BATCH_LINES, **{f"id{i}": "x" for i in range(size + 1)}}
    assert requested_cost(queries.order_line_items_batch_query(size), batch) <= 1000
    assert requested_cost(queries.order_line_items_batch_query(size + 1), batch) > 1000


def test_actual_cost_counts_what_came_back() -> None:
    query = "{ orders(first: 50) { pageInfo { hasNextPage } nodes { customer { id } } } }"
    data = {"orders": {"pageInfo": {"hasNextPage": False}, "nodes": [{"customer": {"id": 1}}]}}
    assert requested_cost(query) == 2 + 50 + 1 + 50
    assert actual_cost(query, None, data) == 2 + 1 + 1 + 1
    no_customer = {"orders": {"pageInfo": {}, "nodes": [{"customer": None}]}}
    assert actual_cost(query, None, no_customer) == 2 + 1 + 1


def test_a_query_with_two_operations_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one operation"):
        requested_cost("query A { shop { id } } query B { shop { id } }")
