"""`/admin/analytics`: what the carts bring in, over a chosen range and by channel."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components import charts
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.components.admin_parts import when_loaded
from repeatcart_app.state.admin_analytics import (
    ALL_CHANNELS,
    CHANNEL_LABELS,
    AdminAnalyticsState,
)

State = AdminAnalyticsState

PRESET_LABELS = (("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"), ("12m", "12 months"))

DEFINITIONS = (
    ("Cart session", "a cart opened on a day (one customer's cart, one UTC day, with a view)."),
    ("Checkout rate", "sessions that went on to checkout, divided by sessions."),
    (
        "Attributed orders",
        "orders placed from a RepeatCart checkout (they carry the cart attribute), processed in "
        "the range; test and cancelled orders are left out.",
    ),
    (
        "Revenue",
        "the total of those orders. Only orders in the shop's currency are counted.",
    ),
    (
        "AOV",
        "average order value: revenue divided by orders, for cart orders and for all orders "
        "of the range (all orders are never filtered by channel).",
    ),
    ("Revenue per session", "attributed revenue divided by cart sessions."),
    (
        "Channel",
        "where the cart link was opened from (?ch= on the link: email, sms, klaviyo, …; none "
        "is direct). A cart opened from two channels on one day counts under each.",
    ),
    (
        "Moment",
        "which message brought the visit or the order: the Moment's event links the cart with "
        "its name (&m=), and checkout carries it to the order. Visits from a profile's cart "
        "link or elsewhere have none.",
    ),
    (
        "Featured product links",
        "carts opened from a product link or its QR code (/replenish), for anyone: counted in "
        "their own table, one session per page opened; their orders carry no cart attribute.",
    ),
)


def _controls() -> rx.Component:
    presets = rx.segmented_control.root(
        *(rx.segmented_control.item(label, value=value) for value, label in PRESET_LABELS),
        value=State.preset,
        on_change=State.choose_preset,
        size=rx.breakpoints(initial="1", sm="2"),
        width=rx.breakpoints(initial="100%", sm="auto"),
        data_testid="range-presets",
    )
    dates = rx.form(
        rx.hstack(
            rx.input(
                type="date",
                name="date_from",
                default_value=State.date_from,
                key=State.date_from,
                aria_label="From",
                data_testid="date-from",
                flex="1",
                min_width="0",
            ),
            rx.text("to", size="2", color_scheme="gray"),
            rx.input(
                type="date",
                name="date_to",
                default_value=State.date_to,
                key=State.date_to,
                aria_label="To",
                data_testid="date-to",
                flex="1",
                min_width="0",
            ),
            rx.button("Apply", type="submit", variant="soft", data_testid="apply-dates"),
            align="center",
            spacing="2",
            width="100%",
        ),
        on_submit=State.apply_dates,
        width=rx.breakpoints(initial="100%", md="auto"),
    )
    channel = rx.select.root(
        rx.select.trigger(aria_label="Channel", data_testid="channel-filter"),
        rx.select.content(
            *(rx.select.item(label, value=value) for value, label in CHANNEL_LABELS.items()),
        ),
        value=State.channel,
        on_change=State.choose_channel,
    )
    return rx.vstack(
        rx.flex(
            presets,
            channel,
            gap="12px",
            wrap="wrap",
            align="center",
            width="100%",
        ),
        dates,
        rx.cond(
            State.error != "",
            rx.callout(
                State.error, icon="triangle-alert", color_scheme="red", data_testid="range-error"
            ),
        ),
        rx.text(
            State.range_label,
            " · ",
            rx.cond(State.granularity == "week", "per week", "per day"),
            " · ",
            rx.cond(
                State.channel == ALL_CHANNELS,
                "all channels",
                State.channel,
            ),
            size="2",
            color_scheme="gray",
            data_testid="range-label",
        ),
        spacing="3",
        width="100%",
    )


def _kpi(label: str, value: rx.Var, testid: str, note: rx.Var | str = "") -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.text(value, size="6", weight="bold", data_testid=testid),
            rx.text(note, size="1", color_scheme="gray"),
            spacing="1",
        ),
        size="1",
        min_width="0",
    )


def _kpis() -> rx.Component:
    return rx.grid(
        _kpi("Cart views", State.views, "kpi-views"),
        _kpi("Cart sessions", State.sessions, "kpi-sessions"),
        _kpi("Checkouts", State.checkouts, "kpi-checkouts"),
        _kpi("Checkout rate", State.checkout_rate, "kpi-checkout-rate", "of sessions"),
        _kpi("Attributed orders", State.attributed_orders, "kpi-orders"),
        _kpi("Attributed revenue", State.attributed_revenue, "kpi-revenue", State.currency),
        _kpi(
            "AOV, cart orders",
            State.aov_cart,
            "kpi-aov-cart",
            rx.text.span("all orders: ", rx.text.span(State.aov_all, data_testid="kpi-aov-all")),
        ),
        _kpi("Revenue per session", State.revenue_per_session, "kpi-revenue-per-session"),
        columns=rx.breakpoints(initial="2", md="4"),
        spacing="3",
        width="100%",
        data_testid="kpis",
    )


def _area(key: str, name: str, colour: rx.Var) -> rx.Component:
    return rx.recharts.area(
        data_key=key,
        name=name,
        stroke=colour,
        fill=colour,
        fill_opacity=0.15,
        stroke_width=2,
        dot=False,
        type_="monotone",
        is_animation_active=False,
    )


def _channel_bar(key: str, name: str, colour: rx.Var) -> rx.Component:
    return rx.recharts.bar(
        data_key=key, name=name, fill=colour, max_bar_size=10, is_animation_active=False
    )


def _activity_chart() -> rx.Component:
    return charts.chart_card(
        "Views and checkouts",
        rx.cond(State.granularity == "week", "per week", "per day"),
        rx.recharts.area_chart(
            charts.grid(),
            charts.category_axis("label"),
            charts.value_axis(),
            charts.tooltip(),
            charts.legend(),
            _area("views", "Views", charts.PRIMARY),
            _area("checkouts", "Checkouts", charts.SECONDARY),
            data=State.series,
            margin={"top": 8, "right": 8, "left": 0, "bottom": 0},
        ),
        "chart-activity",
    )


def _revenue_chart() -> rx.Component:
    return charts.chart_card(
        "Attributed revenue",
        rx.cond(State.granularity == "week", "per week, ", "per day, ") + State.currency,
        rx.recharts.bar_chart(
            charts.grid(),
            charts.category_axis("label"),
            charts.value_axis(56),
            charts.tooltip(),
            rx.recharts.bar(
                data_key="revenue",
                name="Revenue, " + State.currency,
                fill=charts.PRIMARY,
                radius=[3, 3, 0, 0],
                max_bar_size=28,
                is_animation_active=False,
            ),
            data=State.series,
            margin={"top": 8, "right": 8, "left": 0, "bottom": 0},
        ),
        "chart-revenue",
    )


def _channel_chart() -> rx.Component:
    return charts.chart_card(
        "By channel",
        "views, checkouts and attributed orders",
        rx.recharts.bar_chart(
            rx.recharts.cartesian_grid(
                stroke_dasharray="3 3", stroke=charts.GRID, horizontal=False
            ),
            rx.recharts.x_axis(
                type_="number",
                tick=charts.AXIS_TICK,
                tick_line=False,
                axis_line=False,
                allow_decimals=False,
                tick_count=4,
            ),
            rx.recharts.y_axis(
                data_key="channel",
                type_="category",
                tick=charts.AXIS_TICK,
                tick_line=False,
                axis_line=False,
                width=76,
                interval=0,
            ),
            charts.tooltip(),
            charts.legend(),
            _channel_bar("views", "Views", charts.PRIMARY),
            _channel_bar("checkouts", "Checkouts", charts.SECONDARY),
            _channel_bar("orders", "Orders", charts.TERTIARY),
            data=State.channel_chart,
            layout="vertical",
            margin={"top": 0, "right": 8, "left": 0, "bottom": 0},
            bar_gap=1,
        ),
        "chart-channels",
        height="340px",
    )


def _figures_table(
    title: str,
    first: str,
    rows: rx.Var,
    name_key: str,
    testid: str,
    keys: tuple[str, ...] = ("views", "sessions", "checkouts", "rate", "orders", "revenue"),
    note: str = "",
) -> rx.Component:
    """A card with one row per channel or per Moment: its figures, right-aligned."""
    headers = (first, *(key.title() for key in keys))
    return rx.card(
        rx.vstack(
            rx.text(title, size="3", weight="medium"),
            rx.text(note, size="2", color_scheme="gray") if note else rx.fragment(),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *(
                                rx.table.column_header_cell(
                                    header,
                                    text_align="left" if index == 0 else "right",
                                    white_space="nowrap",
                                )
                                for index, header in enumerate(headers)
                            )
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            rows,
                            lambda row: rx.table.row(
                                rx.table.row_header_cell(row[name_key], white_space="nowrap"),
                                *(
                                    rx.table.cell(
                                        row[key], text_align="right", white_space="nowrap"
                                    )
                                    for key in keys
                                ),
                                data_testid=f"{testid}-row-" + row["key"],
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                ),
                width="100%",
                overflow_x="auto",
                data_testid=f"{testid}-table",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _channel_table() -> rx.Component:
    return _figures_table("Per channel", "Channel", State.channel_rows, "channel", "channel")


def _moment_table() -> rx.Component:
    return _figures_table("Per Moment", "Moment", State.moment_rows, "moment", "moment")


def _help() -> rx.Component:
    return rx.box(
        rx.el.details(
            rx.el.summary(
                rx.text("How these figures are counted", size="2", as_="span"),
                cursor="pointer",
            ),
            rx.vstack(
                *(
                    rx.text(rx.text.strong(term), ": ", text, size="2", color_scheme="gray")
                    for term, text in DEFINITIONS
                ),
                rx.text(
                    "Ranges are whole days in UTC; from 93 days on, charts show weeks "
                    "(Monday to Sunday).",
                    size="2",
                    color_scheme="gray",
                ),
                spacing="2",
                padding_top="8px",
            ),
        ),
        width="100%",
        data_testid="analytics-help",
    )


def _empty() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("chart-no-axes-column", size=28, color=rx.color("gray", 9)),
            rx.text("No cart activity in this range", size="3", weight="medium"),
            rx.text(
                "Views, checkouts and cart orders appear here once customers open their cart "
                "links. Try a longer range or another channel.",
                size="2",
                color_scheme="gray",
                text_align="center",
            ),
            align="center",
            spacing="2",
            padding="24px 8px",
        ),
        width="100%",
        data_testid="analytics-empty",
    )


@admin_page("Analytics", routes.ADMIN_ANALYTICS)
def admin_analytics_page() -> rx.Component:
    return when_loaded(
        State.loaded,
        rx.vstack(
            _controls(),
            _kpis(),
            rx.cond(
                State.empty,
                _empty(),
                rx.vstack(
                    _activity_chart(),
                    _revenue_chart(),
                    _channel_chart(),
                    _channel_table(),
                    _moment_table(),
                    rx.cond(
                        State.featured_rows.length() > 0,
                        _figures_table(
                            "Featured product links",
                            "Channel",
                            State.featured_rows,
                            "channel",
                            "featured",
                            ("views", "sessions", "checkouts", "rate"),
                            "Carts opened from product links and QR codes, for anyone; "
                            "counted here, not in the figures above.",
                        ),
                    ),
                    spacing="4",
                    width="100%",
                ),
            ),
            _help(),
            spacing="5",
            width="100%",
            data_testid="admin-analytics",
        ),
    )
