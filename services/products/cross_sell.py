"""The Products page's cross-sell panel: what was learned, the merchant's pinned pairs, and
whether the store has enough orders to learn any.

The pairs themselves are learned by the nightly recompute
(`services.engine.cross_sell_learning`); a pin saved here applies from the next scan, as the
scan chooses each customer's offer when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.tables import CrossSellPair, CrossSellPin, Product, SyncState
from services.engine import MIN_STORE_ORDERS
from services.engine.cross_sell_learning import (
    STATE_NAME,
    countable_orders,
    cross_sell_min_support,
)
from services.products.intervals import ProductAdminError
from services.products.search import ProductHit, search_products

LEARNED_SHOWN = 12
"""Learned pairs the panel lists (each product's best partner, strongest lift first)."""
PINS_SHOWN = 200


@dataclass(frozen=True, slots=True)
class PairView:
    product_id: int
    product_title: str
    paired_product_id: int
    paired_title: str
    lift: float | None  # None for a pin
    support: int | None


@dataclass(frozen=True, slots=True)
class CrossSellPanel:
    orders: int  # countable orders the last learning counted (or counts now, before any)
    min_support: int
    learned_at: datetime | None
    learned_pairs: int
    pins: list[PairView]
    learned: list[PairView]

    @property
    def too_little_support(self) -> bool:
        return self.orders < MIN_STORE_ORDERS


def _titles(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    query = select(Product.id, Product.title).where(col(Product.id).in_(sorted(ids)))
    return {int(pid or 0): title for pid, title in session.exec(query)}


def cross_sell_panel(session: Session) -> CrossSellPanel:
    state = session.get(SyncState, STATE_NAME)
    summary = dict(state.last_summary or {}) if state is not None else {}
    orders = int(summary["orders"]) if "orders" in summary else countable_orders(session)
    newest = select(CrossSellPin).order_by(col(CrossSellPin.pinned_at).desc())
    pins = list(session.exec(newest.limit(PINS_SHOWN)).all())
    best: SelectOfScalar[CrossSellPair] = (
        select(CrossSellPair)
        .where(CrossSellPair.rank == 1)
        .order_by(col(CrossSellPair.lift).desc(), col(CrossSellPair.product_id))
        .limit(LEARNED_SHOWN)
    )
    learned = list(session.exec(best).all())
    total = session.exec(select(func.count()).select_from(CrossSellPair)).one()
    ids = {p.product_id for p in pins} | {p.paired_product_id for p in pins}
    ids |= {p.product_id for p in learned} | {p.paired_product_id for p in learned}
    titles = _titles(session, ids)
    return CrossSellPanel(
        orders=orders,
        min_support=int(summary.get("min_support") or cross_sell_min_support(session)),
        learned_at=state.last_finished_at if state is not None else None,
        learned_pairs=int(total),
        pins=[
            PairView(
                p.product_id,
                titles.get(p.product_id, "?"),
                p.paired_product_id,
                titles.get(p.paired_product_id, "?"),
                None,
                None,
            )
            for p in pins
        ],
        learned=[
            PairView(
                p.product_id,
                titles.get(p.product_id, "?"),
                p.paired_product_id,
                titles.get(p.paired_product_id, "?"),
                p.lift,
                p.support,
            )
            for p in learned
        ],
    )


def load_cross_sell_panel() -> CrossSellPanel:
    """`cross_sell_panel` in a transaction of its own, for the dashboard."""
    with session_scope() as session:
        return cross_sell_panel(session)


def resolve_product(session: Session, query: str, what: str) -> ProductHit:
    """The one product a merchant's typed title, handle or SKU names, or why not."""
    typed = query.strip()
    if not typed:
        raise ProductAdminError(f"Type the {what}'s title, handle or SKU.")
    hits = search_products(session, typed, limit=6)
    exact = [
        hit
        for hit in hits
        if typed.casefold() in (hit.title.casefold(), hit.handle.casefold(), hit.sku.casefold())
    ]
    if len(exact) == 1 or len(hits) == 1:
        return exact[0] if exact else hits[0]
    if not hits:
        raise ProductAdminError(f"No product matches “{typed}”.")
    names = ", ".join(hit.title for hit in hits[:3])
    raise ProductAdminError(f"Several products match “{typed}” ({names}): type more of it.")


def pin_pair(session: Session, product_query: str, offer_query: str, now: datetime) -> PairView:
    """Pin the offer for buyers of a product; it replaces that product's learned partners."""
    product = resolve_product(session, product_query, "product")
    offer = resolve_product(session, offer_query, "offer")
    if product.product_id == offer.product_id:
        raise ProductAdminError("A product cannot be its own cross-sell: choose another offer.")
    if not offer.sold:
        raise ProductAdminError(f"{offer.title} is not for sale, so no cart could offer it.")
    pin = session.get(CrossSellPin, product.product_id)
    if pin is None:
        pin = CrossSellPin(product_id=product.product_id, paired_product_id=offer.product_id)
    pin.paired_product_id = offer.product_id
    pin.pinned_at = now
    session.add(pin)
    session.flush()
    return PairView(product.product_id, product.title, offer.product_id, offer.title, None, None)


def save_pin(product_query: str, offer_query: str, now: datetime | None = None) -> PairView:
    """`pin_pair` in a transaction of its own, for the dashboard."""
    with session_scope() as session:
        return pin_pair(session, product_query, offer_query, now or utcnow())


def remove_pin(product_id: int) -> None:
    """Back to the learned partners for this product."""
    with session_scope() as session:
        session.execute(delete(CrossSellPin).where(col(CrossSellPin.product_id) == product_id))


__all__ = [
    "CrossSellPanel",
    "PairView",
    "cross_sell_panel",
    "load_cross_sell_panel",
    "pin_pair",
    "remove_pin",
    "resolve_product",
    "save_pin",
]
