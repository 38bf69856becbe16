"""The dashboard's Cart page: cart settings by section, the YMAL picker and the cart preview.

Every field is validated on the server (services.settings.cart); a section saves all of its
fields or none, and each field shows its own message. Changing the reminder timing re-dates
every customer's due rows in a background task, so the page stays responsive meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses

import reflex as rx

from repeatcart_app.state.auth import AuthState, require_admin
from services.core.db import session_scope
from services.settings import cart as settings_service
from services.settings.effective import effective_settings

SECTIONS = ("banner", "timing", "appearance")
SECTION_FIELDS = {
    "banner": ("banner_text", "discount_code"),
    "timing": settings_service.TIMING_FIELDS,
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


def _product_row(hit: settings_service.ProductHit) -> ProductRow:
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
    hide_unavailable: bool = False
    accent_color: str = "grass"
    logo_url: str = ""
    logo_preview: str = ""

    errors: dict[str, str] = {}
    saved_section: str = ""  # the section whose "Saved" note shows
    recomputing: bool = False
    recompute_note: str = ""
    recompute_runs: int = 0

    ymal: list[ProductRow] = []
    ymal_query: str = ""
    ymal_hits: list[ProductRow] = []
    ymal_message: str = ""

    customer_query: str = ""
    customer_hits: list[CustomerRow] = []
    customer_searched: bool = False
    preview_name: str = ""
    preview_href: str = ""

    def _read(self) -> None:
        with session_scope() as session:
            current = settings_service.load_cart_settings(session)
            ymal = settings_service.current_ymal(session)
        self.banner_text = current.banner_text
        self.discount_code = current.discount_code
        self.lead_days = str(current.lead_days)
        self.default_interval_days = _number_text(current.default_interval_days)
        self.min_reorder_customers = str(current.min_reorder_customers)
        self.hide_unavailable = current.hide_unavailable
        self.accent_color = current.accent_color
        self.logo_url = current.logo_url
        self.logo_preview = current.logo_url
        self.ymal = [_product_row(hit) for hit in ymal]

    @rx.event
    def load(self):
        denied = require_admin(self)
        if denied is not None:
            self.loaded = False
            return denied
        self._read()
        self.errors = {}
        self.saved_section = ""
        self.ymal_message = ""
        self.preview_href = ""
        self.form_versions = {section: n + 1 for section, n in self.form_versions.items()}
        self.loaded = True
        return None

    def _save(self, section: str, form_data: dict) -> bool:
        """Save one section's fields from the form; True when saved and the timing changed."""
        values = {name: form_data.get(name) for name in SECTION_FIELDS[section]}
        with session_scope() as session:
            result = settings_service.save_cart_settings(session, values)
        others = {k: v for k, v in self.errors.items() if k not in SECTION_FIELDS[section]}
        self.errors = {**others, **result.errors}
        if not result.saved:
            self.saved_section = ""
            return False
        self.saved_section = section
        # show what was stored (trimmed), keeping the other sections' fields as they are
        with session_scope() as session:
            current = settings_service.load_cart_settings(session)
        for name in SECTION_FIELDS[section]:
            value = getattr(current, name)
            if isinstance(value, float):
                value = _number_text(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            setattr(self, name, value)
        if section == "appearance":
            self.logo_preview = current.logo_url
        self.form_versions = {**self.form_versions, section: self.form_versions[section] + 1}
        return result.timing_changed

    @rx.event
    def save_banner(self, form_data: dict):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self._save("banner", form_data)
        return None

    @rx.event
    def save_timing(self, form_data: dict):
        denied = require_admin(self)
        if denied is not None:
            return denied
        if self._save("timing", form_data):
            self.recomputing = True
            self.recompute_note = "Saved. Customers' due dates are being recomputed…"
            return AdminCartState.recompute_due_dates
        return None

    @rx.event
    def save_appearance(self, form_data: dict):
        denied = require_admin(self)
        if denied is not None:
            return denied
        data = {**form_data, "accent_color": form_data.get("accent_color") or self.accent_color}
        self._save("appearance", data)
        return None

    @rx.event
    def pick_accent(self, name: str):
        """The colour picker is controlled, so its swatch follows the choice before saving."""
        denied = require_admin(self)
        if denied is not None:
            return denied
        if name in settings_service.ACCENT_COLORS:
            self.accent_color = name
        return None

    @rx.event
    def preview_logo(self, url: str):
        denied = require_admin(self)
        if denied is not None:
            return denied
        cleaned, error = settings_service.clean_logo_url(url)
        self.logo_preview = "" if error else cleaned
        return None

    @rx.event(background=True)
    async def recompute_due_dates(self):
        async with self:
            denied = require_admin(self)
            if denied is not None:
                self.recomputing = False
                return denied
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
        return None

    # --- You Might Also Like ------------------------------------------------------------------

    def _refresh_ymal(self) -> None:
        with session_scope() as session:
            self.ymal = [_product_row(hit) for hit in settings_service.current_ymal(session)]
            hits = settings_service.search_catalog(session, self.ymal_query)
        self.ymal_hits = [_product_row(hit) for hit in hits]

    @rx.event
    def search_products(self, form_data: dict):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.ymal_query = str(form_data.get("query", ""))[:100]
        self.ymal_message = ""
        self._refresh_ymal()
        return None

    @rx.event
    def add_ymal(self, product_id: int):
        denied = require_admin(self)
        if denied is not None:
            return denied
        with session_scope() as session:
            error = settings_service.add_ymal(session, int(product_id))
        self.ymal_message = error or ""
        self._refresh_ymal()
        return None

    @rx.event
    def remove_ymal(self, product_id: int):
        denied = require_admin(self)
        if denied is not None:
            return denied
        with session_scope() as session:
            settings_service.remove_ymal(session, int(product_id))
        self.ymal_message = ""
        self._refresh_ymal()
        return None

    @rx.event
    def move_ymal(self, product_id: int, offset: int):
        denied = require_admin(self)
        if denied is not None:
            return denied
        with session_scope() as session:
            settings_service.move_ymal(session, int(product_id), int(offset))
        self._refresh_ymal()
        return None

    # --- Preview --------------------------------------------------------------------------------

    @rx.event
    def search_customers(self, form_data: dict):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.customer_query = str(form_data.get("query", ""))[:100]
        with session_scope() as session:
            hits = settings_service.search_customers(session, self.customer_query)
        self.customer_hits = [CustomerRow(h.customer_id, h.name, h.email) for h in hits]
        self.customer_searched = True
        self.preview_href = ""
        return None

    @rx.event
    def prepare_preview(self, customer_id: int):
        """Make the preview link (creating the customer's cart link if needed) for a new tab."""
        denied = require_admin(self)
        if denied is not None:
            return denied
        with session_scope() as session:
            public_url = effective_settings(session).public_url
            url = settings_service.preview_link(session, int(customer_id), public_url)
        row = next((c for c in self.customer_hits if c.customer_id == customer_id), None)
        self.preview_href = url or ""
        self.preview_name = (row.name if row else "") if url else ""
        return None
