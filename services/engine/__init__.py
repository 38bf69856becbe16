"""The replenishment engine: pure functions from order history to due dates and cart pages.

No database, no clock, no I/O: callers pass countable purchases, the catalog and `now`.
"""

from services.engine.cart_composition import (
    MAX_CART_QUANTITY,
    choose_variant,
    clamp_quantity,
    compose_cart,
    item_is_available,
    resolve_replacement,
    variant_is_available,
)
from services.engine.due import (
    choose_interval,
    due_entries_for_customer,
    late_interval,
    population_interval,
    product_stats,
)
from services.engine.intervals import (
    counts_for_intervals,
    history_gaps,
    interval_stats,
    learn_intervals,
    merge_same_day,
    per_unit_gaps,
    percentile,
    purchase_histories,
    utc_day,
)
from services.engine.lapse import (
    MIN_ORDERS,
    LapsePoint,
    ReorderedProduct,
    customer_lapse_point,
    lapse_point,
    most_reordered,
)
from services.engine.types import (
    CartComposition,
    CartItem,
    CartSection,
    CatalogProduct,
    CatalogVariant,
    DueEntry,
    IntervalSource,
    IntervalStats,
    LearnedIntervals,
    Purchase,
    ReplenishmentSettings,
)

__all__ = [
    "MAX_CART_QUANTITY",
    "MIN_ORDERS",
    "CartComposition",
    "CartItem",
    "CartSection",
    "CatalogProduct",
    "CatalogVariant",
    "DueEntry",
    "IntervalSource",
    "IntervalStats",
    "LapsePoint",
    "LearnedIntervals",
    "Purchase",
    "ReorderedProduct",
    "ReplenishmentSettings",
    "choose_interval",
    "choose_variant",
    "clamp_quantity",
    "compose_cart",
    "counts_for_intervals",
    "customer_lapse_point",
    "due_entries_for_customer",
    "history_gaps",
    "interval_stats",
    "item_is_available",
    "lapse_point",
    "late_interval",
    "learn_intervals",
    "merge_same_day",
    "most_reordered",
    "per_unit_gaps",
    "percentile",
    "population_interval",
    "product_stats",
    "purchase_histories",
    "resolve_replacement",
    "utc_day",
    "variant_is_available",
]
