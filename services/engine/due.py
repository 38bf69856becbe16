"""Due dates: when one customer will need one product again.

The interval comes from the most specific evidence available (merchant override, the
customer's own cadence, the product, the store, the merchant's default) and is scaled by the
quantity last bought, because two units last twice as long as one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from services.engine.intervals import history_gaps, purchase_histories
from services.engine.types import (
    DueEntry,
    IntervalSource,
    IntervalStats,
    LearnedIntervals,
    Purchase,
    ReplenishmentSettings,
)

_LATE_FACTOR_WITHOUT_STATS = 1.5
_LATEST = datetime.max.replace(tzinfo=UTC)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def product_stats(
    product_id: int, learned: LearnedIntervals, settings: ReplenishmentSettings
) -> IntervalStats | None:
    """The product's stats, only when enough customers reordered it for them to mean something."""
    stats = learned.by_product.get(product_id)
    if stats is None or stats.n < settings.min_reorder_customers:
        return None
    return stats


def population_interval(
    product_id: int, learned: LearnedIntervals, settings: ReplenishmentSettings
) -> tuple[float, IntervalSource]:
    """Steps 3-5: what we would assume for a customer we know nothing personal about."""
    stats = product_stats(product_id, learned, settings)
    if stats is not None:
        return stats.median, "product"
    if learned.store is not None:
        return learned.store.median, "store"
    return settings.default_interval_days, "default"


def choose_interval(
    product_id: int,
    personal_gaps: Sequence[float],
    learned: LearnedIntervals,
    overrides: Mapping[int, float],
    settings: ReplenishmentSettings,
) -> tuple[float, IntervalSource]:
    """Days per unit for one (customer, product), and which rule gave it.

    `personal_gaps` are the customer's per-unit gaps for the product (one fewer than their merged
    purchases). Their own cadence is blended toward the population interval so that two odd
    gaps do not swing the date far; the prior's weight fades as they buy more.
    Non-positive or non-finite overrides are ignored as unset.
    """
    override = overrides.get(product_id)
    if override is not None and math.isfinite(override) and override > 0:
        return float(override), "override"
    prior, prior_source = population_interval(product_id, learned, settings)
    purchases = len(personal_gaps) + 1
    if personal_gaps and purchases >= settings.personal_min_purchases:
        k = len(personal_gaps)
        w = settings.personal_prior_weight
        personal_mean = math.fsum(personal_gaps) / k
        return (k * personal_mean + w * prior) / (k + w), "personal"
    return prior, prior_source


def late_interval(
    product_id: int,
    interval_days: float,
    learned: LearnedIntervals,
    settings: ReplenishmentSettings,
) -> float:
    """Days per unit after which the customer counts as late: the P75 most customers beat."""
    stats = product_stats(product_id, learned, settings)
    if stats is not None:
        return stats.p75
    if learned.store is not None:
        return learned.store.p75
    return interval_days * _LATE_FACTOR_WITHOUT_STATS


def _shift(moment: datetime, days: float) -> datetime:
    """moment + days, pinned to the calendar's ends instead of overflowing on absurd input."""
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return _LATEST if days > 0 else _EARLIEST


def due_entries_for_customer(
    purchases: Sequence[Purchase],
    learned: LearnedIntervals,
    overrides: Mapping[int, float],
    settings: ReplenishmentSettings,
) -> list[DueEntry]:
    """One entry per product the customer bought, earliest due first.

    `purchases` are one customer's countable purchases (already filtered with
    `counts_for_intervals`); same-day purchases are merged and non-positive quantities ignored.
    """
    customers = {p.customer_id for p in purchases}
    if len(customers) > 1:
        raise ValueError(f"purchases of several customers: {sorted(customers)}")
    entries = []
    for (customer_id, product_id), history in purchase_histories(purchases).items():
        last = history[-1]
        interval, source = choose_interval(
            product_id, history_gaps(history), learned, overrides, settings
        )
        due_at = _shift(last.purchased_at, interval * last.quantity)
        late_days = late_interval(product_id, interval, learned, settings) * last.quantity
        entries.append(
            DueEntry(
                customer_id=customer_id,
                product_id=product_id,
                variant_id=last.variant_id,
                last_purchased_at=last.purchased_at,
                last_quantity=last.quantity,
                interval_days=interval,
                interval_source=source,
                due_at=due_at,
                # Never before the purchase itself: a reminder for something not yet bought
                # would mean nothing (is_due is unchanged for any `now` after the purchase).
                remind_at=max(last.purchased_at, _shift(due_at, -settings.lead_days)),
                late_at=max(due_at, _shift(last.purchased_at, late_days)),
            )
        )
    entries.sort(key=lambda e: (e.due_at, e.product_id))
    return entries
