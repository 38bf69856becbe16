"""The Products page in Chromium at phone and desktop sizes: an override moves a customer's
product in and out of "Due to Reorder" on their cart, and a bulk CSV's bad rows are reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, select

from services.cart.page import load_cart
from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import Product
from services.products.intervals import clear_override, set_replacement
from tests.e2e.conftest import RunningApp, open_admin, screenshot

pytestmark = pytest.mark.e2e


def _rows(page: Page, viewport: str) -> Locator:
    """The visible list: the table on desktop, the stacked cards on a phone."""
    return page.get_by_test_id("products-table" if viewport == "desktop" else "products-cards")


def _row(page: Page, viewport: str, handle: str) -> Locator:
    return _rows(page, viewport).locator(f'[data-product="{handle}"]')


def _search(page: Page, text: str) -> None:
    page.get_by_test_id("product-search").fill(text)
    page.get_by_test_id("product-search-submit").click()


def _clear_overrides(running_app: RunningApp, handles: list[str]) -> None:
    """Put the shared demo store back as it was, whatever the test got to."""
    with Session(get_engine(running_app.database_url)) as session:
        for handle in handles:
            product = session.exec(select(Product).where(Product.handle == handle)).one()
            clear_override(session, product.id, utcnow())
        session.commit()


def _due_product(running_app: RunningApp) -> tuple[str, str]:
    """(title, handle) of a product in the due sample customer's "Due to Reorder" right now."""
    with Session(get_engine(running_app.database_url)) as session:
        cart = load_cart(session, running_app.demo.sample_tokens["due"], utcnow())
        assert cart is not None and cart.composition.due
        item = cart.composition.due[-1]
        product = session.get(Product, item.product_id)
        assert product is not None
        return product.title, product.handle


def test_products_page_lists_products_with_their_intervals(
    page: Page, viewport: str, running_app: RunningApp
):
    open_admin(page, running_app, "/admin/products")
    total = running_app.demo.products
    expect(page.get_by_test_id("product-range")).to_have_text(f"1–{total} of {total}")
    coffee = _row(page, viewport, "house-blend-coffee")
    expect(coffee).to_be_visible()
    expect(coffee.get_by_test_id("status")).to_have_text("Available")
    expect(coffee).to_contain_text("learned")
    # the demo sells coffee with selling plans (Primed For Subscription offers the closest)
    expect(coffee.get_by_test_id("plans")).to_have_text(
        "Subscription: Deliver every 2 weeks, save 10%, Deliver every 3 weeks, save 10%, "
        "Deliver every month, save 10%"
    )
    expect(_row(page, viewport, "earl-grey-loose-leaf-tea").get_by_test_id("plans")).to_have_count(
        0
    )
    # no horizontal page scroll at either size
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"admin-products-{viewport}")

    _search(page, "EP-COF-001")  # a SKU
    expect(page.get_by_test_id("product-range")).to_have_text("1–1 of 1")
    expect(_row(page, viewport, "house-blend-coffee")).to_be_visible()
    _search(page, "no such product at all")
    expect(page.get_by_test_id("product-range")).to_have_text("No products")
    expect(page.get_by_text("No product matches that search.")).to_be_visible()
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(page.get_by_test_id("product-range")).to_have_text(f"1–{total} of {total}")
    expect(page.get_by_test_id("product-search")).to_have_value("")


def test_an_override_moves_a_product_out_of_due_and_back(
    page: Page, viewport: str, running_app: RunningApp
):
    title, handle = _due_product(running_app)
    cart_url = running_app.cart("due")
    page.goto(cart_url)
    due_section = page.get_by_test_id("section-due")
    expect(due_section).to_contain_text(title)
    try:
        open_admin(page, running_app, "/admin/products")
        _search(page, handle)
        row = _row(page, viewport, handle)
        row.get_by_test_id("override-edit").click()
        row.get_by_test_id("override-input").fill("-5")
        row.get_by_test_id("override-save").click()
        expect(row.get_by_test_id("override-error")).to_contain_text("from 1 to 730")
        row.get_by_test_id("override-input").fill("731")
        row.get_by_test_id("override-save").click()
        expect(row.get_by_test_id("override-error")).to_contain_text("out of range")
        row.get_by_test_id("override-input").fill("730")
        row.get_by_test_id("override-save").click()
        expect(page.get_by_test_id("products-notice")).to_contain_text("730 days")
        expect(row.get_by_test_id("override-value")).to_have_text("730 d")
        expect(row).to_contain_text("your override")
        screenshot(page, f"admin-products-override-{viewport}")

        page.goto(cart_url)
        expect(page.get_by_test_id("section-due")).to_be_visible()
        expect(page.get_by_test_id("section-due")).not_to_contain_text(title)

        page.goto(f"{running_app.base_url}/admin/products")  # still signed in
        expect(page.get_by_test_id("admin-products")).to_be_visible()
        _search(page, handle)
        row = _row(page, viewport, handle)
        row.get_by_test_id("override-clear").click()
        expect(page.get_by_test_id("products-notice")).to_contain_text("learned interval")
        expect(row.get_by_test_id("override-value")).to_have_text("—")

        page.goto(cart_url)
        expect(page.get_by_test_id("section-due")).to_contain_text(title)
    finally:
        _clear_overrides(running_app, [handle])


def test_a_bulk_csv_reports_bad_rows_and_applies_good_ones(
    page: Page, viewport: str, running_app: RunningApp, tmp_path: Path
):
    csv_file = tmp_path / "overrides.csv"
    csv_file.write_bytes(
        (
            "\ufeffHandle,Days\n"
            "grain-free-dog-food,40\n"
            "house-blend-coffee,abc\n"
            "no-such-product,30\n"
            "shave-cream,3000\n"
            "grain-free-dog-food,40\n"
        ).encode()
    )
    try:
        open_admin(page, running_app, "/admin/products")
        upload = page.get_by_test_id("bulk-upload")
        upload.scroll_into_view_if_needed()
        upload.locator("input[type=file]").set_input_files(str(csv_file))
        expect(page.get_by_test_id("bulk-summary")).to_contain_text("1 of 5 rows applied")
        problems = page.get_by_test_id("bulk-problem")
        expect(problems).to_have_count(4)
        expect(problems.nth(0)).to_contain_text("3")
        expect(problems.nth(0)).to_contain_text("not a number of days")
        expect(problems.nth(1)).to_contain_text("No product has the handle “no-such-product”")
        expect(problems.nth(2)).to_contain_text("out of range")
        expect(problems.nth(3)).to_contain_text("Duplicate of row 2")
        page.get_by_test_id("bulk-problems").scroll_into_view_if_needed()
        screenshot(page, f"admin-products-bulk-{viewport}")
        expect(
            _row(page, viewport, "grain-free-dog-food").get_by_test_id("override-value")
        ).to_have_text("40 d")

        empty = tmp_path / "empty.csv"
        empty.write_bytes(b"")
        upload.locator("input[type=file]").set_input_files(str(empty))
        expect(page.get_by_test_id("bulk-file-error")).to_contain_text("The file is empty")

        # past the server's upload cap: the browser refuses it before sending, and says why
        huge = tmp_path / "huge.csv"
        with huge.open("wb") as sparse:  # only the size is read: no need to write the bytes
            sparse.truncate(3 * 1024 * 1024)
        upload.locator("input[type=file]").set_input_files(str(huge))
        expect(page.get_by_test_id("bulk-file-error")).to_contain_text(
            "The file is larger than 2 MB"
        )
    finally:
        _clear_overrides(running_app, ["grain-free-dog-food"])


def test_a_replacement_is_saved_and_a_loop_is_refused(
    page: Page, viewport: str, running_app: RunningApp
):
    try:
        open_admin(page, running_app, "/admin/products")
        _search(page, "chai-spice-blend")
        _row(page, viewport, "chai-spice-blend").get_by_test_id("replacement-edit").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_test_id("replacement-search").fill("chamomile")
        dialog.get_by_role("button", name="Search").click()
        dialog.get_by_test_id("replacement-choose").first.click()
        expect(page.get_by_test_id("products-notice")).to_contain_text("replacement")
        expect(dialog).to_be_hidden()
        expect(
            _row(page, viewport, "chai-spice-blend").get_by_test_id("replacement-value")
        ).to_have_text("→ Chamomile Sleep Tea")

        _search(page, "chamomile-sleep-tea")
        _row(page, viewport, "chamomile-sleep-tea").get_by_test_id("replacement-edit").click()
        dialog.get_by_test_id("replacement-search").fill("chai")
        dialog.get_by_role("button", name="Search").click()
        dialog.get_by_test_id("replacement-choose").first.click()
        expect(dialog.get_by_test_id("replacement-error")).to_contain_text("loop")
        screenshot(page, f"admin-products-replacement-{viewport}")
        dialog.get_by_role("button", name="Close").click()
        expect(dialog).to_be_hidden()
        expect(
            _row(page, viewport, "chamomile-sleep-tea").get_by_test_id("replacement-value")
        ).to_have_text("None")

        _search(page, "chai-spice-blend")
        chai = _row(page, viewport, "chai-spice-blend")
        chai.get_by_test_id("replacement-edit").click()
        expect(dialog).to_contain_text("Now replaced by Chamomile Sleep Tea")
        dialog.get_by_test_id("replacement-remove").click()
        expect(dialog).to_be_hidden()
        expect(chai.get_by_test_id("replacement-value")).to_have_text("None")
    finally:
        with Session(get_engine(running_app.database_url)) as session:
            for handle in ("chai-spice-blend", "chamomile-sleep-tea"):
                product = session.exec(select(Product).where(Product.handle == handle)).one()
                set_replacement(session, product.id, None, utcnow())
            session.commit()
