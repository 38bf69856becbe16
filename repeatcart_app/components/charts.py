"""Small shared pieces for dashboard charts: calm colours, sparse axes, a titled card.

Charts fill their card's width (Recharts' responsive container) and keep ticks few, so a
390 px phone shows the same chart without overlapping labels.
"""

from __future__ import annotations

import reflex as rx

# Radix colour steps, so light and dark themes both stay calm and legible
PRIMARY = rx.color("teal", 9)
SECONDARY = rx.color("indigo", 8)
TERTIARY = rx.color("amber", 9)
GRID = rx.color("gray", 5)
AXIS_TICK = {"fontSize": 12, "fill": "var(--gray-11)"}


def grid() -> rx.Component:
    return rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke=GRID, vertical=False)


def category_axis(data_key: str) -> rx.Component:
    """The time axis: only as many labels as fit (first and last always shown)."""
    return rx.recharts.x_axis(
        data_key=data_key,
        tick=AXIS_TICK,
        tick_line=False,
        axis_line=False,
        interval="preserveStartEnd",
        min_tick_gap=28,
    )


def value_axis(width: int = 44) -> rx.Component:
    return rx.recharts.y_axis(
        tick=AXIS_TICK,
        tick_line=False,
        axis_line=False,
        allow_decimals=False,
        tick_count=4,
        width=width,
    )


def tooltip() -> rx.Component:
    return rx.recharts.graphing_tooltip(
        content_style={
            "background": "var(--color-panel-solid)",
            "border": "1px solid var(--gray-5)",
            "borderRadius": "8px",
            "fontSize": "13px",
        },
        cursor={"fill": "var(--gray-3)"},
    )


def legend() -> rx.Component:
    return rx.recharts.legend(icon_type="circle", icon_size=8)


def chart_card(
    title: str, note: rx.Var | str, chart: rx.Component, testid: str, height: str = "240px"
) -> rx.Component:
    """A titled card holding one full-width chart of a fixed height."""
    return rx.card(
        rx.vstack(
            rx.vstack(
                rx.text(title, size="3", weight="medium"),
                rx.text(note, size="1", color_scheme="gray"),
                spacing="0",
            ),
            rx.box(chart, width="100%", height=height),
            spacing="3",
            width="100%",
        ),
        width="100%",
        data_testid=testid,
    )
