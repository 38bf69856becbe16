"""Joins products known only from an order export (placeholders) to the synced Shopify catalog.

An order export names line items by SKU and title, never by id, so a line that matched nothing
when it was imported got a placeholder product and variant (`csv-product:…`, variant id 0) that a
cart cannot check out. Once the catalog holds the real product, everything that points at the
placeholder moves to it and the placeholder is deleted, so those customers' history, due dates
and the merchant's settings live on the product Shopify sells.

A placeholder moves only when exactly one catalog variant matches it (`placeholder_matching`
decides, from both sides read once); the others are reported with the reason and left as they
are. The moves are set-based statements through a temporary mapping table, so the cost follows
the number of statements, not of placeholders.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlmodel import Session, SQLModel, col

from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.tables import (
    DueItem,
    JobLease,
    Order,
    OrderLine,
    Product,
    SyncState,
    Variant,
    YmalItem,
)
from services.ingest.catalog import DELETED_STATUS, SHOPIFY_PRODUCT_PREFIX
from services.ingest.matching import PLACEHOLDER_PRODUCT_PREFIX
from services.ingest.orders import refresh_due_dates
from services.ingest.placeholder_matching import (
    CatalogIndex,
    LeftPlaceholder,
    MergePlan,
    NamedVariant,
    list_labels,
    plan_merge,
)

__all__ = [
    "MERGE_STATE",
    "ORDER_IMPORT_LEASE",
    "LeftPlaceholder",
    "MergeRecord",
    "PlaceholderMergeReport",
    "has_shopify_catalog",
    "last_merge",
    "merge_after_catalog_sync",
    "merge_after_order_import",
    "merge_placeholders",
]

log = logging.getLogger(__name__)

MERGE_STATE = "placeholder-merge"
"""The `SyncState` row that keeps the last merge's report for the dashboard's Sync page."""
ORDER_IMPORT_LEASE = "csv-import"
"""Held while the dashboard imports an order export; its chunks may still use placeholders."""
MAX_LISTED = 200
"""Placeholders left behind that a report lists (all are counted): a stored report stays small."""

Trigger = Literal["catalog sync", "order import"]


@dataclass(slots=True)
class PlaceholderMergeReport:
    """What one merge did: placeholders (variants) merged and those left with their reasons."""

    trigger: str = ""
    merged: int = 0
    products_removed: int = 0
    unmatched: int = 0
    ambiguous: int = 0
    left: list[LeftPlaceholder] = field(default_factory=list)
    """The first `MAX_LISTED` placeholders left behind, by title."""
    notes: list[str] = field(default_factory=list)
    recompute: str = "none"
    seconds: float = 0.0
    skipped: str = ""
    """Why the merge did not run this time ("" when it ran)."""
    error: str = ""

    @property
    def left_count(self) -> int:
        return self.unmatched + self.ambiguous

    def line(self) -> str:
        if self.error:
            return f"placeholders: merge failed ({self.error})"
        if self.skipped:
            return f"placeholders: not merged, {self.skipped}"
        text_ = f"placeholders: {self.merged} merged, {self.left_count} left unmatched"
        return text_ + (f" ({self.ambiguous} ambiguous)" if self.ambiguous else "")

    def detail_lines(self, limit: int = 50) -> list[str]:
        """The placeholders left behind, one line each, and the notes; for the CLI."""
        lines = [f"  {item.line()}" for item in self.left[:limit]]
        if self.left_count > min(limit, len(self.left)):
            lines.append(f"  ... and {self.left_count - min(limit, len(self.left))} more")
        return lines + [f"  note: {note}" for note in self.notes]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlaceholderMergeReport:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["left"] = [LeftPlaceholder(**item) for item in data.get("left") or []]
        known["notes"] = list(data.get("notes") or [])
        return cls(**known)


@dataclass(frozen=True, slots=True)
class MergeRecord:
    """The last merge as stored for the Sync page."""

    finished_at: datetime | None
    report: PlaceholderMergeReport


# ---- reading both sides ---------------------------------------------------------------------


def _rows(session: Session, prefix: str, *, with_empty_products: bool) -> list[NamedVariant]:
    query = (
        select(
            col(Variant.id),
            col(Product.id),
            col(Product.title),
            col(Product.handle),
            col(Variant.title),
            col(Variant.sku),
        )
        .select_from(Product)
        .where(col(Product.shopify_gid).startswith(prefix))
    )
    if with_empty_products:
        query = query.outerjoin(Variant, col(Variant.product_id) == Product.id).where(
            col(Product.status) != DELETED_STATUS
        )
    else:
        query = query.join(Variant, col(Variant.product_id) == Product.id)
    return [NamedVariant(*row) for row in session.execute(query)]


def has_shopify_catalog(session: Session) -> bool:
    """Whether any product came from Shopify's catalog (only then can a placeholder match)."""
    query = select(col(Product.id)).where(
        col(Product.shopify_gid).startswith(SHOPIFY_PRODUCT_PREFIX)
    )
    return session.execute(query.limit(1)).first() is not None


# ---- moving ---------------------------------------------------------------------------------

_TEMP = MetaData()
_VARIANT_MAP = Table(
    "placeholder_variant_map",
    _TEMP,
    Column("placeholder_id", Integer, primary_key=True),
    Column("owner_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("variant_id", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
_PRODUCT_MAP = Table(
    "placeholder_product_map",
    _TEMP,
    Column("placeholder_id", Integer, primary_key=True),
    Column("product_id", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
_VM = _VARIANT_MAP.c
_PM = _PRODUCT_MAP.c
_TABLE = SQLModel.metadata.tables
_LINE = _TABLE["order_line"].c
_PRODUCT = _TABLE["product"]
_YMAL = _TABLE["ymal_item"]


def _fill_maps(session: Session, plan: MergePlan) -> None:
    """Temporary tables holding the plan, which the set-based statements join against.

    Dropped first: SQLite's driver runs DDL outside a transaction, so a crashed run's tables
    can outlive it on a pooled connection.
    """
    for table in (_VARIANT_MAP, _PRODUCT_MAP):
        session.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
        table.create(session.connection())
    session.execute(
        insert(_VARIANT_MAP),
        [
            {"placeholder_id": p, "owner_id": owner, "product_id": product, "variant_id": variant}
            for p, (owner, product, variant) in plan.variants.items()
        ],
    )
    if plan.products:
        session.execute(
            insert(_PRODUCT_MAP),
            [{"placeholder_id": p, "product_id": real} for p, real in plan.products.items()],
        )


def _drop_maps(session: Session) -> None:
    for table in (_VARIANT_MAP, _PRODUCT_MAP):
        table.drop(session.connection())


def _customers_touched(session: Session) -> set[int]:
    """Customers with purchases or due rows on a placeholder that loses variants: their due
    dates are rewritten once the lines have moved."""
    owners = select(_VM.owner_id)
    bought = (
        select(col(Order.customer_id))
        .distinct()
        .join_from(OrderLine, Order, col(OrderLine.order_id) == Order.id)
        .where(col(OrderLine.product_id).in_(owners), col(Order.customer_id).is_not(None))
    )
    due = select(col(DueItem.customer_id)).distinct().where(col(DueItem.product_id).in_(owners))
    return set(session.execute(bought).scalars()) | set(session.execute(due).scalars())


def _move_rows(session: Session) -> None:
    """Order lines, cart events and snoozes follow their placeholder to the catalog."""
    by_variant = _VM.placeholder_id == _LINE.variant_id
    session.execute(
        update(_LINE.product_id.table)
        .where(
            _LINE.product_id.in_(select(_VM.owner_id)),  # indexed: only the placeholders' lines
            _LINE.variant_id.in_(select(_VM.placeholder_id)),
        )
        .values(
            product_id=select(_VM.product_id).where(by_variant).scalar_subquery(),
            variant_id=select(_VM.variant_id).where(by_variant).scalar_subquery(),
        )
    )
    # what is left on a placeholder merged whole names no variant (a title-only line)
    _remap(session, _LINE.product_id, _PM.placeholder_id, _PM.product_id)
    _remap(session, _TABLE["cart_event"].c.variant_id, _VM.placeholder_id, _VM.variant_id)
    _remap(session, _TABLE["snooze"].c.product_id, _PM.placeholder_id, _PM.product_id)


def _remap(session: Session, column: Column, source: Column, target: Column) -> None:
    """`column` from `source` to `target` values of a map table, where it holds a `source`.

    A correlated subquery rather than UPDATE … FROM, which SQLite and PostgreSQL spell apart.
    """
    session.execute(
        update(column.table)
        .where(column.in_(select(source)))
        .values({column.name: select(target).where(source == column).scalar_subquery()})
    )


def _move_settings(session: Session, plan: MergePlan, report: PlaceholderMergeReport) -> None:
    """The merchant's overrides, replacements and YMAL entries pass to the catalog product;
    where the catalog product has its own, that one is kept."""
    merged = select(_PM.placeholder_id)
    placeholders = session.execute(
        select(col(Product.id), col(Product.title), col(Product.interval_override_days)).where(
            col(Product.id).in_(merged)
        )
    ).all()
    titles = {product_id: title for product_id, title, _ in placeholders}
    targets = session.execute(
        select(col(Product.id), col(Product.interval_override_days)).where(
            col(Product.id).in_(select(_PM.product_id))
        )
    ).all()
    has_override = {product_id for product_id, days in targets if days is not None}
    offered: dict[int, set[float]] = defaultdict(set)
    for product_id, _, days in placeholders:
        if days is not None:
            offered[plan.products[product_id]].add(days)
    overrides: dict[int, float] = {}
    for real, values in offered.items():
        if real in has_override:
            continue
        if len(values) == 1:
            overrides[real] = next(iter(values))
        else:
            days = list_labels(f"{v:g} d" for v in values)
            report.notes.append(
                f"placeholders with different overrides ({days}) merged into one product: "
                "none was copied"
            )
    _set_by_id(session, _PRODUCT, "interval_override_days", overrides)
    _move_replacements(session, plan.products, titles, report)
    _move_ymal(session, plan.products)


def _move_replacements(
    session: Session, merged: dict[int, int], titles: dict[int, str], report: PlaceholderMergeReport
) -> None:
    graph: dict[int, int] = dict(
        session.execute(
            select(col(Product.id), col(Product.replacement_product_id)).where(
                col(Product.replacement_product_id).is_not(None)
            )
        ).all()
    )
    changes: dict[int, int | None] = {}
    for source, target in sorted(graph.items()):
        if source in merged or target not in merged:
            continue
        real = merged[target]
        if real == source or _closes_loop(graph, source, real):
            changes[source] = None
            report.notes.append(
                f"a replacement by “{titles.get(target, target)}” was removed: after the merge "
                "it would make a product replace itself"
            )
        else:
            changes[source] = real
        _apply(graph, source, changes[source])
    for placeholder, target in sorted(graph.items()):
        if placeholder not in merged:
            continue
        real, resolved = merged[placeholder], merged.get(target, target)
        if graph.get(real) is not None or resolved == real or _closes_loop(graph, real, resolved):
            continue
        changes[real] = resolved
        _apply(graph, real, resolved)
    _set_by_id(session, _PRODUCT, "replacement_product_id", changes)


def _apply(graph: dict[int, int], source: int, target: int | None) -> None:
    if target is None:
        graph.pop(source, None)
    else:
        graph[source] = target


def _closes_loop(graph: dict[int, int], source: int, target: int) -> bool:
    """Whether `source` → `target` would lead back to `source` through existing mappings."""
    seen: set[int] = set()
    current: int | None = target
    while current is not None and current not in seen:
        if current == source:
            return True
        seen.add(current)
        current = graph.get(current)
    return False


def _move_ymal(session: Session, merged: dict[int, int]) -> None:
    items = session.execute(
        select(col(YmalItem.id), col(YmalItem.product_id))
        .where(col(YmalItem.product_id).in_(select(_PM.placeholder_id)))
        .order_by(col(YmalItem.position), col(YmalItem.id))
    ).all()
    if not items:
        return
    listed = set(
        session.execute(
            select(col(YmalItem.product_id)).where(
                col(YmalItem.product_id).in_(select(_PM.product_id))
            )
        ).scalars()
    )
    dropped: list[int] = []
    moved: dict[int, int] = {}
    for item_id, placeholder in items:
        real = merged[placeholder]
        if real in listed:
            dropped.append(item_id)
        else:
            moved[item_id] = real
            listed.add(real)
    if dropped:
        session.execute(delete(_YMAL).where(_YMAL.c.id.in_(dropped)))
    _set_by_id(session, _YMAL, "product_id", moved)


def _set_by_id(session: Session, table: Table, column: str, values: dict[int, Any]) -> None:
    """One batched UPDATE giving each row (by id) its own value of `column`."""
    if values:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({column: bindparam("b_value")}),
            [{"b_id": row_id, "b_value": value} for row_id, value in values.items()],
        )


def _delete_placeholders(session: Session) -> None:
    """Derived rows first (due rows, intervals), then the emptied variants and products.

    Core statements: the ORM would fetch every deleted key back to update a session that is
    expired right after.
    """
    owners = select(_VM.owner_id)
    merged = select(_PM.placeholder_id)
    due, stat, variant = _TABLE["due_item"], _TABLE["interval_stat"], _TABLE["variant"]
    session.execute(delete(due).where(due.c.product_id.in_(owners)))
    session.execute(delete(stat).where(stat.c.product_id.in_(merged)))
    session.execute(
        update(_PRODUCT).where(_PRODUCT.c.id.in_(merged)).values(replacement_product_id=None)
    )
    session.execute(delete(variant).where(variant.c.id.in_(select(_VM.placeholder_id))))
    session.execute(delete(_PRODUCT).where(_PRODUCT.c.id.in_(merged)))


def merge_placeholders(session: Session, now: datetime) -> PlaceholderMergeReport:
    """Merge every placeholder that matches exactly one catalog variant; report the rest.

    The caller owns the transaction (this flushes, never commits). Due dates and learned
    intervals of the products and customers touched are refreshed with the same functions as
    after an import, so a merged product's figures come from all its purchases. Running it again
    merges nothing and changes nothing.
    """
    started = time.perf_counter()
    report = PlaceholderMergeReport()
    placeholders = _rows(session, PLACEHOLDER_PRODUCT_PREFIX, with_empty_products=False)
    if not placeholders:
        report.seconds = time.perf_counter() - started
        return report
    catalog = CatalogIndex(_rows(session, SHOPIFY_PRODUCT_PREFIX, with_empty_products=True))
    plan = plan_merge(placeholders, catalog)
    report.unmatched = sum(1 for item in plan.left if item.kind == "unmatched")
    report.ambiguous = len(plan.left) - report.unmatched
    report.left = plan.left[:MAX_LISTED]
    if plan.variants:
        session.flush()
        _fill_maps(session, plan)
        customers = _customers_touched(session)
        _move_rows(session)
        _move_settings(session, plan, report)
        _delete_placeholders(session)
        _drop_maps(session)
        session.expire_all()
        relearn = {real for _, real, _ in plan.variants.values()}
        relearn |= {owner for owner, _, _ in plan.variants.values()} - set(plan.products)
        report.recompute = refresh_due_dates(session, customers, now, relearn)
        report.merged = len(plan.variants)
        report.products_removed = len(plan.products)
    session.flush()
    report.seconds = time.perf_counter() - started
    return report


# ---- the use cases: after a catalog sync, after an order import -----------------------------


def merge_after_catalog_sync(now: datetime) -> PlaceholderMergeReport:
    """The catalog sync's last step, in a transaction of its own; the report is recorded.

    Skipped while a dashboard import runs: its later chunks may still write lines onto the
    placeholders it created, and it merges them itself when it ends.
    """
    with session_scope() as session:
        lease = session.get(JobLease, ORDER_IMPORT_LEASE)
        if lease is not None and lease.expires_at > utcnow():  # leases run on the wall clock
            return PlaceholderMergeReport(
                trigger="catalog sync", skipped="an order import is running and merges after it"
            )
    return _merge_and_record(now, "catalog sync")


def merge_after_order_import(now: datetime) -> PlaceholderMergeReport | None:
    """After an order export was imported: None when no Shopify catalog was synced yet (every
    placeholder would be "unmatched", which says nothing)."""
    with session_scope() as session:
        if not has_shopify_catalog(session):
            return None
    return _merge_and_record(now, "order import")


def _merge_and_record(now: datetime, trigger: Trigger) -> PlaceholderMergeReport:
    """Merge in one transaction and record the report; a failure is recorded, not raised: the
    sync or import it follows did its own work, and the next one merges again."""
    try:
        with session_scope() as session:
            report = merge_placeholders(session, now)
            report.trigger = trigger
            _record(session, report, now)
    except Exception as error:
        log.exception("placeholder merge after the %s failed", trigger)
        report = PlaceholderMergeReport(trigger=trigger, error=f"{type(error).__name__}: {error}")
        try:
            with session_scope() as session:
                _record(session, report, now)
        except Exception:  # the database itself may be what failed; the log says why
            log.exception("could not record the failed placeholder merge")
    return report


def _record(session: Session, report: PlaceholderMergeReport, now: datetime) -> None:
    state = session.get(SyncState, MERGE_STATE) or SyncState(name=MERGE_STATE)
    state.last_finished_at = now
    state.last_status = "failed" if report.error else "ok"
    state.last_error = report.error[:1000]
    state.last_summary = report.as_dict()
    session.add(state)


def last_merge(session: Session) -> MergeRecord | None:
    """The last recorded merge, or None when none ran yet."""
    state = session.get(SyncState, MERGE_STATE)
    if state is None or not state.last_summary:
        return None
    return MergeRecord(state.last_finished_at, PlaceholderMergeReport.from_dict(state.last_summary))
