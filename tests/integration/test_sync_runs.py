"""The Sync page's services: chunked CSV imports with progress and row errors, and "Sync now"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from services.core.clock import utcnow
from services.core.config import get_settings
from services.core.db import get_engine
from services.core.leases import lease
from services.core.tables import ImportRun, Order, OrderLine, SyncState
from services.sync import runs as sync_runs
from services.sync.runs import (
    run_import,
    start_import,
    sync_now,
    sync_overview,
    wait_for_sync,
)
from tests.fakes.shopify import FakeShopify

HEADER = (
    "Name,Email,Financial Status,Paid at,Currency,Total,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem sku,Billing Name,Note Attributes,Cancelled at,Id,Phone\n"
)


def order_rows(count: int, *, bad: dict[int, str] | None = None) -> str:
    """`count` orders of two lines each; `bad[n]` replaces order n's second line with that row."""
    rows = []
    for n in range(count):
        number = 1001 + n
        day = 1 + n % 28
        rows.append(
            f"#{number},c{n % 40}@example.com,paid,,EUR,20.00,2025-10-{day:02d} 10:00:00 +0200,"
            f"1,Coffee - 1kg,12.50,COF-1KG,Cy Li,,,{number},\n"
        )
        second = (bad or {}).get(n) or f"#{number},,,,,,,2,Tea,3.75,TEA-1,,,,,\n"
        rows.append(second)
    return "".join(rows)


def write_csv(path: Path, count: int, *, bad: dict[int, str] | None = None) -> Path:
    path.write_text("\ufeff" + HEADER + order_rows(count, bad=bad), encoding="utf-8")
    return path


BAD_ROWS = {
    # line 2 + 2*n + 1 is order n's second row
    3: "#1004,,,,,,,x,Tea,3.75,TEA-1,,,,,\n",
    7: "#1008,,,,,,,2,Tea,-1.00,TEA-1,,,,,\n",
}


@pytest.fixture
def configured(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The services' own sessions use the test database; no Shopify token."""
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    monkeypatch.delenv("REPEATCART_SHOPIFY_TOKEN", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def new_run(url: str, path: Path, filename: str = "orders_export.csv") -> sync_runs.ImportStatus:
    with Session(get_engine(url), expire_on_commit=False) as session:
        status = start_import(session, path, filename)
        session.commit()
    return status


def orders_in(url: str) -> tuple[int, int, int]:
    """(orders, distinct gids, order lines) stored."""
    with Session(get_engine(url)) as session:
        orders = session.exec(select(func.count()).select_from(Order)).one()
        gids = session.exec(select(func.count(func.distinct(Order.shopify_gid)))).one()
        lines = session.exec(select(func.count()).select_from(OrderLine)).one()
    return orders, gids, lines


def test_bad_rows_are_reported_and_good_ones_imported(configured: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", 30, bad=BAD_ROWS)
    started = new_run(configured, path, "C:\\Users\\me\\orders_export.csv")
    assert started.status == "running" and started.filename == "orders_export.csv"
    assert started.bytes_total == path.stat().st_size

    result = run_import(started.id, path, chunk_orders=7, progress_every=5)

    assert result.status == "done", result.failure
    assert result.rows_done == 60
    assert result.orders_imported == 30, "orders with a bad line keep their good lines"
    assert result.error_count == 2
    assert result.errors == [
        {"line": 9, "order": "#1004", "message": "bad quantity 'x' in Lineitem quantity"},
        {"line": 17, "order": "#1008", "message": "negative price '-1.00' in Lineitem price"},
    ]
    assert result.bytes_done == result.bytes_total
    assert result.summary["orders_created"] == 30 and result.summary["phase"] == "done"
    assert orders_in(configured) == (30, 30, 58)
    assert not path.exists(), "the upload is deleted once imported"


def test_progress_increases_while_importing(configured: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", 400)  # ~80 kB: several reads of the file
    run = new_run(configured, path)
    seen: list[tuple[int, int, int]] = []

    def look(_rows: int) -> None:  # a second connection, as the page's poll would see it
        with Session(get_engine(configured)) as session:
            stored = session.get(ImportRun, run.id)
            assert stored is not None and stored.status == "running"
            seen.append((stored.rows_done, stored.bytes_done, stored.orders_imported))

    result = run_import(run.id, path, chunk_orders=100, after_chunk=look)

    assert len(seen) == 4
    assert [rows for rows, _, _ in seen] == sorted({rows for rows, _, _ in seen})
    assert [orders for _, _, orders in seen] == [100, 200, 300, 400]
    assert all(0 < done <= run.bytes_total for _, done, _ in seen)
    assert seen[0][1] < seen[-1][1]
    assert result.status == "done" and result.rows_done == 800


def test_only_the_first_row_errors_are_kept_but_all_are_counted(
    configured: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_runs, "MAX_STORED_ERRORS", 3)
    bad = {n: f"#{1001 + n},,,,,,,zero,Tea,3.75,TEA-1,,,,,\n" for n in range(10)}
    path = write_csv(tmp_path / "export.csv", 10, bad=bad)
    result = run_import(new_run(configured, path).id, path)
    assert result.error_count == 10
    assert [error["order"] for error in result.errors] == ["#1001", "#1002", "#1003"]


def test_a_crash_midway_marks_the_run_failed_and_a_reimport_completes(
    configured: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "export.csv", 50, bad=BAD_ROWS)

    chunks: list[int] = []

    def crash_on_second_chunk(rows: int) -> None:
        chunks.append(rows)
        if len(chunks) == 2:
            raise OSError("disk full")

    first = run_import(
        new_run(configured, path).id,
        path,
        chunk_orders=10,
        after_chunk=crash_on_second_chunk,
        keep_file=True,
    )
    assert first.status == "failed"
    assert first.failure == "OSError: disk full"
    assert first.finished_at is not None
    assert orders_in(configured)[0] == 20, "the committed chunks are kept"
    assert first.orders_imported == 20

    again = run_import(new_run(configured, path).id, path, chunk_orders=10)
    assert again.status == "done", again.failure
    assert again.summary["orders_unchanged"] == 20 and again.summary["orders_created"] == 30
    assert orders_in(configured) == (50, 50, 98), "no duplicate orders or lines"
    assert again.error_count == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file is empty"),
        (b"sku,interval_days\nCOF-1KG,30\n", "not a Shopify order export: missing columns"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a UTF-8 CSV file"),
    ],
)
def test_a_file_that_is_no_order_export_is_refused_with_a_clear_message(
    configured: str, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    status = new_run(configured, path)
    assert status.status == "failed"
    assert status.failure.startswith(message)
    assert not path.exists()
    assert orders_in(configured) == (0, 0, 0)
    with Session(get_engine(configured)) as session:
        assert sync_overview(session).imports[0].failure.startswith(message)


def test_a_header_without_rows_is_a_failed_run(configured: str, tmp_path: Path) -> None:
    path = tmp_path / "upload.csv"
    path.write_text(HEADER, encoding="utf-8")
    result = run_import(new_run(configured, path).id, path)
    assert result.status == "failed"
    assert "no order rows" in result.failure


def test_a_running_import_whose_process_died_shows_as_interrupted(
    configured: str, tmp_path: Path
) -> None:
    with Session(get_engine(configured), expire_on_commit=False) as session:
        session.add(ImportRun(filename="old.csv", started_at=utcnow() - timedelta(minutes=5)))
        session.add(ImportRun(filename="new.csv", started_at=utcnow()))
        session.commit()
        runs = {run.filename: run for run in sync_overview(session).imports}
    assert runs["old.csv"].status == "interrupted" and runs["old.csv"].failure
    assert runs["new.csv"].status == "running", "just started: its thread takes the lease now"


def test_sync_now_refuses_without_a_shopify_token(configured: str) -> None:
    assert sync_now("orders") == "not configured"
    assert sync_now("products") == "not configured"
    with Session(get_engine(configured)) as session:
        assert session.exec(select(SyncState)).all() == [], "nothing was started"
        assert not sync_overview(session).shopify_configured


def test_sync_now_says_already_running_while_the_lease_is_held(
    configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", "shpat_test")
    get_settings.cache_clear()
    with lease("order-sync") as held:
        assert held
        assert sync_now("orders") == "already running"
        with Session(get_engine(configured)) as session:
            overview = sync_overview(session)
        assert overview.orders.running and not overview.products.running


def test_sync_now_runs_the_sync_and_records_it(
    configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeShopify(restore_rate=50_000) as fake:
        fake.generate_products(6, seed=2)
        fake.generate_orders(25, seed=3)
        monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", fake.shop)
        monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", fake.token)
        monkeypatch.setenv("REPEATCART_SHOPIFY_BASE_URL", fake.base_url)
        get_settings.cache_clear()
        assert sync_now("products") == "started"
        wait_for_sync("products")
        assert sync_now("orders") == "started"
        wait_for_sync("orders")
    with Session(get_engine(configured)) as session:
        overview = sync_overview(session)
    for stream in (overview.orders, overview.products):
        assert stream.last_status == "ok", stream.last_error
        assert stream.last_finished_at is not None and not stream.running
    assert overview.orders.summary["created"] == 25
    assert overview.shopify_configured
    assert orders_in(configured)[0] == 25


def test_a_failed_sync_shows_its_error(configured: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeShopify(restore_rate=50_000) as fake:
        monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", fake.shop)
        monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", "shpat_wrong")
        monkeypatch.setenv("REPEATCART_SHOPIFY_BASE_URL", fake.base_url)
        get_settings.cache_clear()
        assert sync_now("orders") == "started"
        wait_for_sync("orders")
    with Session(get_engine(configured)) as session:
        orders = sync_overview(session).orders
    assert orders.last_status == "failed"
    assert orders.last_error


def test_a_file_that_turns_unreadable_midway_keeps_the_orders_before(
    configured: str, tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes((HEADER + order_rows(300)).encode() + b"#9999,,,,,,,1,Caf\xe9,1.00,,,,,,\n")
    started = new_run(configured, path)
    assert started.status == "running", "the start of the file is fine"
    result = run_import(started.id, path, chunk_orders=100)
    assert result.status == "failed"
    assert result.failure.startswith("not a UTF-8 CSV file (undecodable bytes after line")
    assert orders_in(configured)[0] >= 100, "the chunks before the bad bytes are kept"


def test_a_second_import_waits_for_the_first(configured: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", 3)
    run = new_run(configured, path)
    with lease(sync_runs.IMPORT_LEASE) as held:
        assert held
        result = run_import(run.id, path)
    assert result.status == "failed"
    assert result.failure == "another import is running; try again when it has finished"
    assert orders_in(configured) == (0, 0, 0)
