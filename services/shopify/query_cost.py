"""Shopify's GraphQL query cost, computed from the query text (CONTRACTS.md, "Query cost").

Shopify refuses a query whose *requested* cost exceeds 1,000 points and charges the bucket that
cost before refunding down to the *actual* cost. The client sizes its pages with
`requested_cost` so that no query is refused; a test server can charge `actual_cost` from the
data it returned. The rules: scalars and enums 0; an object 1 plus its fields; a connection
(a field with `first`) 2 plus `first`, with the fields of each node counted `first` times;
a mutation field 10.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    value_from_ast_untyped,
)

__all__ = ["MAX_QUERY_COST", "MUTATION_COST", "actual_cost", "requested_cost"]

MAX_QUERY_COST = 1000
MUTATION_COST = 10
_NODE_LISTS = ("nodes", "edges")


def requested_cost(query: str, variables: Mapping[str, Any] | None = None) -> int:
    """What Shopify would charge up front for `query`: every connection assumed full."""
    operation, fragments = _operation(query)
    walker = _Walker(variables or {}, fragments)
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(operation.selection_set.selections)
    return walker.selections(operation.selection_set, None)


def actual_cost(query: str, variables: Mapping[str, Any] | None, data: Any) -> int:
    """What the same query costs for the `data` actually returned (connections as filled)."""
    operation, fragments = _operation(query)
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * len(operation.selection_set.selections)
    return _Walker(variables or {}, fragments).selections(operation.selection_set, data or {})


def _operation(query: str) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode]]:
    document = parse(query)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise ValueError("a query must hold exactly one operation")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return operations[0], fragments


class _Walker:
    """Walks a selection set; with `data` given, counts what came back instead of `first`."""

    def __init__(
        self, variables: Mapping[str, Any], fragments: dict[str, FragmentDefinitionNode]
    ) -> None:
        self._variables = variables
        self._fragments = fragments

    def selections(self, selection_set: SelectionSetNode | None, data: Any) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, data)
            elif isinstance(selection, InlineFragmentNode):
                total += self.selections(selection.selection_set, data)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments[selection.name.value]
                total += self.selections(fragment.selection_set, data)
        return total

    def field(self, node: FieldNode, parent: Any) -> int:
        if node.selection_set is None:
            return 0
        key = node.alias.value if node.alias else node.name.value
        value = parent.get(key) if isinstance(parent, dict) else None
        if parent is not None and value is None:
            return 0
        first = self._argument(node, "first")
        if first is None:
            items = value if isinstance(value, list) else [value]
            return 1 + sum(self.selections(node.selection_set, item) for item in items)
        return self._connection(node, int(first), value)

    def _connection(self, node: FieldNode, first: int, value: Any) -> int:
        assert node.selection_set is not None
        counted = value is not None
        cost = 2
        for child in node.selection_set.selections:
            if not isinstance(child, FieldNode):
                continue
            name = child.name.value
            if name not in _NODE_LISTS:
                cost += self.field(child, value if counted else None)
                continue
            items = (value.get(name) or []) if counted else [None] * first
            cost += len(items)
            for item in items:
                inner = item.get("node") if (name == "edges" and item is not None) else item
                selection = child.selection_set
                if name == "edges" and selection is not None:
                    selection = _node_selection(selection)
                cost += self.selections(selection, inner)
        return cost

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, dict(self._variables))
        return None


def _node_selection(edges: SelectionSetNode) -> SelectionSetNode | None:
    for child in edges.selections:
        if isinstance(child, FieldNode) and child.name.value == "node":
            return child.selection_set
    return None
