"""A quantity press sends the browser only what changed: the quantities and the totals computed
from them, never the cart's lines again (the lines go once, when the cart loads)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from repeatcart_app.state.cart import CartState
from tests.e2e.conftest import RunningApp
from tests.e2e.raw_events import CartTab, state_vars

pytestmark = pytest.mark.e2e

PRESS_LIMIT_BYTES = 2048


def size(update: dict[str, Any]) -> int:
    return len(json.dumps(update.get("delta") or {}, separators=(",", ":")).encode())


def test_a_quantity_press_sends_only_quantities_and_totals(running_app: RunningApp) -> None:
    tab = CartTab(running_app.base_url, running_app.demo.sample_tokens["due"])
    try:
        view = tab.view
        lines = [*view["due_lines"], *view["previous_lines"], *view["ymal_lines"]]
        key, quantity = next(iter(view["quantities"].items()))
        load_bytes = sum(size(update) for update in tab.client.received)
        tab.send("increase", key=key)
        press = tab.wait(lambda view: view["quantities"].get(key) == quantity + 1)
    finally:
        tab.close()

    sent = state_vars(press, CartState)
    print(f"{len(lines)} lines: load {load_bytes} B, press {size(press)} B")
    assert set(sent) <= {
        "quantities",
        "line_totals",
        "subtotal_cents",
        "subtotal_label",
        "item_count",
        "cart_label",
        "can_checkout",
    }, f"a press resent {set(sent)}"
    assert size(press) <= PRESS_LIMIT_BYTES
    assert size(press) * 3 < load_bytes, "the press should carry far less than the cart's load"
