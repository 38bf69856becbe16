"""A quantity press sends the browser only what changed: the quantities and the totals computed
from them, never the cart's lines again (the lines go once, when the cart loads)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from repeatcart_app.state.cart import CartState
from tests.e2e.conftest import RunningApp
from tests.e2e.raw_events import RawEventClient, handler_name

pytestmark = pytest.mark.e2e

PRESS_LIMIT_BYTES = 2048
VAR_SUFFIX = "_rx_state_"


def size(update: dict[str, Any]) -> int:
    return len(json.dumps(update.get("delta") or {}, separators=(",", ":")).encode())


def cart_vars(update: dict[str, Any]) -> dict[str, Any]:
    delta = (update.get("delta") or {}).get(CartState.get_full_name()) or {}
    return {name.removesuffix(VAR_SUFFIX): value for name, value in delta.items()}


def test_a_quantity_press_sends_only_quantities_and_totals(running_app: RunningApp) -> None:
    token = running_app.demo.sample_tokens["due"]
    path = f"/cart/{token}"
    client = RawEventClient(running_app.base_url)
    try:
        view: dict[str, Any] = {}

        def loaded(update: dict[str, Any]) -> bool:
            view.update(cart_vars(update))
            return view.get("status") == "ready"

        client.hydrate(path, query={"token": token})
        for update in client.received:
            loaded(update)
        if view.get("status") != "ready":
            client.wait_for(loaded)
        lines = [*view["due_lines"], *view["previous_lines"], *view["ymal_lines"]]
        key, quantity = next(iter(view["quantities"].items()))
        load_bytes = sum(size(update) for update in client.received)

        client.send(handler_name(CartState, "increase"), {"key": key}, path, {"token": token})
        press = client.wait_for(
            lambda u: cart_vars(u).get("quantities", {}).get(key) == quantity + 1
        )
    finally:
        client.close()

    sent = cart_vars(press)
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
