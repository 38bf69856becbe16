"""The dashboard's Insights page state: one product's reorder-gap distribution and the customers
coming due over the next 30 days, both computed by `services.reporting.insights`."""

from __future__ import annotations

from repeatcart_app.state.admin_products import format_days
from repeatcart_app.state.auth import AuthState, admin_event
from repeatcart_app.state.paged_list import search_text
from services.core.clock import utcnow
from services.products.intervals import load_product_page
from services.reporting.insights import (
    DueOutlook,
    IntervalDistribution,
    insights_page,
    product_distribution,
)

PICKER_RESULTS = 8
PRODUCT_GONE = "That product no longer exists."


class AdminInsightsState(AuthState):
    loaded: bool = False

    # product picker
    product_search: str = ""
    product_results: list[dict[str, str]] = []
    picker_message: str = ""

    # the chosen product's distribution
    product_id: int = 0
    product_title: str = ""
    bins: list[dict[str, str | int]] = []
    gaps: str = "0"
    customers: str = "0"
    p25: str = "—"
    median: str = "—"
    p75: str = "—"
    mean: str = "—"
    bin_days: int = 7
    median_bin: str = ""

    # customers due per day, next 30 days
    due_days: list[dict[str, str | int]] = []
    due_total: str = "0"
    due_peak: str = ""

    # customers reaching each Moment: today, next 30 days
    moments: list[dict[str, str]] = []

    def _show_product(self, result: IntervalDistribution) -> None:
        self.product_id = result.product_id
        self.product_title = result.title
        # two series stacked on one bar, so the middle half (P25..P75) gets its own colour
        self.bins = [
            {
                "label": b.label,
                "middle": b.gaps if b.middle else 0,
                "outer": 0 if b.middle else b.gaps,
            }
            for b in result.bins
        ]
        self.gaps = f"{result.gaps:,}"
        self.customers = f"{result.customers:,}"
        self.p25 = format_days(result.p25)
        self.median = format_days(result.median)
        self.p75 = format_days(result.p75)
        self.mean = format_days(result.mean)
        self.bin_days = result.bin_days
        self.median_bin = result.label_of(result.median)
        self.picker_message = ""

    def _show_due(self, due: DueOutlook) -> None:
        days = due.days
        self.due_days = [
            {"day": day.day.strftime("%b %-d"), "customers": day.customers} for day in days
        ]
        self.due_total = f"{due.customers:,}"
        busiest = max(days, key=lambda day: day.customers, default=None)
        self.due_peak = (
            f"Busiest day: {busiest.day.strftime('%b %-d')} ({busiest.customers:,} customers)"
            if busiest is not None and busiest.customers
            else ""
        )

    @admin_event
    def load(self):
        """on_load: who comes due, and the chosen product (at first the most reordered one)."""
        page = insights_page(self.product_id, utcnow())
        self._show_due(page.due)
        self.moments = [
            {
                "kind": moment.kind,
                "label": moment.label,
                "today": f"{moment.today:,}",
                "upcoming": f"{moment.upcoming:,}",
            }
            for moment in page.moments
        ]
        if page.distribution is not None:
            self._show_product(page.distribution)
        elif self.product_id:
            self.picker_message = PRODUCT_GONE
        self.loaded = True

    @admin_event
    def search_products(self, form_data: dict):
        self.product_search = search_text(form_data.get("product_search"))
        if not self.product_search:
            self.product_results = []
            self.picker_message = ""
            return
        # the most reordered first, as the chart opens on the most reordered product
        rows = load_product_page(
            self.product_search, sort="n", descending=True, page_size=PICKER_RESULTS
        ).rows
        self.product_results = [
            {"id": str(row.id), "title": row.title, "n": f"{row.n:,}"} for row in rows
        ]
        self.picker_message = "" if rows else "No product matches that search."

    @admin_event
    def choose_product(self, product_id: str):
        try:
            chosen = int(product_id)
        except ValueError:
            return
        result = product_distribution(chosen)
        if result is None:
            self.picker_message = PRODUCT_GONE
        else:
            self._show_product(result)
        self.product_results = []
