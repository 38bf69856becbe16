"""Order-export placeholders join the Shopify catalog: after a catalog sync (over HTTP against the
fake Admin API), after an import, idempotently, and never on a guess."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, select

from repeatcart_app.state.admin_products import row_view
from repeatcart_app.state.admin_sync import merge_summary
from services.cart.links import get_or_create_link
from services.cart.page import load_cart
from services.cli import main
from services.core.config import get_settings
from services.core.db import forget_engines, get_engine
from services.core.leases import lease
from services.core.tables import (
    CartEvent,
    Customer,
    DueItem,
    IntervalStat,
    OrderLine,
    Product,
    Shop,
    Snooze,
    SyncState,
    Variant,
    YmalItem,
)
from services.engine.recompute import recompute_all
from services.ingest import placeholder_merge
from services.ingest.orders import import_order_export
from services.ingest.placeholder_merge import (
    MERGE_STATE,
    ORDER_IMPORT_LEASE,
    merge_after_catalog_sync,
    merge_placeholders,
)
from services.products.intervals import product_page
from services.sync.runs import run_import, start_import, sync_overview
from services.sync.store_sync import sync_products
from tests.fakes.shopify import FakeShopify
from tests.integration.test_shopify_sync import client_for

NOW = datetime(2025, 12, 1, 12, tzinfo=UTC)
HEADER = (
    "Name,Email,Financial Status,Paid at,Currency,Total,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem sku,Billing Name,Note Attributes,Cancelled at,Id,Phone\n"
)


def order(number: int, email: str, day: str, *lines: tuple[str, str, int]) -> str:
    """An order's rows: the order's fields on the first, one line item per row."""
    rows = []
    for index, (title, sku, quantity) in enumerate(lines):
        if index == 0:
            rows.append(
                f"#{number},{email},paid,,USD,10.00,{day} 10:00:00 +0000,{quantity},{title},"
                f"5.00,{sku},,,,{number},\n"
            )
        else:
            rows.append(f"#{number},,,,,,,{quantity},{title},5.00,{sku},,,,,\n")
    return "".join(rows)


def write_export(path: Path, *orders: str) -> Path:
    path.write_text("\ufeff" + HEADER + "".join(orders), encoding="utf-8")
    return path


HISTORY = (
    order(
        1001,
        "ava@example.com",
        "2025-06-01",
        ("Shampoo - Large", "SH-L", 1),
        ("Conditioner", "", 1),
    ),
    order(1002, "ava@example.com", "2025-07-01", ("Shampoo - Large", "SH-L", 1)),
    order(
        1003,
        "ava@example.com",
        "2025-08-01",
        ("Shampoo - Large", "SH-L", 1),
        ("Conditioner", "", 1),
    ),
    order(1004, "ava@example.com", "2025-08-15", ("Sample Sachet", "", 1)),
    order(1005, "bo@example.com", "2025-09-01", ("Mystery Box - Small", "MB-S", 1)),
    order(1006, "bo@example.com", "2025-10-01", ("Shampoo - Large", "SH-L", 2)),
)


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(restore_rate=50_000, bucket=1000) as shop:
        yield shop


@pytest.fixture
def configured(
    database_url: str, fake: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Services, the CLI and the sync use the test database and the fake shop."""
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", fake.shop)
    monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", fake.token)
    monkeypatch.setenv("REPEATCART_SHOPIFY_BASE_URL", fake.base_url)
    get_settings.cache_clear()
    with Session(get_engine(database_url)) as session:
        session.add(Shop(shop_domain=fake.shop, currency="USD"))
        session.commit()
    yield database_url
    get_settings.cache_clear()
    forget_engines()


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`repeatcart sync` sets up the process's logging; later tests get theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def sync_catalog(fake: FakeShopify):  # noqa: ANN201
    with client_for(fake) as client:
        return sync_products(client, clock=lambda: NOW)


def product_by_gid(session: Session, gid: str) -> Product | None:
    return session.exec(select(Product).where(Product.shopify_gid == gid)).first()


def placeholder_gids(session: Session) -> set[str]:
    return {
        gid for gid in session.exec(select(Product.shopify_gid)) if gid.startswith("csv-product:")
    }


def dump(session: Session) -> dict[str, list[dict]]:
    """Every row of every table a merge may touch, in key order."""
    session.expire_all()
    tables: list[type[SQLModel]] = [
        Product,
        Variant,
        OrderLine,
        DueItem,
        IntervalStat,
        Snooze,
        YmalItem,
        CartEvent,
    ]
    return {
        model.__name__: [
            row.model_dump()
            for row in session.exec(select(model).order_by(*model.__table__.primary_key.columns))
        ]
        for model in tables
    }


def test_a_catalog_sync_moves_the_history_and_settings_of_csv_placeholders(
    configured: str, fake: FakeShopify, session: Session, tmp_path: Path
) -> None:
    import_order_export(session, write_export(tmp_path / "orders.csv", *HISTORY), now=NOW)
    session.commit()
    shampoo = product_by_gid(session, "csv-product:shampoo")
    conditioner = product_by_gid(session, "csv-product:conditioner")
    sachet = product_by_gid(session, "csv-product:sample-sachet")
    assert shampoo and conditioner and sachet
    shampoo_variant = session.exec(select(Variant).where(Variant.product_id == shampoo.id)).one()
    assert shampoo_variant.shopify_id == 0
    ava = session.exec(select(Customer).where(Customer.email == "ava@example.com")).one()
    link = get_or_create_link(session, ava.id)
    # what shoppers and the merchant attached to the placeholders before the catalog arrived
    session.add(Snooze(customer_id=ava.id, product_id=shampoo.id, until=NOW + timedelta(days=7)))
    conditioner.interval_override_days = 45
    sachet.replacement_product_id = shampoo.id
    session.add_all(
        [
            YmalItem(product_id=conditioner.id, position=0),
            YmalItem(product_id=sachet.id, position=1),
        ]
    )
    session.add(
        CartEvent(
            cart_link_id=link.id, customer_id=ava.id, kind="add", variant_id=shampoo_variant.id
        )
    )
    session.commit()
    assert session.get(IntervalStat, shampoo.id) is not None, "learned on the placeholder"
    old_ids = {shampoo.id, conditioner.id}
    shampoo_id, old_variant_id, sachet_id = shampoo.id, shampoo_variant.id, sachet.id

    real_shampoo = fake.add_product(
        "Shampoo", variants=[("Large", "SH-L", "12.00"), ("Small", "SH-S", "8.00")]
    )
    real_conditioner = fake.add_product("Conditioner", variants=[("Default Title", "CO-1", "9.00")])
    fake.add_product("Mystery Box", variants=[("Large", "MB-L", "30.00")])
    report = sync_catalog(fake)

    merge = report.placeholders
    assert merge is not None
    assert (merge.merged, merge.products_removed, merge.unmatched, merge.ambiguous) == (2, 2, 2, 0)
    assert [item.line() for item in merge.left] == [
        "Mystery Box - Small (SKU MB-S): “Mystery Box” is in the catalog but has no variant "
        "“Small”",
        "Sample Sachet: no product with title “Sample Sachet” in the catalog",
    ]
    assert "; placeholders: 2 merged, 2 left unmatched" in report.line()

    session.expire_all()
    assert placeholder_gids(session) == {"csv-product:sample-sachet", "csv-product:mystery-box"}
    assert session.get(Product, shampoo_id) is None
    assert session.get(Variant, old_variant_id) is None
    new_shampoo = product_by_gid(session, real_shampoo["id"])
    new_conditioner = product_by_gid(session, real_conditioner["id"])
    assert new_shampoo and new_conditioner and new_conditioner.title == "Conditioner"
    large = session.exec(
        select(Variant).where(Variant.product_id == new_shampoo.id, Variant.title == "Large")
    ).one()
    assert large.shopify_id > 0

    lines = session.exec(select(OrderLine).where(OrderLine.sku == "SH-L")).all()
    assert len(lines) == 4
    assert {(line.product_id, line.variant_id) for line in lines} == {(new_shampoo.id, large.id)}
    conditioner_lines = session.exec(
        select(OrderLine).where(OrderLine.title == "Conditioner")
    ).all()
    assert {line.product_id for line in conditioner_lines} == {new_conditioner.id}
    assert all(line.variant_id is not None for line in conditioner_lines)

    # the moved intervals and due dates are what a full relearn from the merged lines gives
    learned = {
        stat.product_id: (stat.median, stat.n) for stat in session.exec(select(IntervalStat))
    }
    due = {
        (row.customer_id, row.product_id, row.variant_id, row.due_at)
        for row in session.exec(select(DueItem))
    }
    assert new_shampoo.id in learned
    assert (ava.id, new_shampoo.id, large.id) in {row[:3] for row in due}
    recompute_all(session, NOW)
    session.commit()
    assert {s.product_id: (s.median, s.n) for s in session.exec(select(IntervalStat))} == learned
    assert {
        (r.customer_id, r.product_id, r.variant_id, r.due_at) for r in session.exec(select(DueItem))
    } == due

    assert session.exec(select(Snooze.product_id)).all() == [new_shampoo.id]
    assert new_conditioner.interval_override_days == 45
    assert session.get(Product, sachet_id).replacement_product_id == new_shampoo.id
    assert session.exec(select(YmalItem.product_id).order_by(YmalItem.position)).all() == [
        new_conditioner.id,
        sachet_id,
    ]
    assert session.exec(select(CartEvent.variant_id)).all() == [large.id]

    cart = load_cart(session, link.token, NOW)
    assert cart is not None
    items = {item.product_id: item for item in (*cart.composition.due, *cart.composition.previous)}
    assert items[new_shampoo.id].variant_id == large.id
    assert cart.shopify_variant_ids[large.id] == large.shopify_id
    assert not old_ids & set(items)

    overview = sync_overview(session)
    assert overview.placeholders is not None
    assert overview.placeholders.report.merged == 2
    assert overview.placeholders.report.trigger == "catalog sync"
    assert session.get(SyncState, "products").last_summary["placeholders"]["merged"] == 2


def test_a_second_merge_merges_nothing_and_changes_nothing(
    configured: str, fake: FakeShopify, session: Session, tmp_path: Path
) -> None:
    import_order_export(session, write_export(tmp_path / "orders.csv", *HISTORY), now=NOW)
    session.commit()
    fake.add_product("Shampoo", variants=[("Large", "SH-L", "12.00")])
    assert sync_catalog(fake).placeholders.merged == 1
    before = dump(session)

    again = merge_placeholders(session, NOW + timedelta(hours=1))
    session.commit()

    assert (again.merged, again.products_removed, again.recompute) == (0, 0, "none")
    assert again.left_count == 3
    assert dump(session) == before
    assert sync_catalog(fake).placeholders.merged == 0
    assert dump(session) == before


def test_a_placeholder_matching_two_catalog_items_is_reported_and_left(
    configured: str, fake: FakeShopify, session: Session, tmp_path: Path
) -> None:
    export = write_export(
        tmp_path / "orders.csv",
        order(2001, "cy@example.com", "2025-05-01", ("Candle", "DUP-1", 1), ("Soap", "", 1)),
        order(2002, "cy@example.com", "2025-06-01", ("Lotion", "", 1), ("Towel - Blue", "", 1)),
    )
    import_order_export(session, export, now=NOW)
    session.commit()
    before = {
        line.title: (line.product_id, line.variant_id) for line in session.exec(select(OrderLine))
    }
    fake.add_product("Candle", variants=[("Default Title", "DUP-1", "10.00")])
    fake.add_product("Candle Refill", variants=[("Default Title", "DUP-1", "6.00")])
    fake.add_product("Soap", handle="soap")
    fake.add_product("Soap", handle="soap-bar")
    fake.add_product("Lotion", variants=[("Small", "LO-S", "5.00"), ("Large", "LO-L", "9.00")])
    fake.add_product("Towel", variants=[("Blue", "TW-1", "5.00"), ("blue ", "TW-2", "5.00")])

    merge = sync_catalog(fake).placeholders

    assert (merge.merged, merge.unmatched, merge.ambiguous) == (0, 0, 4)
    assert {item.title: (item.kind, item.reason) for item in merge.left} == {
        "Candle": ("ambiguous", "SKU “DUP-1” is on 2 catalog variants (Candle, Candle Refill)"),
        "Soap": ("ambiguous", "“Soap” matches 2 catalog products (soap, soap-bar)"),
        "Lotion": (
            "ambiguous",
            "“Lotion” has 2 variants in the catalog and the export names none",
        ),
        "Towel - Blue": ("ambiguous", "“Towel” has 2 variants titled “Blue”"),
    }
    session.expire_all()
    assert len(placeholder_gids(session)) == 4
    after = {
        line.title: (line.product_id, line.variant_id) for line in session.exec(select(OrderLine))
    }
    assert after == before


def test_catalog_first_then_an_export_merges_by_handle_and_the_cli_says_so(
    configured: str, fake: FakeShopify, session: Session, tmp_path: Path, capsys
) -> None:
    renamed = fake.add_product(
        "Shampoo Deluxe", handle="shampoo", variants=[("Large", "SHD-L", "12.00")]
    )
    fake.add_product("Conditioner", variants=[("Default Title", "CO-1", "9.00")])
    sync_catalog(fake)
    export = write_export(
        tmp_path / "orders.csv",
        # the old title and SKU: the import cannot match it, the merge finds it by handle
        order(3001, "dee@example.com", "2025-05-01", ("Shampoo - Large", "OLD-L", 1)),
        order(
            3002,
            "dee@example.com",
            "2025-06-01",
            ("Conditioner", "CO-1", 1),
            ("Bath Salt", "BS-1", 1),
        ),
    )

    assert main(["import-orders", str(export)]) == 0

    out = capsys.readouterr().out
    assert "2 products created" in out  # the import's placeholders, before the merge
    assert "placeholders: 1 merged, 1 left unmatched\n" in out
    assert (
        "  Bath Salt (SKU BS-1): no product with SKU “BS-1” or title “Bath Salt” in the catalog\n"
        in out
    )
    session.expire_all()
    assert placeholder_gids(session) == {"csv-product:bath-salt"}
    real = product_by_gid(session, renamed["id"])
    line = session.exec(select(OrderLine).where(OrderLine.sku == "OLD-L")).one()
    variant = session.get(Variant, line.variant_id)
    assert (line.product_id, variant.product_id, variant.title) == (real.id, real.id, "Large")
    assert session.get(SyncState, MERGE_STATE).last_summary["trigger"] == "order import"


def test_the_sync_command_prints_the_merge_and_what_was_left(
    configured: str, fake: FakeShopify, session: Session, tmp_path: Path, capsys, root_logging
) -> None:
    import_order_export(session, write_export(tmp_path / "orders.csv", *HISTORY), now=NOW)
    session.commit()
    fake.add_product("Shampoo", variants=[("Large", "SH-L", "12.00")])

    assert main(["sync", "--products-only"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("products sync (full): 1 seen")
    assert out[0].endswith("; placeholders: 1 merged, 3 left unmatched")
    assert out[1:] == [
        "  Conditioner: no product with title “Conditioner” in the catalog",
        "  Mystery Box - Small (SKU MB-S): no product with SKU “MB-S” or title “Mystery Box” "
        "in the catalog",
        "  Sample Sachet: no product with title “Sample Sachet” in the catalog",
    ]


def test_a_dashboard_import_merges_and_the_products_page_flags_what_is_left(
    configured: str, fake: FakeShopify, session: Session, tmp_path: Path
) -> None:
    fake.add_product("Shampoo Deluxe", handle="shampoo", variants=[("Large", "SHD-L", "12.00")])
    sync_catalog(fake)
    path = write_export(tmp_path / "orders.csv", *HISTORY)
    started = start_import(session, path, "orders.csv")
    session.commit()

    assert run_import(started.id, path, now=NOW).status == "done"

    session.expire_all()
    overview = sync_overview(session)
    assert overview.placeholders is not None
    merged = overview.placeholders.report
    assert (merged.trigger, merged.merged, merged.left_count) == ("order import", 1, 3)
    assert overview.placeholders.finished_at == NOW
    card, left = merge_summary(overview.placeholders, NOW)
    assert (card.headline, card.when) == (
        "1 merged, 3 not in the catalog",
        "After an import · just now · 2025-12-01 12:00 UTC",
    )
    assert [(row.title, row.sku, row.kind_label) for row in left] == [
        ("Conditioner", "—", "No match"),
        ("Mystery Box - Small", "MB-S", "No match"),
        ("Sample Sachet", "—", "No match"),
    ]
    rows = {row.title: row for row in product_page(session).rows}
    assert not rows["Shampoo Deluxe"].placeholder
    assert rows["Sample Sachet"].placeholder
    assert row_view(rows["Sample Sachet"])["status"] == "Not in the catalog"
    assert row_view(rows["Shampoo Deluxe"])["status"] == "Available"


def test_the_sync_leaves_placeholders_alone_while_an_import_runs(
    configured: str, fake: FakeShopify, session: Session, tmp_path: Path
) -> None:
    import_order_export(session, write_export(tmp_path / "orders.csv", *HISTORY), now=NOW)
    session.commit()
    fake.add_product("Shampoo", variants=[("Large", "SH-L", "12.00")])
    with lease(ORDER_IMPORT_LEASE) as held:
        assert held
        skipped = merge_after_catalog_sync(NOW)
    assert skipped.merged == 0 and "import is running" in skipped.line()
    assert "csv-product:shampoo" in placeholder_gids(session)
    assert session.get(SyncState, MERGE_STATE) is None


def test_a_replacement_that_would_loop_after_the_merge_is_removed(
    configured: str, fake: FakeShopify, session: Session
) -> None:
    real = fake.add_product("Shampoo", variants=[("Large", "SH-L", "12.00")])
    sync_catalog(fake)
    shampoo = product_by_gid(session, real["id"])
    old = Product(shopify_gid="csv-product:shampoo-old", title="Shampoo old", handle="shampoo-old")
    session.add(old)
    session.flush()
    session.add(
        Variant(shopify_gid="csv-variant:shampoo-old", shopify_id=0, product_id=old.id, sku="sh-l ")
    )
    shampoo.replacement_product_id = old.id  # the catalog's product points at the placeholder
    old.replacement_product_id = shampoo.id  # and the placeholder back at it
    session.commit()
    shampoo_id, old_id = shampoo.id, old.id

    merge = merge_placeholders(session, NOW)
    session.commit()

    assert merge.merged == 1 and merge.notes == [
        "a replacement by “Shampoo old” was removed: after the merge it would make a product "
        "replace itself"
    ]
    session.expire_all()
    assert session.get(Product, shampoo_id).replacement_product_id is None
    assert session.get(Product, old_id) is None


def test_a_failed_merge_is_recorded_and_the_catalog_sync_still_succeeds(
    configured: str, fake: FakeShopify, session: Session, tmp_path: Path, monkeypatch
) -> None:
    import_order_export(session, write_export(tmp_path / "orders.csv", *HISTORY), now=NOW)
    session.commit()
    fake.add_product("Shampoo", variants=[("Large", "SH-L", "12.00")])

    def broken(_session: Session, _now: datetime) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(placeholder_merge, "merge_placeholders", broken)
    report = sync_catalog(fake)

    assert report.line().endswith("; placeholders: merge failed (RuntimeError: disk full)")
    session.expire_all()
    assert session.get(SyncState, "products").last_status == "ok"
    state = session.get(SyncState, MERGE_STATE)
    assert (state.last_status, state.last_error) == ("failed", "RuntimeError: disk full")
    card, left = merge_summary(sync_overview(session).placeholders, NOW)
    assert (card.headline, card.error, left) == (
        "Nothing merged: the last run failed",
        "RuntimeError: disk full",
        [],
    )
    assert "csv-product:shampoo" in placeholder_gids(session)
