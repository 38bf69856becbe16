"""The dashboard's Analytics page state: a range, a channel, and the figures counted in SQL.

The state keeps only what the page shows: formatted KPI strings, one point per day or week
for the charts (at most ~160) and one row per channel.
"""

from __future__ import annotations

from datetime import date

from repeatcart_app.state.auth import AuthState, admin_event
from services.core.clock import utcnow
from services.core.money import format_money
from services.messaging import PROVIDERS
from services.reporting.analytics.moments import MomentRow
from services.reporting.analytics.ranges import (
    CHANNELS,
    PRESETS,
    AnalyticsInputError,
    day_range,
    parse_days,
    preset_days,
)
from services.reporting.analytics.report import AnalyticsReport, ChannelRow, analytics_for_range

ALL_CHANNELS = "all"
CHANNEL_LABELS: dict[str, str] = {
    ALL_CHANNELS: "All channels",
    "direct": "Direct",
    "email": "Email",
    "sms": "SMS",
    **{provider.name: provider.label for provider in PROVIDERS},
    "qr": "QR code",
    "other": "Other",
}
DEFAULT_PRESET = "30d"
CUSTOM = "custom"


def format_rate(rate: float | None) -> str:
    """0.3333 → "33.3%"; no sessions → "–" (nothing to rate is not 0%)."""
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _money(cents: int | None, currency: str) -> str:
    return "–" if cents is None else format_money(cents, currency)


def _short_day(day: date) -> str:
    return f"{day:%b} {day.day}"


def _range_label(first: date, last: date) -> str:
    if first == last:
        return f"{_short_day(first)}, {first.year}"
    if first.year == last.year:
        return f"{_short_day(first)} – {_short_day(last)}, {last.year}"
    return f"{_short_day(first)}, {first.year} – {_short_day(last)}, {last.year}"


class AdminAnalyticsState(AuthState):
    loaded: bool = False
    preset: str = DEFAULT_PRESET  # 7d | 30d | 90d | 12m | custom
    date_from: str = ""  # YYYY-MM-DD, what the date inputs show
    date_to: str = ""
    channel: str = ALL_CHANNELS
    error: str = ""

    range_label: str = ""
    granularity: str = "day"
    currency: str = "USD"
    empty: bool = True

    views: str = "0"
    sessions: str = "0"
    checkouts: str = "0"
    checkout_rate: str = "–"
    attributed_orders: str = "0"
    attributed_revenue: str = "–"
    aov_cart: str = "–"
    aov_all: str = "–"
    all_orders: str = "0"
    revenue_per_session: str = "–"

    # chart points: {"label", "views", "sessions", "checkouts", "orders", "revenue"}
    series: list[dict[str, str | int | float]] = []
    # one per channel: figures for the bar chart (numbers) and the table (strings)
    channel_chart: list[dict[str, str | int | float]] = []
    channel_rows: list[dict[str, str]] = []
    moment_rows: list[dict[str, str]] = []  # one per Moment, as the table shows them
    featured_rows: list[dict[str, str]] = []  # featured product links' carts, per channel

    @admin_event
    def load(self):
        """on_load: the range of the URL (?range=12m, or ?from=&to=, and ?channel=), else the
        range already chosen in this tab, else the last 30 days; all channels by default."""
        params = self.router.url.query_parameters
        if params.get("channel") in (ALL_CHANNELS, *CHANNELS):
            self.channel = str(params["channel"])
        if params.get("from") or params.get("to"):
            self.preset = CUSTOM
            self.date_from = str(params.get("from", "")).strip()
            self.date_to = str(params.get("to", "")).strip()
            try:
                parse_days(self.date_from, self.date_to)
            except AnalyticsInputError as error:
                self._set_preset(DEFAULT_PRESET)
                self._refresh()
                self.error = str(error)
                return
        elif params.get("range") in PRESETS:
            self._set_preset(str(params["range"]))
        elif self.preset != CUSTOM or not self.date_from:
            self._set_preset(self.preset if self.preset in PRESETS else DEFAULT_PRESET)
        self._refresh()

    @admin_event
    def choose_preset(self, preset: str | list[str]):
        """A preset range; the segmented control may send a list, which is no preset."""
        if not isinstance(preset, str) or preset not in PRESETS:
            self.error = "Choose one of the ranges offered, or enter dates."
            return
        self._set_preset(preset)
        self._refresh()

    @admin_event
    def apply_dates(self, form_data: dict):
        """The custom range: both dates are checked here, whatever the browser allowed."""
        first_text = str(form_data.get("date_from", "") or "")
        last_text = str(form_data.get("date_to", "") or "")
        # what was typed stays in the inputs, right or wrong, so nothing is lost
        self.date_from, self.date_to = first_text.strip(), last_text.strip()
        try:
            parse_days(first_text, last_text)
        except AnalyticsInputError as error:
            self.error = str(error)
            return
        self.preset = CUSTOM
        self._refresh()

    @admin_event
    def choose_channel(self, channel: str):
        if channel != ALL_CHANNELS and channel not in CHANNELS:
            self.error = "Choose a channel from the list."
            return
        self.channel = channel
        self._refresh()

    def _set_preset(self, preset: str) -> None:
        first, last = preset_days(preset, utcnow().date())
        self.preset = preset
        self.date_from, self.date_to = first.isoformat(), last.isoformat()

    def _refresh(self) -> None:
        """Count the chosen range; a bad range keeps the last figures and says why."""
        try:
            first, last = parse_days(self.date_from, self.date_to)
            start, end = day_range(first, last)
            channel = None if self.channel == ALL_CHANNELS else self.channel
            report = analytics_for_range(start, end, channel, now=utcnow())
        except AnalyticsInputError as error:
            self.error = str(error)
            return
        self.error = ""
        self.range_label = _range_label(first, last)
        self._show(report)
        self.loaded = True

    def _show(self, report: AnalyticsReport) -> None:
        currency, totals = report.currency, report.totals
        self.currency = currency
        self.granularity = report.granularity
        self.empty = report.empty
        self.views = f"{totals.views:,}"
        self.sessions = f"{totals.sessions:,}"
        self.checkouts = f"{totals.checkouts:,}"
        self.checkout_rate = format_rate(totals.checkout_rate)
        self.attributed_orders = f"{totals.attributed_orders:,}"
        self.attributed_revenue = format_money(totals.attributed_revenue_cents, currency)
        self.aov_cart = _money(totals.aov_cart_cents, currency)
        self.aov_all = _money(totals.aov_all_cents, currency)
        self.all_orders = f"{totals.all_orders:,}"
        self.revenue_per_session = _money(totals.revenue_per_session_cents, currency)
        weekly = report.granularity == "week"
        self.series = [
            {
                "label": ("Wk " if weekly else "") + _short_day(point.bucket),
                "views": point.views,
                "sessions": point.sessions,
                "checkouts": point.checkouts,
                "orders": point.attributed_orders,
                "revenue": point.attributed_revenue_cents / 100,
            }
            for point in report.series
        ]
        self.channel_chart = [
            {
                "channel": CHANNEL_LABELS[row.channel],
                "views": row.views,
                "checkouts": row.checkouts,
                "orders": row.attributed_orders,
            }
            for row in report.channels
        ]
        self.featured_rows = [
            {
                "key": row.channel,
                "channel": CHANNEL_LABELS[row.channel],
                "views": f"{row.views:,}",
                "sessions": f"{row.sessions:,}",
                "checkouts": f"{row.checkouts:,}",
                "rate": format_rate(row.checkout_rate),
            }
            for row in report.featured
        ]
        self.channel_rows = [
            {"key": row.channel, "channel": CHANNEL_LABELS[row.channel], **_figures(row, currency)}
            for row in report.channels
        ]
        self.moment_rows = [
            {"key": row.kind, "moment": row.label, **_figures(row, currency)}
            for row in report.moments
        ]


def _figures(row: ChannelRow | MomentRow, currency: str) -> dict[str, str]:
    """One table row's figures as the page shows them."""
    return {
        "views": f"{row.views:,}",
        "sessions": f"{row.sessions:,}",
        "checkouts": f"{row.checkouts:,}",
        "rate": format_rate(row.checkout_rate),
        "orders": f"{row.attributed_orders:,}",
        "revenue": format_money(row.attributed_revenue_cents, currency),
    }
