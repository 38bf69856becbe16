"""Learning reorder intervals from order history.

The unit of learning is the per-unit gap: days between two consecutive purchases of a product
by one customer, divided by the quantity bought at the earlier one (two bottles last twice as
long as one). Gaps are counted in whole UTC calendar days between merged purchases, so a gap
is always at least one day divided by a quantity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from itertools import pairwise

from services.engine.types import IntervalStats, LearnedIntervals, Purchase

_EXCLUDED_FINANCIAL_STATUSES = frozenset({"refunded", "voided"})


def counts_for_intervals(
    cancelled_at: datetime | None, financial_status: str | None, test: bool
) -> bool:
    """Whether an order is real buying behaviour; cancelled, refunded and test orders are not.

    Case-insensitive because Shopify's REST API says "refunded" and GraphQL says "REFUNDED".
    A partial refund still counts: the customer kept (and used) the rest.
    """
    if cancelled_at is not None or test:
        return False
    return (financial_status or "").strip().lower() not in _EXCLUDED_FINANCIAL_STATUSES


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of a moment; the granularity at which purchases are merged."""
    return moment.astimezone(UTC).date()


def merge_same_day(purchases: Iterable[Purchase]) -> list[Purchase]:
    """Merge a customer's purchases of a product on one UTC day, so no gap is ever zero.

    Quantities are summed; the merged purchase keeps the day's latest time and that purchase's
    variant. Non-positive quantities are dropped as data errors. The result is ordered by
    (customer, product, time).
    """
    by_day: dict[tuple[int, int, date], list[Purchase]] = {}
    for purchase in purchases:
        if purchase.quantity <= 0:
            continue
        key = (purchase.customer_id, purchase.product_id, utc_day(purchase.purchased_at))
        by_day.setdefault(key, []).append(purchase)
    merged = []
    for (customer_id, product_id, _day), same_day in by_day.items():
        latest = max(same_day, key=lambda p: p.purchased_at)
        merged.append(
            Purchase(
                customer_id=customer_id,
                product_id=product_id,
                variant_id=latest.variant_id,
                purchased_at=latest.purchased_at.astimezone(UTC),
                quantity=sum(p.quantity for p in same_day),
            )
        )
    merged.sort(key=lambda p: (p.customer_id, p.product_id, p.purchased_at))
    return merged


def purchase_histories(purchases: Iterable[Purchase]) -> dict[tuple[int, int], list[Purchase]]:
    """Merged purchases grouped by (customer, product), each list in time order."""
    histories: dict[tuple[int, int], list[Purchase]] = {}
    for purchase in merge_same_day(purchases):
        histories.setdefault((purchase.customer_id, purchase.product_id), []).append(purchase)
    return histories


def history_gaps(history: Sequence[Purchase]) -> list[float]:
    """Per-unit gaps of one customer's merged, time-ordered purchases of one product."""
    return [
        (utc_day(later.purchased_at) - utc_day(earlier.purchased_at)).days / earlier.quantity
        for earlier, later in pairwise(history)
    ]


def per_unit_gaps(purchases: Iterable[Purchase]) -> dict[int, dict[int, list[float]]]:
    """product -> customer -> per-unit gaps; only customers who bought the product twice+."""
    gaps: dict[int, dict[int, list[float]]] = {}
    for (customer_id, product_id), history in purchase_histories(purchases).items():
        customer_gaps = history_gaps(history)
        if customer_gaps:
            gaps.setdefault(product_id, {})[customer_id] = customer_gaps
    return gaps


def _percentile_sorted(ordered: Sequence[float], fraction: float) -> float:
    position = (len(ordered) - 1) * fraction
    index = math.floor(position)
    low = ordered[index]
    if index + 1 >= len(ordered):
        return low
    high = ordered[index + 1]
    value = low + (high - low) * (position - index)
    # Rounding must not push the value out of its segment, or p25 <= median <= p75 could break.
    return min(max(value, low), high)


def percentile(values: Iterable[float], pct: float) -> float:
    """Linear-interpolation percentile (numpy's default, statistics' 'inclusive'); pct 0..100."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError("pct must be within 0..100")
    return _percentile_sorted(ordered, pct / 100)


def interval_stats(values_by_customer: Mapping[int, Sequence[float]]) -> IntervalStats | None:
    """Statistics of every gap given; n counts customers, so one heavy buyer is still one voice.

    None when there is no gap at all: nothing was learned.
    """
    ordered = sorted(gap for gaps in values_by_customer.values() for gap in gaps)
    if not ordered:
        return None
    mean = math.fsum(ordered) / len(ordered)
    return IntervalStats(
        p25=_percentile_sorted(ordered, 0.25),
        median=_percentile_sorted(ordered, 0.5),
        p75=_percentile_sorted(ordered, 0.75),
        mean=min(max(mean, ordered[0]), ordered[-1]),
        n=sum(1 for gaps in values_by_customer.values() if gaps),
    )


def learn_intervals(purchases: Iterable[Purchase]) -> LearnedIntervals:
    """Per-product and store-wide interval statistics from countable purchases.

    Callers filter orders with `counts_for_intervals` first; this function trusts its input.
    """
    gaps = per_unit_gaps(purchases)
    by_product: dict[int, IntervalStats] = {}
    store_by_customer: dict[int, list[float]] = {}
    for product_id, by_customer in gaps.items():
        stats = interval_stats(by_customer)
        if stats is not None:
            by_product[product_id] = stats
        for customer_id, customer_gaps in by_customer.items():
            store_by_customer.setdefault(customer_id, []).extend(customer_gaps)
    return LearnedIntervals(by_product=by_product, store=interval_stats(store_by_customer))
