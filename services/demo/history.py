"""Who buys what, and when: the demo store's order history as drafts, before any row exists.

Pure (a seeded `random.Random` and the catalog in, drafts out): favourites reordered at their
cadence, with each customer's own pace and the odd change of quantity, merged into one order
when purchases fall close together.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.demo.data import ProductSpec, SampleCustomer

HISTORY_DAYS = 540  # 18 months of orders before `now`
_MERGE_WINDOW = timedelta(days=7)  # purchases this close together become one order
_ONE_TIME_SHARE = 0.22


@dataclass(slots=True)
class BuiltVariant:
    id: int
    title: str
    sku: str
    price_cents: int
    factor: float


@dataclass(slots=True)
class BuiltProduct:
    id: int
    index: int
    spec: ProductSpec
    cadence: float
    variants: list[BuiltVariant]
    sold_until: datetime | None


@dataclass(slots=True)
class Draft:
    """An order before it has an id: customer index, time and (product idx, variant idx, qty)."""

    customer: int
    at: datetime
    lines: list[list[int]] = field(default_factory=list)
    sample: bool = False


def draw_orders(
    rng: random.Random,
    products: list[BuiltProduct],
    samples: Sequence[SampleCustomer],
    customers: int,
    now: datetime,
) -> list[Draft]:
    """Every customer's orders in time order: the sample customers' as written, then the drawn
    ones of customers `len(samples)`..`customers - 1`."""
    by_handle = {p.spec.handle: p for p in products}
    drafts: list[Draft] = []
    for index, sample in enumerate(samples):
        drafts.extend(_sample_drafts(index, sample, by_handle, now))
    for index in range(len(samples), customers):
        drafts.extend(_random_drafts(index, rng, products, now))
    drafts.sort(key=lambda d: (d.at, d.customer))
    return drafts


def _sample_drafts(
    index: int, sample: SampleCustomer, by_handle: dict[str, BuiltProduct], now: datetime
) -> list[Draft]:
    drafts = []
    for order in sample.orders:
        draft = Draft(index, now - timedelta(days=order.days_ago, hours=2), sample=True)
        for handle, variant_title, quantity in order.lines:
            product = by_handle[handle]
            variant = next(i for i, v in enumerate(product.variants) if v.title == variant_title)
            draft.lines.append([product.index, variant, quantity])
        drafts.append(draft)
    return drafts


def _usual_quantity(rng: random.Random) -> int:
    roll = rng.random()
    return 1 if roll < 0.8 else 2 if roll < 0.95 else 3


def _random_drafts(
    customer: int, rng: random.Random, products: list[BuiltProduct], now: datetime
) -> list[Draft]:
    """One customer's orders: favourites reordered at their cadence, merged when close."""
    first = now - timedelta(days=rng.uniform(0.3, HISTORY_DAYS), minutes=rng.randint(0, 59))
    if rng.random() < 0.6:
        active_until = now
    else:
        active_until = min(now, first + timedelta(days=rng.expovariate(1 / 240)))
    eligible = [
        p
        for p in products
        if p.spec.weight > 0 and (p.sold_until is None or p.sold_until - first > timedelta(30))
    ]
    one_time = rng.random() < _ONE_TIME_SHARE
    if one_time:
        count = rng.choices((1, 2), weights=(60, 40))[0]
    else:
        count = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    favourites: list[BuiltProduct] = []
    while len(favourites) < count:
        pick = rng.choices(eligible, weights=[p.spec.weight for p in eligible])[0]
        if pick not in favourites:
            favourites.append(pick)
    kit = next((p for p in products if p.spec.replaced_by), None)

    events: list[tuple[datetime, int, int, int]] = []  # (time, product idx, variant idx, qty)
    for position, product in enumerate(favourites):
        start = first if position == 0 or one_time else first + timedelta(rng.uniform(0, 120))
        end = min(active_until, product.sold_until or now)
        weights = [3 if i == 0 else 1 for i in range(len(product.variants))]
        variant = rng.choices(range(len(product.variants)), weights=weights)[0]
        personal = min(1.45, max(0.7, rng.lognormvariate(0, 0.15)))
        usual = _usual_quantity(rng)
        moment = start
        while moment < end:
            quantity = usual if rng.random() < 0.85 else _usual_quantity(rng)
            shown, shown_variant, cadence = product, variant, product.cadence
            if (
                moment == first
                and kit is not None
                and product.spec.handle == kit.spec.replaced_by
                and rng.random() < 0.35
            ):
                shown, shown_variant, quantity, cadence = kit, 0, 1, kit.cadence
            factor = shown.variants[shown_variant].factor
            events.append((moment, shown.index, shown_variant, quantity))
            if one_time:
                break
            gap = cadence * quantity * factor * personal * rng.lognormvariate(0, 0.12)
            moment += timedelta(days=gap, hours=rng.uniform(-6, 6))
    if not events:  # gone again the moment they arrived: still their one order
        product = favourites[0]
        events.append((min(first, product.sold_until or first), product.index, 0, 1))
    events.sort()

    drafts: list[Draft] = []
    for moment, product_index, variant_index, quantity in events:
        if drafts and moment - drafts[-1].at <= _MERGE_WINDOW:
            for line in drafts[-1].lines:
                if line[0] == product_index and line[1] == variant_index:
                    line[2] += quantity
                    break
            else:
                drafts[-1].lines.append([product_index, variant_index, quantity])
        else:
            drafts.append(Draft(customer, moment, [[product_index, variant_index, quantity]]))
    return [draft for draft in drafts if draft.at < now]
