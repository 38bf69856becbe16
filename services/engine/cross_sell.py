"""Primed For Cross-sell: which product a customer is most likely to want next.

A pair (A, B) is scored over the store's own customers, each customer's basket being every
product they ever bought in a countable order: `support` is how many bought both, and `lift` is
how much likelier a buyer of A is to buy B than the store's customers at large,
support × customers / (buyers of A × buyers of B). Only a lift above 1 (A's buyers favour B)
makes a pair. Pairs under the merchant's minimum support are noise (two customers who happened
to buy both) and are not kept, and a store with fewer than `MIN_STORE_ORDERS` orders has too
little history for any pair.

A customer's cross-sell is the best partner, among those of everything they bought, that they
have never bought: the merchant's pinned partners first (a pin replaces a product's learned
partners), then the learned ones by lift, support and id.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

MIN_STORE_ORDERS = 100
"""Countable orders a store needs before any pair is learned: below it, support is too thin."""
TOP_PARTNERS = 5
"""Partners kept per product: enough that a customer who bought the best still gets one."""


@dataclass(frozen=True, slots=True)
class PairCount:
    """Customers who bought both products of an ordered pair."""

    product_id: int
    paired_product_id: int
    support: int


@dataclass(frozen=True, slots=True)
class CrossSellPair:
    """A kept pair: buyers of `product_id` favour `paired_product_id` by `lift`."""

    product_id: int
    paired_product_id: int
    rank: int
    lift: float
    support: int


def lift(support: int, buyers: int, paired_buyers: int, customers: int) -> float:
    """P(bought B | bought A) / P(bought B), from customer counts."""
    if support <= 0 or buyers <= 0 or paired_buyers <= 0 or customers <= 0:
        return 0.0
    return support * customers / (buyers * paired_buyers)


def best_pairs(
    counts: Iterable[PairCount],
    buyers: Mapping[int, int],
    customers: int,
    min_support: int,
    top: int = TOP_PARTNERS,
) -> Iterator[CrossSellPair]:
    """Each product's `top` partners by lift (then support, then lowest id), from pair counts
    grouped by `product_id` (as an ORDER BY gives them): one product's partners in memory at
    a time, never the store's."""
    if min_support < 1:
        raise ValueError("the minimum support must be >= 1")

    def flush(product_id: int, heap: list[tuple[float, int, int]]) -> Iterator[CrossSellPair]:
        ranked = sorted(heap, key=lambda item: (-item[0], -item[1], -item[2]))
        for rank, (score, support, negative_id) in enumerate(ranked, start=1):
            yield CrossSellPair(product_id, -negative_id, rank, score, support)

    current: int | None = None
    heap: list[tuple[float, int, int]] = []  # (lift, support, -paired id): the smallest is worst
    for count in counts:
        if count.product_id != current:
            if current is not None:
                yield from flush(current, heap)
            current, heap = count.product_id, []
        if count.support < min_support or count.product_id == count.paired_product_id:
            continue
        score = lift(
            count.support,
            buyers.get(count.product_id, 0),
            buyers.get(count.paired_product_id, 0),
            customers,
        )
        if score <= 1.0:  # A's buyers take B no more than anyone: not a pairing
            continue
        item = (score, count.support, -count.paired_product_id)
        if len(heap) < top:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)
    if current is not None:
        yield from flush(current, heap)


def cross_sell_candidates(
    bought: Collection[int],
    learned: Mapping[int, Sequence[CrossSellPair]],
    pins: Mapping[int, int],
) -> list[int]:
    """Products to offer a customer who bought `bought`, best first, none they bought.

    Pinned partners of their products come first (in product id order: the merchant chose
    them, there is no score between them), then learned partners of unpinned products by
    lift, support and id; a product listed twice keeps its better place."""
    pinned = [pins[pid] for pid in sorted(bought) if pid in pins]
    scored = sorted(
        (pair for pid in bought if pid not in pins for pair in learned.get(pid, ())),
        key=lambda pair: (-pair.lift, -pair.support, pair.paired_product_id),
    )
    ranked: list[int] = []
    seen = set(bought)
    for candidate in (*pinned, *(pair.paired_product_id for pair in scored)):
        if candidate not in seen:
            seen.add(candidate)
            ranked.append(candidate)
    return ranked
