"""A bare Socket.IO client that speaks Reflex's event protocol, the way a crafted script would.

The browser's page is not involved: events are addressed to handlers by name, with whatever
arguments and client storage (cookies) the caller chooses. Tests use it to prove that admin
handlers refuse callers without a live session, and to read exactly what the server sends.
"""

from __future__ import annotations

import inspect
import queue
import uuid
from collections.abc import Callable
from typing import Any

import socketio
from reflex.utils.format import format_event_handler

from repeatcart_app.state.auth import AuthState
from repeatcart_app.state.cart import CartState

EVENT_PATH = "/_event"  # both the Socket.IO path and its namespace


def handler_name(state: type, name: str) -> str:
    """The wire name of `state.name`, as the compiled frontend would send it."""
    return format_event_handler(state.event_handlers[name])


def dummy_arguments(state: type, name: str) -> dict[str, Any]:
    """Plausible values for every parameter of a handler, by annotation, so the call binds and
    only the handler's own check can stop it."""
    values: dict[str, Any] = {}
    signature = inspect.signature(state.event_handlers[name].fn)
    for parameter in list(signature.parameters.values())[1:]:
        annotation = str(parameter.annotation)
        if "dict" in annotation:
            values[parameter.name] = {"value": "x", "email": "x@example.com", "days": "30"}
        elif "list" in annotation:
            values[parameter.name] = []
        elif "int" in annotation or "float" in annotation:
            values[parameter.name] = 1
        elif "bool" in annotation:
            values[parameter.name] = True
        else:
            values[parameter.name] = "1"
    return values


class RawEventClient:
    """One tab's connection: a fresh client token, no cookies unless the caller hydrates some."""

    def __init__(self, base_url: str) -> None:
        self.updates: queue.Queue[dict[str, Any]] = queue.Queue()
        self.received: list[dict[str, Any]] = []
        self._sio = socketio.Client(reconnection=False)
        self._sio.on("event", self.updates.put, namespace=EVENT_PATH)
        self.token = str(uuid.uuid4())
        self._sio.connect(
            f"{base_url}?token={self.token}",
            socketio_path=EVENT_PATH,
            transports=["websocket"],
            namespaces=[EVENT_PATH],
            wait_timeout=15,
        )

    def close(self) -> None:
        self._sio.disconnect()

    def send(
        self, name: str, payload: dict[str, Any], path: str, query: dict[str, str] | None = None
    ) -> None:
        """Send one event as from a page at `path`; `query` carries its route's parameters."""
        self._sio.emit(
            "event",
            {
                "name": name,
                "payload": payload,
                "router_data": {"pathname": path, "query": query or {}, "asPath": path},
            },
            namespace=EVENT_PATH,
        )

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict:
        """The first update (from now) that satisfies `predicate`; every update is kept in
        `received`. Raises `queue.Empty` when none comes within `timeout` seconds."""
        while True:
            update = self.updates.get(timeout=timeout)
            self.received.append(update)
            if predicate(update):
                return update

    def hydrate(
        self, path: str, cookies: dict[str, str] | None = None, query: dict[str, str] | None = None
    ) -> None:
        """What a page does first: hydrate (carrying client storage: cookies), then its on_load
        handlers run, as for a browser opening `path`."""
        state_name = AuthState.get_root_state().get_full_name()
        variables = {
            f"{AuthState.get_full_name()}.{name}": value for name, value in (cookies or {}).items()
        }
        self.send(f"{state_name}.hydrate_and_load", {"vars": variables}, path, query)
        self.wait_for(lambda update: bool(update.get("delta")))


def redirects_to(update: dict[str, Any], path: str) -> bool:
    return any(
        str(event.get("name", "")).endswith("_redirect")
        and str(event.get("payload", {}).get("path", "")).rstrip("/").endswith(path)
        for event in update.get("events", [])
    )


VAR_SUFFIX = "_rx_state_"


def state_vars(update: dict[str, Any], state: type) -> dict[str, Any]:
    """One state's vars in an update's delta, by their Python names."""
    delta = (update.get("delta") or {}).get(state.get_full_name()) or {}
    return {name.removesuffix(VAR_SUFFIX): value for name, value in delta.items()}


class CartTab:
    """One shopper's tab on a cart, loaded: `view` is the cart state as the page holds it."""

    def __init__(self, base_url: str, token: str) -> None:
        self.state = CartState
        self.path, self.query = f"/cart/{token}", {"token": token}
        self.client = RawEventClient(base_url)
        self.view: dict[str, Any] = {}
        self.client.hydrate(self.path, query=self.query)
        for update in self.client.received:
            self.view.update(state_vars(update, self.state))
        if self.view.get("status") != "ready":
            self.wait(lambda view: view.get("status") == "ready")

    def send(self, handler: str, **payload: object) -> None:
        self.client.send(handler_name(self.state, handler), payload, self.path, self.query)

    def wait(self, done: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
        """The first update after which `done(view)` holds; the view follows every update."""

        def seen(update: dict[str, Any]) -> bool:
            self.view.update(state_vars(update, self.state))
            return done(self.view)

        return self.client.wait_for(seen, timeout)

    def close(self) -> None:
        self.client.close()
