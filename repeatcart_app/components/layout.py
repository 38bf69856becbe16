"""Breakpoint helpers. Desktop starts at 1024 px, which no Radix breakpoint matches exactly."""

DESKTOP_QUERY = "@media (min-width: 1024px)"


def phone_only(display: str = "flex") -> dict:
    """Style that shows an element below 1024 px and hides it on desktop."""
    return {"display": display, DESKTOP_QUERY: {"display": "none"}}


def desktop_only(display: str = "flex") -> dict:
    return {"display": "none", DESKTOP_QUERY: {"display": display}}
