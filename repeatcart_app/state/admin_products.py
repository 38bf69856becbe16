"""The dashboard's Products page state: one page of products at a time, and the merchant's
interval overrides and replacement mappings, each checked and saved by
`services.products.intervals`.
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from repeatcart_app.state.auth import AuthState, require_admin
from repeatcart_app.state.paged_list import PagedList, search_text
from services.core.db import session_scope
from services.core.tables import utcnow
from services.products import intervals as products_admin
from services.products.intervals import (
    INTERVAL_RANGE_MESSAGE,
    PAGE_SIZE,
    SORT_KEYS,
    ProductAdminError,
    ProductRow,
)

BULK_UPLOAD_ID = "bulk_override_csv"
SOURCE_LABELS = {
    "override": "your override",
    "product": "learned",
    "store": "store median",
    "default": "store default",
}
REPLACEMENT_RESULTS = 8
NOT_IN_CATALOG = "Not in the catalog"
NOT_IN_CATALOG_HINT = (
    "Known only from an order export: no Shopify product has its SKU or its title, so carts "
    "show it but cannot check it out. It joins the catalog product once one matches."
)


def format_days(days: float | None) -> str:
    """“30”, “29.8” or “—”: days as a merchant reads them."""
    if days is None:
        return "—"
    text = f"{days:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def _status(row: ProductRow) -> tuple[str, str]:
    if row.placeholder:
        return NOT_IN_CATALOG, "amber"
    if row.status != "active":
        return row.status.title(), "gray"
    if not row.available:
        return "Out of stock", "amber"
    return "Available", "grass"


def row_view(row: ProductRow) -> dict[str, str]:
    """A table row as strings: the browser only shows it."""
    status, status_color = _status(row)
    return {
        "id": str(row.id),
        "title": row.title,
        "handle": row.handle,
        "sku": row.sku or "",
        "image": row.image_url or "",
        "status": status,
        "status_color": status_color,
        "status_hint": NOT_IN_CATALOG_HINT if row.placeholder else "",
        "p25": format_days(row.p25),
        "median": format_days(row.median),
        "p75": format_days(row.p75),
        "mean": format_days(row.mean),
        "n": f"{row.n:,}",
        "effective": format_days(row.effective_days),
        "source": SOURCE_LABELS.get(row.effective_source, row.effective_source),
        "override": format_days(row.override_days) if row.override_days else "",
        "replacement_id": str(row.replacement_id or ""),
        "replacement": row.replacement_title or "",
    }


class AdminProductsState(PagedList, AuthState):
    loaded: bool = False
    sort: str = "title"
    descending: bool = False
    rows: list[dict[str, str]] = []
    notice: str = ""
    error: str = ""

    # the row whose override is being edited ("" = none), what was typed, and what was wrong
    editing_id: str = ""
    override_input: str = ""
    override_error: str = ""

    # the replacement dialog
    replacing_id: str = ""
    replacing_title: str = ""
    replacing_current: str = ""  # the title of the replacement it has now, if any
    replacement_search: str = ""
    replacement_results: list[dict[str, str]] = []
    replacement_error: str = ""

    # the last bulk upload's report
    bulk_done: bool = False
    bulk_file_name: str = ""
    bulk_applied: str = "0"
    bulk_rows: str = "0"
    bulk_file_error: str = ""
    bulk_problems: list[dict[str, str]] = []

    def _fetch(self) -> None:
        with session_scope() as session:
            page = self._product_page(session)
            if not page.rows and page.total and self.page > 1:  # the last page emptied
                self.page = -(-page.total // PAGE_SIZE)
                page = self._product_page(session)
        self._show_range(page.total, self.page, PAGE_SIZE)
        self.rows = [row_view(row) for row in page.rows]

    def _product_page(self, session: Session) -> products_admin.ProductPage:
        return products_admin.product_page(
            session, self.query, self.sort, self.descending, (self.page - 1) * PAGE_SIZE, PAGE_SIZE
        )

    def _clean_query(self, raw: str) -> str:
        return search_text(raw)

    def _apply_sort(self, value: str) -> None:
        self.sort = value if value in SORT_KEYS else "title"
        # names read A→Z; intervals and N read most interesting (largest) first
        self.descending = self.sort in {"median", "n"}

    @rx.event
    def load(self):
        denied = require_admin(self)
        if denied is not None:
            self.loaded = False
            return denied
        self.editing_id = ""
        self.notice = self.error = ""
        self._fetch()
        self.loaded = True
        return None

    @rx.event
    def flip_direction(self):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.descending = not self.descending
        self._first_page()
        return None

    # ---- overrides ----------------------------------------------------------------------

    @rx.event
    def edit_override(self, product_id: str):
        denied = require_admin(self)
        if denied is not None:
            return denied
        row = next((row for row in self.rows if row["id"] == product_id), None)
        self.editing_id = product_id
        self.override_input = row["override"] if row else ""
        self.override_error = ""
        return None

    @rx.event
    def cancel_override(self):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.editing_id = ""
        self.override_error = ""
        return None

    @rx.event
    def save_override(self, form_data: dict):
        denied = require_admin(self)
        if denied is not None:
            return denied
        raw = str(form_data.get("days", ""))
        self.override_input = raw
        try:
            product_id = int(self.editing_id)
        except ValueError:
            self.override_error = "Choose a product to edit first."
            return None
        try:
            with session_scope() as session:
                days = products_admin.set_override(session, product_id, raw, utcnow())
        except ProductAdminError as error:
            self.override_error = str(error)
            return None
        self.editing_id = ""
        self.override_error = ""
        title = next((r["title"] for r in self.rows if r["id"] == str(product_id)), "Product")
        self.notice = f"{title}: every {format_days(days)} days from now on. Carts use it at once."
        self.error = ""
        self._fetch()
        return None

    @rx.event
    def remove_override(self, product_id: str):
        denied = require_admin(self)
        if denied is not None:
            return denied
        try:
            with session_scope() as session:
                products_admin.clear_override(session, int(product_id), utcnow())
        except (ProductAdminError, ValueError) as error:
            self.error = str(error)
            return None
        self.editing_id = ""
        title = next((r["title"] for r in self.rows if r["id"] == product_id), "Product")
        self.notice = f"{title}: back to the learned interval."
        self.error = ""
        self._fetch()
        return None

    # ---- replacements -------------------------------------------------------------------

    @rx.event
    def open_replacement(self, product_id: str):
        denied = require_admin(self)
        if denied is not None:
            return denied
        row = next((row for row in self.rows if row["id"] == product_id), None)
        if row is None:
            return None
        self.replacing_id = product_id
        self.replacing_title = row["title"]
        self.replacing_current = row["replacement"]
        self.replacement_search = ""
        self.replacement_results = []
        self.replacement_error = ""
        return None

    @rx.event
    def close_replacement(self, _open: bool = False):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.replacing_id = ""
        self.replacement_results = []
        self.replacement_error = ""
        return None

    @rx.event
    def search_replacement(self, form_data: dict):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.replacement_search = search_text(form_data.get("replacement_search"))
        if not self.replacement_search:
            self.replacement_results = []
            return None
        with session_scope() as session:
            page = products_admin.product_page(
                session, self.replacement_search, limit=REPLACEMENT_RESULTS
            )
        self.replacement_results = [
            {"id": str(row.id), "title": row.title, "handle": row.handle, "status": row.status}
            for row in page.rows
            if str(row.id) != self.replacing_id
        ]
        self.replacement_error = "" if self.replacement_results else "No product matches."
        return None

    def _save_replacement(self, replacement_id: int | None) -> None:
        try:
            with session_scope() as session:
                products_admin.set_replacement(
                    session, int(self.replacing_id), replacement_id, utcnow()
                )
        except (ProductAdminError, ValueError) as error:
            self.replacement_error = str(error)
            return
        self.notice = (
            f"{self.replacing_title}: carts now show the replacement."
            if replacement_id
            else f"{self.replacing_title}: no replacement."
        )
        self.replacing_id = ""
        self.replacement_results = []
        self.replacement_error = ""
        self._fetch()

    @rx.event
    def choose_replacement(self, replacement_id: str):
        denied = require_admin(self)
        if denied is not None:
            return denied
        try:
            target = int(replacement_id)
        except ValueError:
            self.replacement_error = "Choose a product from the list."
            return None
        self._save_replacement(target)
        return None

    @rx.event
    def remove_replacement(self):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self._save_replacement(None)
        return None

    # ---- bulk overrides -----------------------------------------------------------------

    @rx.event
    async def upload_bulk(self, files: list[rx.UploadFile]):
        denied = require_admin(self)
        if denied is not None:
            return denied
        if not files:  # the browser refused the file: `bulk_rejected` reports it
            return None
        self.bulk_done = False
        upload = files[0]
        data = await upload.read(products_admin.MAX_CSV_BYTES + 1)
        with session_scope() as session:
            report = products_admin.bulk_override(session, data, utcnow())
        self.bulk_file_name = upload.name or "the file"
        self.bulk_applied = f"{report.applied:,}"
        self.bulk_rows = f"{report.rows:,}"
        self.bulk_file_error = report.file_error
        self.bulk_problems = [
            {"row": str(problem.row), "key": problem.key or "—", "message": problem.message}
            for problem in report.problems[:500]
        ]
        self.bulk_done = True
        self._fetch()
        return rx.clear_selected_files(BULK_UPLOAD_ID)

    @rx.event
    def bulk_rejected(self, codes: list[str]):
        """The browser refused the file before sending it (too large, not a CSV, several)."""
        denied = require_admin(self)
        if denied is not None:
            return denied
        refused = {str(code) for code in codes} if isinstance(codes, list) else set()
        self.bulk_file_name = ""
        self.bulk_applied = self.bulk_rows = "0"
        self.bulk_problems = []
        if "file-too-large" in refused:
            self.bulk_file_error = (
                f"The file is larger than {products_admin.MAX_CSV_BYTES // 1_000_000} MB; "
                "split it and upload the parts. Nothing was changed."
            )
        elif "too-many-files" in refused:
            self.bulk_file_error = "Choose one file at a time. Nothing was changed."
        else:
            self.bulk_file_error = "Choose a CSV file. Nothing was changed."
        self.bulk_done = True
        return None

    @rx.var
    def interval_rule(self) -> str:
        return INTERVAL_RANGE_MESSAGE
