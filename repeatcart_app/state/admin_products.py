"""The dashboard's Products page state: one page of products at a time, and the merchant's
interval overrides, replacement mappings and pinned cross-sell pairs, each checked and saved by
`services.products`.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from repeatcart_app.state.auth import AuthState, admin_event
from repeatcart_app.state.paged_list import PagedList, search_text
from services.engine import MIN_STORE_ORDERS
from services.products import bulk_overrides, cross_sell, featured_links, intervals
from services.products.intervals import (
    INTERVAL_RANGE_MESSAGE,
    PAGE_SIZE,
    SORT_KEYS,
    ProductAdminError,
    ProductRow,
)
from services.products.search import find_products

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


def pair_view(pair: cross_sell.PairView) -> dict[str, str]:
    """A cross-sell pair as strings; a pin has no lift or support to show."""
    return {
        "product_id": str(pair.product_id),
        "product": pair.product_title,
        "paired": pair.paired_title,
        "lift": f"×{pair.lift:.1f}" if pair.lift is not None else "",
        "support": f"{pair.support:,} customers" if pair.support is not None else "",
    }


def cross_sell_status(panel: cross_sell.CrossSellPanel) -> str:
    """One calm line on what the nightly recompute learned, or why it learned nothing."""
    if panel.too_little_support:
        return (
            f"Too little support: the store has {panel.orders:,} orders, and pairs are learned "
            f"from {MIN_STORE_ORDERS:,} up. Pinned pairs are offered meanwhile."
        )
    if panel.learned_at is None:
        return "Pairs are learned by the nightly recompute; none has run yet."
    return (
        f"{panel.learned_pairs:,} pairs learned from {panel.orders:,} orders (at least "
        f"{panel.min_support:,} customers bought both), "
        f"{panel.learned_at:%b} {panel.learned_at.day}, {panel.learned_at:%H:%M} UTC."
    )


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
        "linkable": "1" if row.status == "active" and not row.placeholder else "",
        "plans": plans_text(row),
    }


def plans_text(row: ProductRow) -> str:
    """Its selling plans in a line ("Subscription: Every month, Every 2 weeks"), or ''."""
    if not row.selling_plans:
        return ""
    label = "Subscription only" if row.subscription_only else "Subscription"
    return f"{label}: {', '.join(row.selling_plans)}"


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

    # the featured links dialog: the product's variants, each with its link
    links_id: str = ""
    links_title: str = ""
    link_rows: list[dict[str, str]] = []
    copied_id: str = ""  # the variant whose link was just copied

    # the last bulk upload's report
    bulk_done: bool = False
    bulk_file_name: str = ""
    bulk_applied: str = "0"
    bulk_rows: str = "0"
    bulk_file_error: str = ""
    bulk_problems: list[dict[str, str]] = []

    # cross-sell: what was learned, the pins, and the pin form's outcome
    xsell_status: str = ""
    xsell_too_little: bool = False
    xsell_pins: list[dict[str, str]] = []
    xsell_learned: list[dict[str, str]] = []
    xsell_error: str = ""
    xsell_notice: str = ""
    xsell_form: int = 0  # bumped to clear the pin form after a save

    def _fetch(self) -> None:
        shown = intervals.load_product_page(
            self.query, self.sort, self.descending, self.page, PAGE_SIZE
        )
        self._show_page(shown)
        self.rows = [row_view(row) for row in shown.rows]

    def _clean_query(self, raw: str) -> str:
        return search_text(raw)

    def _apply_sort(self, value: str) -> None:
        self.sort = value if value in SORT_KEYS else "title"
        # names read A→Z; intervals and N read most interesting (largest) first
        self.descending = self.sort in {"median", "n"}

    def _title(self, product_id: str) -> str:
        return next((row["title"] for row in self.rows if row["id"] == product_id), "Product")

    def _fetch_cross_sell(self) -> None:
        panel = cross_sell.load_cross_sell_panel()
        self.xsell_status = cross_sell_status(panel)
        self.xsell_too_little = panel.too_little_support
        self.xsell_pins = [pair_view(pair) for pair in panel.pins]
        self.xsell_learned = [pair_view(pair) for pair in panel.learned]

    @admin_event
    def load(self):
        self.editing_id = ""
        self.notice = self.error = ""
        self.xsell_notice = self.xsell_error = ""
        self._fetch()
        self._fetch_cross_sell()
        self.loaded = True

    @admin_event
    def flip_direction(self):
        self.descending = not self.descending
        self._first_page()

    # ---- overrides ----------------------------------------------------------------------

    @admin_event
    def edit_override(self, product_id: str):
        row = next((row for row in self.rows if row["id"] == product_id), None)
        self.editing_id = product_id
        self.override_input = row["override"] if row else ""
        self.override_error = ""

    @admin_event
    def cancel_override(self):
        self.editing_id = ""
        self.override_error = ""

    @admin_event
    def save_override(self, form_data: dict):
        raw = str(form_data.get("days", ""))
        self.override_input = raw
        try:
            product_id = int(self.editing_id)
        except ValueError:
            self.override_error = "Choose a product to edit first."
            return
        try:
            days = intervals.save_override(product_id, raw)
        except ProductAdminError as error:
            self.override_error = str(error)
            return
        self.editing_id = ""
        self.override_error = ""
        title = self._title(str(product_id))
        self.notice = f"{title}: every {format_days(days)} days from now on. Carts use it at once."
        self.error = ""
        self._fetch()

    @admin_event
    def remove_override(self, product_id: str):
        try:
            intervals.remove_override(int(product_id))
        except (ProductAdminError, ValueError) as error:
            self.error = str(error)
            return
        self.editing_id = ""
        self.notice = f"{self._title(product_id)}: back to the learned interval."
        self.error = ""
        self._fetch()

    # ---- replacements -------------------------------------------------------------------

    @admin_event
    def open_replacement(self, product_id: str):
        row = next((row for row in self.rows if row["id"] == product_id), None)
        if row is None:
            return
        self.replacing_id = product_id
        self.replacing_title = row["title"]
        self.replacing_current = row["replacement"]
        self.replacement_search = ""
        self.replacement_results = []
        self.replacement_error = ""

    @admin_event
    def close_replacement(self, _open: bool = False):
        self.replacing_id = ""
        self.replacement_results = []
        self.replacement_error = ""

    @admin_event
    def open_links(self, product_id: str):
        """Each variant's featured link, built on the server from the store's public address."""
        row = next((row for row in self.rows if row["id"] == product_id), None)
        if row is None or not row["linkable"]:
            return
        links = featured_links.variant_links(int(product_id))
        self.links_id, self.links_title, self.copied_id = product_id, row["title"], ""
        self.link_rows = [
            {
                "id": str(link.shopify_variant_id),
                "variant": "" if link.variant == "Default Title" else link.variant,
                "sku": link.sku,
                "url": link.url,
            }
            for link in links
        ]

    @admin_event
    def close_links(self, _open: bool = False):
        self.links_id, self.link_rows, self.copied_id = "", [], ""

    @admin_event
    def link_copied(self, variant_id: str):
        self.copied_id = variant_id

    @admin_event
    def download_qr(self, variant_id: str, kind: str):
        """The QR code of one variant's link (ch=qr), as an SVG or PNG file."""
        if not self.links_id or kind not in featured_links.QR_MEDIA_TYPES:
            return None
        try:
            shopify_id = int(variant_id)
        except ValueError:
            return None
        qr = featured_links.variant_qr(
            int(self.links_id), shopify_id, "svg" if kind == "svg" else "png"
        )
        if qr is None:
            return None
        return rx.download(data=qr.data, filename=qr.filename, mime_type=qr.media_type)

    @admin_event
    def search_replacement(self, form_data: dict):
        self.replacement_search = search_text(form_data.get("replacement_search"))
        if not self.replacement_search:
            self.replacement_results = []
            return
        hits = find_products(self.replacement_search, limit=REPLACEMENT_RESULTS)
        self.replacement_results = [
            {
                "id": str(hit.product_id),
                "title": hit.title,
                "handle": hit.handle,
                "status": hit.status,
            }
            for hit in hits
            if str(hit.product_id) != self.replacing_id
        ]
        self.replacement_error = "" if self.replacement_results else "No product matches."

    def _save_replacement(self, replacement_id: int | None) -> None:
        try:
            intervals.save_replacement(int(self.replacing_id), replacement_id)
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

    @admin_event
    def choose_replacement(self, replacement_id: str):
        try:
            target = int(replacement_id)
        except ValueError:
            self.replacement_error = "Choose a product from the list."
            return
        self._save_replacement(target)

    @admin_event
    def remove_replacement(self):
        self._save_replacement(None)

    # ---- cross-sell pins ---------------------------------------------------------------

    @admin_event
    def pin_cross_sell(self, form_data: dict):
        try:
            pinned = cross_sell.save_pin(
                str(form_data.get("xsell_product", "")), str(form_data.get("xsell_offer", ""))
            )
        except ProductAdminError as error:
            self.xsell_error, self.xsell_notice = str(error), ""
            return
        self.xsell_error = ""
        self.xsell_notice = (
            f"Buyers of {pinned.product_title} are offered {pinned.paired_title} from the next "
            "scan on."
        )
        self.xsell_form += 1
        self._fetch_cross_sell()

    @admin_event
    def unpin_cross_sell(self, product_id: str):
        try:
            cross_sell.remove_pin(int(product_id))
        except ValueError:
            return
        self.xsell_error = ""
        self.xsell_notice = "Pin removed: that product's learned partners apply again."
        self._fetch_cross_sell()

    # ---- bulk overrides -----------------------------------------------------------------

    @admin_event
    async def upload_bulk(self, files: list[rx.UploadFile]):
        if not files:  # the browser refused the file: `bulk_rejected` reports it
            return None
        self.bulk_done = False
        upload = files[0]
        data = await upload.read(bulk_overrides.MAX_CSV_BYTES + 1)
        report = await asyncio.to_thread(bulk_overrides.import_overrides, data)
        self.bulk_file_name = upload.name or "the file"
        self.bulk_applied = f"{report.applied:,}"
        self.bulk_rows = f"{report.rows:,}"
        self.bulk_file_error = report.file_error
        self.bulk_problems = [
            {"row": str(problem.row), "key": problem.key or "—", "message": problem.message}
            for problem in report.problems[:500]
        ]
        self.bulk_done = True
        await asyncio.to_thread(self._fetch)
        return rx.clear_selected_files(BULK_UPLOAD_ID)

    @admin_event
    def bulk_rejected(self, codes: list[str]):
        """The browser refused the file before sending it (too large, not a CSV, several)."""
        refused = {str(code) for code in codes} if isinstance(codes, list) else set()
        self.bulk_file_name = ""
        self.bulk_applied = self.bulk_rows = "0"
        self.bulk_problems = []
        if "file-too-large" in refused:
            self.bulk_file_error = (
                f"The file is larger than {bulk_overrides.MAX_CSV_BYTES // 1_000_000} MB; "
                "split it and upload the parts. Nothing was changed."
            )
        elif "too-many-files" in refused:
            self.bulk_file_error = "Choose one file at a time. Nothing was changed."
        else:
            self.bulk_file_error = "Choose a CSV file. Nothing was changed."
        self.bulk_done = True

    @rx.var
    def interval_rule(self) -> str:
        return INTERVAL_RANGE_MESSAGE
