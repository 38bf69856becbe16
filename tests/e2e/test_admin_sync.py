"""The Sync page in a browser: status cards, "Sync now" without Shopify, and a CSV import."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete
from sqlmodel import Session

from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import ImportRun, JobLease, SyncState
from tests.e2e.conftest import RunningApp, open_admin, screenshot

pytestmark = pytest.mark.e2e

HEADER = (
    "Name,Email,Financial Status,Paid at,Currency,Total,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem sku,Billing Name,Note Attributes,Cancelled at,Id,Phone\n"
)


def export_with_two_bad_rows(path: Path) -> Path:
    """Eight orders of two lines; the second line of orders 3 and 6 cannot be read."""
    rows = []
    for n in range(8):
        name, order_id = f"#E{501 + n}", 990_000_501 + n
        rows.append(
            f"{name},e2e{n}@example.com,paid,,USD,20.00,2025-10-{n + 1:02d} 10:00:00 +0000,"
            f"1,Coffee - 1kg,12.50,,Eve Doe,,,{order_id},\n"
        )
        quantity = {3: "two", 6: "2"}.get(n, "2")
        price = "-3.75" if n == 6 else "3.75"
        rows.append(f"{name},,,,,,,{quantity},Tea,{price},,,,,,\n")
    path.write_text("\ufeff" + HEADER + "".join(rows), encoding="utf-8")
    return path


def choose_file(page: Page, path: Path) -> None:
    page.get_by_test_id("upload-dropzone").locator("input[type=file]").set_input_files(str(path))
    expect(page.get_by_test_id("selected-file")).to_have_text(path.name)
    page.get_by_test_id("import-start").click()


def test_sync_now_without_shopify_says_it_is_not_connected(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    open_admin(page, running_app, "/admin/sync")
    expect(page.get_by_test_id("sync-card-orders")).to_be_visible()
    expect(page.get_by_test_id("sync-card-products")).to_be_visible()
    expect(page.get_by_test_id("not-configured")).to_be_visible()
    page.get_by_test_id("sync-now-orders").click()
    message = page.get_by_test_id("sync-message-orders")
    expect(message).to_contain_text("Shopify is not connected")
    expect(page.get_by_test_id("sync-status-orders")).to_have_text("Never run")
    screenshot(page, f"admin-sync-{viewport}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_export_with_bad_rows_imports_the_rest_and_reports_them(
    page: Page, viewport: str, running_app: RunningApp, tmp_path: Path
) -> None:
    open_admin(page, running_app, "/admin/sync")
    choose_file(page, export_with_two_bad_rows(tmp_path / f"orders_export_{viewport}.csv"))

    expect(page.get_by_test_id("import-done")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("import-progress")).to_have_attribute("data-state", "complete")
    expect(page.get_by_test_id("import-phase")).to_have_text("Done: 16 rows read")
    expect(page.get_by_test_id("import-result")).to_contain_text("8 orders")
    rows = page.get_by_test_id("import-error-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("#E504")
    expect(rows.nth(0)).to_contain_text("bad quantity 'two' in Lineitem quantity")
    expect(rows.nth(1)).to_contain_text("#E507")
    expect(rows.nth(1)).to_contain_text("negative price")
    history = page.get_by_test_id("history-row").first
    expect(history).to_contain_text(f"orders_export_{viewport}.csv")
    expect(history.get_by_test_id("history-status")).to_have_text("Imported")
    page.get_by_test_id("import-errors").scroll_into_view_if_needed()
    screenshot(page, f"admin-sync-import-{viewport}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_files_that_are_no_order_export_are_refused_clearly(
    page: Page, viewport: str, running_app: RunningApp, tmp_path: Path
) -> None:
    open_admin(page, running_app, "/admin/sync")
    wrong = tmp_path / "products.csv"
    wrong.write_text("sku,interval_days\nCOF-1KG,30\n", encoding="utf-8")
    choose_file(page, wrong)
    message = page.get_by_test_id("import-message")
    expect(message).to_contain_text(
        re.compile(r"not a Shopify order export: missing columns Name, Created at")
    )
    expect(page.get_by_test_id("import-errors")).to_have_count(0)

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    choose_file(page, empty)
    expect(message).to_contain_text("Not imported: the file is empty")
    expect(page.get_by_test_id("history-row").first).to_contain_text("empty.csv")
    screenshot(page, f"admin-sync-refused-{viewport}")


def big_export(path: Path, orders: int, first_id: int) -> Path:
    """One order per new customer: with no repeat purchase nothing is learned from them, so the
    store's intervals, which later tests of the shared demo app rely on, do not move."""
    rows = []
    for n in range(orders):
        order_id = first_id + n
        name = f"#B{order_id}"
        rows.append(
            f"{name},big{order_id}@example.com,paid,,USD,20.00,"
            f"2025-{1 + n % 12:02d}-{1 + n % 28:02d} 10:00:00 +0000,1,Coffee - 1kg,12.50,,Bo,,,"
            f"{order_id},\n"
        )
        rows.append(f"{name},,,,,,,2,Tea,3.75,,,,,,\n")
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_a_large_import_shows_its_progress_then_the_result(
    page: Page, viewport: str, running_app: RunningApp, tmp_path: Path
) -> None:
    first_id = 880_000_000 if viewport == "phone" else 881_000_000
    path = big_export(tmp_path / "big_export.csv", 10_000, first_id)
    open_admin(page, running_app, "/admin/sync")
    started = time.monotonic()
    choose_file(page, path)
    expect(page.get_by_test_id("import-phase")).to_have_text(
        re.compile(r"^(Importing [\d,]+ rows…|Imported [\d,]+ rows; updating due dates…)$")
    )
    expect(page.get_by_test_id("import-done")).to_be_visible(timeout=120_000)
    elapsed = time.monotonic() - started
    expect(page.get_by_test_id("import-phase")).to_have_text("Done: 20,000 rows read")
    expect(page.get_by_test_id("import-result")).to_contain_text("10,000 orders (10,000 new")
    expect(page.get_by_test_id("import-errors")).to_have_count(0)
    print(f"\n20,000-row import through the dashboard ({viewport}): {elapsed:.1f} s")


def test_the_cards_show_a_failed_sync_and_follow_a_running_one(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    """The worker's state written straight to the database, as a worker process would."""
    now = utcnow()
    engine = get_engine(running_app.database_url)
    with Session(engine) as session:
        session.exec(delete(JobLease).where(JobLease.name == "catalog-sync"))
        session.merge(
            SyncState(
                name="orders",
                last_started_at=now - timedelta(hours=2, minutes=1),
                last_finished_at=now - timedelta(hours=2),
                last_status="failed",
                last_error="Shopify refused the access token (HTTP 401)",
            )
        )
        session.merge(
            SyncState(
                name="products",
                running=True,
                progress_done=1200,
                progress_total=5000,
                last_started_at=now,
            )
        )
        session.add(
            JobLease(name="catalog-sync", holder="e2e", expires_at=now + timedelta(minutes=5))
        )
        session.commit()
    try:
        open_admin(page, running_app, "/admin/sync")
        expect(page.get_by_test_id("sync-status-orders")).to_have_text("Failed")
        expect(page.get_by_test_id("sync-error-orders")).to_have_text(
            "Shopify refused the access token (HTTP 401)"
        )
        expect(page.get_by_test_id("sync-finished-orders")).to_have_text(
            "Last finished 2 hours ago"
        )
        progress = page.get_by_test_id("sync-progress-products")
        expect(progress).to_contain_text("1,200 of 5,000 products")
        expect(page.get_by_test_id("sync-status-products")).to_have_text("Running")
        screenshot(page, f"admin-sync-running-{viewport}")

        with Session(engine) as session:
            state = session.get(SyncState, "products")
            assert state is not None
            state.progress_done = 3400
            session.commit()
        expect(progress).to_contain_text("3,400 of 5,000 products")

        with Session(engine) as session:
            state = session.get(SyncState, "products")
            assert state is not None
            state.running = False
            state.last_status = "ok"
            state.last_finished_at = utcnow()
            state.last_summary = {"created": 4800, "updated": 200, "unchanged": 0, "seconds": 42.5}
            session.exec(delete(JobLease).where(JobLease.name == "catalog-sync"))
            session.commit()
        expect(page.get_by_test_id("sync-status-products")).to_have_text("Succeeded")
        expect(progress).to_have_count(0)
        expect(page.get_by_test_id("sync-card-products")).to_contain_text(
            "4,800 new products · 200 updated · 0 unchanged · 0 marked deleted · took 42.5 s"
        )
    finally:
        with Session(engine) as session:
            session.exec(delete(JobLease).where(JobLease.name == "catalog-sync"))
            session.exec(delete(SyncState))
            session.commit()


def test_an_import_running_when_the_page_opens_is_followed_to_its_end(
    page: Page, viewport: str, running_app: RunningApp
) -> None:
    """Another tab (or a page left and reopened) started it; this page picks it up."""
    engine = get_engine(running_app.database_url)
    with Session(engine, expire_on_commit=False) as session:
        run = ImportRun(
            filename=f"elsewhere_{viewport}.csv",
            bytes_total=1_000_000,
            bytes_done=400_000,
            rows_done=12_000,
        )
        session.add(run)
        # an import elsewhere holds the lease (its row may be left from an earlier, released one)
        lease = session.get(JobLease, "csv-import") or JobLease(name="csv-import")
        lease.holder, lease.expires_at = "e2e", utcnow() + timedelta(minutes=5)
        session.add(lease)
        session.commit()
    try:
        open_admin(page, running_app, "/admin/sync")
        expect(page.get_by_test_id("import-phase")).to_have_text("Importing 12,000 rows…")
        expect(page.get_by_test_id("import-start")).to_be_disabled()
        with Session(engine) as session:
            stored = session.get(ImportRun, run.id)
            assert stored is not None
            stored.status = "failed"
            stored.failure = "OSError: disk full"
            stored.rows_done = 15_000
            stored.finished_at = utcnow()
            session.commit()
        expect(page.get_by_test_id("import-message")).to_contain_text(
            "Not finished: OSError: disk full. What was imported is kept"
        )
        expect(page.get_by_test_id("import-phase")).to_have_text("Stopped after 15,000 rows")
        expect(page.get_by_test_id("history-row").first).to_contain_text("Failed")
    finally:
        with Session(engine) as session:
            session.exec(delete(JobLease).where(JobLease.name == "csv-import"))
            session.commit()


def test_a_file_over_the_size_limit_is_refused_before_it_is_sent(
    page: Page, viewport: str, running_app: RunningApp, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as sparse:  # 201 MB without writing them: only the size is read
        sparse.truncate(201 * 1024 * 1024)
    open_admin(page, running_app, "/admin/sync")
    page.get_by_test_id("upload-dropzone").locator("input[type=file]").set_input_files(str(huge))
    expect(page.get_by_test_id("import-message")).to_contain_text("The file is larger than 200 MB")
    expect(page.get_by_test_id("selected-file")).to_have_count(0)
    expect(page.get_by_test_id("import-start")).to_be_disabled()
