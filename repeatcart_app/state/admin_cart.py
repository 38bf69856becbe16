"""The dashboard's Cart page: cart settings by section, the YMAL picker and the cart preview.

Every field is validated on the server (services.settings.cart); a section saves all of its
fields or none, and each field shows its own message. Changing the reminder timing or the lapse
factor re-dates every customer's due rows in a background task, so the page stays responsive
meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses

from repeatcart_app.state.auth import AuthState, admin_event
from services.customers.search import find_customers
from services.settings import cart as settings_service
from services.settings.unique_codes import KINDS, UNIQUE_FIELDS, value_text

SECTIONS = ("banner", "codes", "timing", "moments", "appearance")
SECTION_FIELDS = {
    "banner": ("banner_text", "discount_code", *settings_service.CHECKOUT_FIELDS),
    "codes": UNIQUE_FIELDS,
    "timing": settings_service.TIMING_FIELDS,
    "moments": settings_service.MOMENT_FIELDS,
    "appearance": ("accent_color", "logo_url", "hide_unavailable"),
}


@dataclasses.dataclass
class ProductRow:
    product_id: int = 0
    title: str = ""
    detail: str = ""  # handle · SKU
    image_url: str = ""
    sold: bool = True
    in_ymal: bool = False


@dataclasses.dataclass
class CustomerRow:
    customer_id: int = 0
    name: str = ""
    email: str = ""


def _product_row(hit: settings_service.YmalHit) -> ProductRow:
    detail = " · ".join(part for part in (hit.handle, hit.sku) if part)
    return ProductRow(hit.product_id, hit.title, detail, hit.image_url, hit.sold, hit.in_ymal)


def _number_text(value: float) -> str:
    return f"{value:g}"


class AdminCartState(AuthState):
    loaded: bool = False
    # a section's form is remounted (its fields then show the stored values) when its
    # version changes: on load, and after it saved (e.g. a trimmed discount code)
    form_versions: dict[str, int] = {section: 0 for section in SECTIONS}

    banner_text: str = ""
    discount_code: str = ""
    lead_days: str = ""
    default_interval_days: str = ""
    min_reorder_customers: str = ""
    lapse_factor: str = ""
    cross_sell_days: str = ""
    cross_sell_min_support: str = ""
    min_checkout_quantity: str = ""
    unique_codes: bool = False
    unique_code_kind: str = "percentage"
    unique_code_value: str = ""
    unique_code_prefix: str = ""
    unique_code_days: str = ""
    hide_unavailable: bool = False
    accent_color: str = "grass"
    logo_url: str = ""
    logo_preview: str = ""

    errors: dict[str, str] = {}
    saved_section: str = ""  # the section whose "Saved" note shows
    recomputing: bool = False
    recompute_note: str = ""
    recompute_runs: int = 0
    recompute_section: str = "timing"  # the card whose save started the re-dating

    ymal: list[ProductRow] = []
    ymal_query: str = ""
    ymal_hits: list[ProductRow] = []
    ymal_message: str = ""

    customer_query: str = ""
    customer_hits: list[CustomerRow] = []
    customer_searched: bool = False
    preview_name: str = ""
    preview_href: str = ""

    def _show_settings(self, current: settings_service.CartSettings, section: str = "") -> None:
        """Put stored settings in the form: one section's fields, or all of them."""
        names = SECTION_FIELDS[section] if section else settings_service.FIELDS
        for name in names:
            value = getattr(current, name)
            if isinstance(value, float):
                value = _number_text(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            setattr(self, name, value)
        if section in ("", "appearance"):
            self.logo_preview = current.logo_url
        if section in ("", "codes"):  # a percentage, or an amount in the shop's currency
            self.unique_code_value = value_text(current.unique_code_kind, current.unique_code_value)

    @admin_event
    def load(self):
        shown = settings_service.load_cart_page()
        self._show_settings(shown.settings)
        self.ymal = [_product_row(hit) for hit in shown.ymal]
        self.errors = {}
        self.saved_section = ""
        self.ymal_message = ""
        self.preview_href = ""
        self.form_versions = {section: n + 1 for section, n in self.form_versions.items()}
        self.loaded = True

    def _save(self, section: str, form_data: dict) -> bool:
        """Save one section's fields from the form; True when saved and the timing changed."""
        values = {name: form_data.get(name) for name in SECTION_FIELDS[section]}
        result = settings_service.update_cart_settings(values)
        others = {k: v for k, v in self.errors.items() if k not in SECTION_FIELDS[section]}
        self.errors = {**others, **result.errors}
        if result.stored is None:
            self.saved_section = ""
            return False
        self.saved_section = section
        # show what was stored (trimmed), keeping the other sections' fields as they are
        self._show_settings(result.stored, section)
        self.form_versions = {**self.form_versions, section: self.form_versions[section] + 1}
        return result.timing_changed

    @admin_event
    def save_banner(self, form_data: dict):
        self._save("banner", form_data)

    @admin_event
    def save_codes(self, form_data: dict):
        self._save("codes", form_data)

    @admin_event
    def pick_code_kind(self, kind: str):
        """The kind select is controlled, so the value's label follows it before saving."""
        if kind in KINDS:
            self.unique_code_kind = kind

    @admin_event
    def save_timing(self, form_data: dict):
        if self._save("timing", form_data):
            self.recompute_section = "timing"
            self.recomputing = True
            self.recompute_note = "Saved. Customers' due dates are being recomputed…"
            return AdminCartState.recompute_due_dates
        return None

    @admin_event
    def save_moments(self, form_data: dict):
        if self._save("moments", form_data):
            self.recompute_section = "moments"
            self.recomputing = True
            self.recompute_note = "Saved. Lapse points and cross-sell pairs are being recomputed…"
            return AdminCartState.recompute_due_dates
        return None

    @admin_event
    def save_appearance(self, form_data: dict):
        data = {**form_data, "accent_color": form_data.get("accent_color") or self.accent_color}
        self._save("appearance", data)

    @admin_event
    def pick_accent(self, name: str):
        """The colour picker is controlled, so its swatch follows the choice before saving."""
        if name in settings_service.ACCENT_COLORS:
            self.accent_color = name

    @admin_event
    def preview_logo(self, url: str):
        cleaned, error = settings_service.clean_logo_url(url)
        self.logo_preview = "" if error else cleaned

    @admin_event(background=True)
    async def recompute_due_dates(self):
        async with self:
            self.recomputing = True
            self.recompute_note = "Saved. Customers' due dates are being recomputed…"
        try:
            outcome = await asyncio.to_thread(settings_service.recompute_due_dates)
        except Exception:  # noqa: BLE001  (shown to the merchant; the nightly run retries)
            outcome = None
        async with self:
            self.recomputing = False
            self.recompute_runs += 1
            if outcome is None:
                self.recompute_note = (
                    "Saved, but recomputing due dates failed: the nightly run will retry."
                )
            elif not outcome.ran:
                self.recompute_note = (
                    "Saved. Another recompute is running; due dates follow the new timing "
                    "after tonight's run at the latest."
                )
            else:
                self.recompute_note = (
                    f"Due dates recomputed for {outcome.customers:,} customers "
                    f"({outcome.due_rows:,} items) in {outcome.seconds:.1f} s."
                )

    # --- You Might Also Like ------------------------------------------------------------------

    def _show_picker(self, picker: settings_service.YmalPicker) -> None:
        self.ymal = [_product_row(hit) for hit in picker.listed]
        self.ymal_hits = [_product_row(hit) for hit in picker.hits]
        self.ymal_message = picker.message

    @admin_event
    def search_products(self, form_data: dict):
        self.ymal_query = str(form_data.get("query", ""))[:100]
        self._show_picker(settings_service.search_ymal(self.ymal_query))

    @admin_event
    def add_ymal(self, product_id: int):
        self._show_picker(settings_service.add_to_ymal(int(product_id), self.ymal_query))

    @admin_event
    def remove_ymal(self, product_id: int):
        self._show_picker(settings_service.remove_from_ymal(int(product_id), self.ymal_query))

    @admin_event
    def move_ymal(self, product_id: int, offset: int):
        picker = settings_service.move_in_ymal(int(product_id), int(offset), self.ymal_query)
        self.ymal = [_product_row(hit) for hit in picker.listed]
        self.ymal_hits = [_product_row(hit) for hit in picker.hits]

    # --- Preview --------------------------------------------------------------------------------

    @admin_event
    def search_customers(self, form_data: dict):
        self.customer_query = str(form_data.get("query", ""))[:100]
        hits = find_customers(self.customer_query)
        self.customer_hits = [CustomerRow(h.customer_id, h.name, h.email) for h in hits]
        self.customer_searched = True
        self.preview_href = ""

    @admin_event
    def prepare_preview(self, customer_id: int):
        """Make the preview link (creating the customer's cart link if needed) for a new tab."""
        url = settings_service.preview_customer_cart(int(customer_id))
        row = next((c for c in self.customer_hits if c.customer_id == customer_id), None)
        self.preview_href = url or ""
        self.preview_name = (row.name if row else "") if url else ""
