"""`/admin/insights`: how long customers take to reorder a product (histogram with the learned
percentiles marked), how many customers come due on each of the next 30 days, and how many
reach each Moment."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.components.admin_parts import when_loaded
from repeatcart_app.state.admin_insights import AdminInsightsState

State = AdminInsightsState

AXIS_TICK = {"fontSize": 12}


def _stat(label: str, value: rx.Var, testid: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="4", weight="bold", data_testid=testid),
        spacing="0",
    )


def _picker() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                rx.input(
                    rx.input.slot(rx.icon("search", size=16)),
                    name="product_search",
                    placeholder="Find a product",
                    aria_label="Find a product",
                    flex="1",
                    min_width="0",
                    data_testid="insights-search",
                ),
                rx.button("Search", type="submit", data_testid="insights-search-submit"),
                spacing="2",
                width="100%",
            ),
            on_submit=State.search_products,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(
            State.picker_message != "",
            rx.text(State.picker_message, size="2", color_scheme="gray"),
        ),
        rx.cond(
            State.product_results.length() > 0,
            rx.vstack(
                rx.foreach(
                    State.product_results,
                    lambda result: rx.button(
                        rx.text(result["title"], trim="both", flex="1", text_align="left"),
                        rx.text(result["n"] + " reordered", size="1", color_scheme="gray"),
                        on_click=State.choose_product(result["id"]),
                        variant="ghost",
                        color_scheme="gray",
                        width="100%",
                        justify="between",
                        data_testid="insights-result",
                    ),
                ),
                spacing="1",
                width="100%",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _swatch(color: str, text: str) -> rx.Component:
    return rx.hstack(
        rx.box(width="10px", height="10px", border_radius="2px", background=color),
        rx.text(text, size="1", color_scheme="gray"),
        spacing="1",
        align="center",
    )


def _legend() -> rx.Component:
    return rx.hstack(
        _swatch(rx.color("accent", 9), "Middle half (P25–P75)"),
        _swatch(rx.color("gray", 8), "Other reorders"),
        _swatch(rx.color("crimson", 10), "Median"),
        spacing="4",
        wrap="wrap",
        data_testid="distribution-legend",
    )


def _axes(x_key: str, x_label: str, y_label: str, min_tick_gap: int) -> list[rx.Component]:
    """Grid, labelled axes (counts on y, whole numbers) and tooltip, alike on both charts."""
    return [
        rx.recharts.cartesian_grid(vertical=False, stroke_dasharray="3 3"),
        rx.recharts.x_axis(
            data_key=x_key,
            tick=AXIS_TICK,
            interval="preserveStartEnd",
            min_tick_gap=min_tick_gap,
            height=48,
            label={"value": x_label, "position": "insideBottom", "fontSize": 12},
        ),
        rx.recharts.y_axis(
            allow_decimals=False,
            tick=AXIS_TICK,
            width=44,
            label={
                "value": y_label,
                "angle": -90,
                "position": "insideLeft",
                "fontSize": 12,
                "style": {"textAnchor": "middle"},
            },
        ),
        rx.recharts.graphing_tooltip(),
    ]


def _distribution_chart() -> rx.Component:
    return rx.recharts.bar_chart(
        *_axes("label", "Days between reorders (per unit)", "Reorders", min_tick_gap=8),
        rx.recharts.bar(
            data_key="middle",
            name="Middle half (P25–P75)",
            stack_id="reorders",
            fill=rx.color("accent", 9),
            is_animation_active=False,
        ),
        rx.recharts.bar(
            data_key="outer",
            name="Other reorders",
            stack_id="reorders",
            fill=rx.color("gray", 8),
            is_animation_active=False,
        ),
        rx.recharts.reference_line(
            rx.recharts.label(value="Median " + State.median + " d", position="top", font_size=12),
            x=State.median_bin,
            stroke=rx.color("crimson", 10),
            stroke_width=2,
            stroke_dasharray="4 3",
        ),
        data=State.bins,
        margin={"top": 24, "right": 8, "left": 4, "bottom": 4},
        width="100%",
        height=300,
    )


def _distribution_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Reorder interval", size="4", as_="h2"),
            _picker(),
            rx.cond(
                State.product_id != 0,
                rx.vstack(
                    rx.text(
                        State.product_title,
                        size="3",
                        weight="medium",
                        data_testid="insights-product",
                    ),
                    rx.grid(
                        _stat("Customers (N)", State.customers, "insights-n"),
                        _stat("Reorders", State.gaps, "insights-gaps"),
                        _stat("P25", State.p25 + " d", "insights-p25"),
                        _stat("Median", State.median + " d", "insights-median"),
                        _stat("P75", State.p75 + " d", "insights-p75"),
                        _stat("Mean", State.mean + " d", "insights-mean"),
                        columns=rx.breakpoints(initial="3", sm="6"),
                        spacing="3",
                        width="100%",
                    ),
                    rx.cond(
                        State.bins.length() > 0,
                        rx.box(
                            _legend(),
                            _distribution_chart(),
                            width="100%",
                            data_testid="distribution-chart",
                        ),
                        rx.callout(
                            "Nobody has reordered this product yet, so there is no interval "
                            "to show.",
                            icon="info",
                            color_scheme="gray",
                            width="100%",
                            data_testid="distribution-empty",
                        ),
                    ),
                    rx.text(
                        "Each bar counts reorders whose gap fell in that ",
                        State.bin_days,
                        "-day range; a gap is divided by the quantity bought, as the learned "
                        "interval is. The dashed line marks the median.",
                        size="1",
                        color_scheme="gray",
                    ),
                    spacing="3",
                    width="100%",
                ),
                rx.text("No products yet.", size="2", color_scheme="gray"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _due_chart() -> rx.Component:
    return rx.recharts.bar_chart(
        *_axes("day", "Due date (UTC)", "Customers", min_tick_gap=16),
        rx.recharts.bar(
            data_key="customers",
            name="Customers due",
            fill=rx.color("accent", 9),
            radius=3,
            is_animation_active=False,
        ),
        data=State.due_days,
        margin={"top": 12, "right": 8, "left": 4, "bottom": 4},
        width="100%",
        height=280,
    )


def _due_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Customers due, next 30 days", size="4", as_="h2"),
            rx.vstack(
                rx.text(
                    rx.text.strong(State.due_total, data_testid="due-total"),
                    " customers come due in the next 30 days",
                    size="2",
                ),
                rx.cond(
                    State.due_peak != "",
                    rx.text(State.due_peak, size="2", color_scheme="gray"),
                ),
                spacing="1",
            ),
            rx.box(_due_chart(), width="100%", data_testid="due-chart"),
            rx.text(
                "A customer due for two products on different days counts on both days.",
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _moment_row(moment: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(moment["label"]),
        rx.table.cell(moment["today"], justify="end", data_testid="moment-today"),
        rx.table.cell(moment["upcoming"], justify="end", data_testid="moment-upcoming"),
        data_testid=f"moment-{moment['kind']}",
    )


def _moments_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Customers reaching each Moment", size="4", as_="h2"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Moment"),
                        rx.table.column_header_cell("Today", justify="end"),
                        rx.table.column_header_cell("Next 30 days", justify="end"),
                    )
                ),
                rx.table.body(rx.foreach(State.moments, _moment_row)),
                size="2",
                width="100%",
            ),
            rx.text(
                "A forecast from today's due dates: a customer who reorders first is not sent "
                "the Moment, and one switched off for an integration is not sent there. "
                "Cross-sell counts customers primed by their last order; only those with a "
                "product to offer are sent it. Subscription counts who today's orders primed, "
                "and who would be if they reorder a product with selling plans on its due date.",
                size="1",
                color_scheme="gray",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        data_testid="moments-card",
    )


@admin_page("Insights", routes.ADMIN_INSIGHTS)
def admin_insights_page() -> rx.Component:
    return when_loaded(
        State.loaded,
        rx.vstack(
            _distribution_card(),
            _due_card(),
            _moments_card(),
            spacing="5",
            width="100%",
            data_testid="admin-insights",
        ),
    )
