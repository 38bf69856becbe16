"""Simulated shoppers for `load.py`: Socket.IO clients that speak Reflex's event protocol.

A `Shopper` is one browser tab: its own connection and client token, its hydrate event sent in the
connect packet as the compiled page sends it (with the state hashes and schema read from the
app's built `.web`), then handler events by wire name, as `tests/e2e/raw_events.py` does in the
tests. `serve` starts a Reflex app's production build in its own process group, and
`group_rss_mb`/`group_cpu_s` read that group's memory and CPU time (Linux /proc). Imported by
`load.py`, which puts the project root on the import path first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import reflex as rx
import socketio

from tests.e2e.app_process import start_reflex, stop_app
from tests.e2e.raw_events import EVENT_PATH, handler_name

ROOT_STATE = rx.State.get_full_name()
HYDRATE = handler_name(rx.State, "hydrate_and_load")
VAR_SUFFIX = "_rx_state_"  # Reflex suffixes every state var's name on the wire
FAILED_STATUSES = ("expired", "error")


@dataclass(frozen=True)
class Page:
    """How a shopper reads one app's page state: its wire names and where the quantity is."""

    state: str
    increase: str
    key: Callable[[dict[str, Any]], str | None]
    quantity: Callable[[dict[str, Any], str], int | None]
    lines: Callable[[dict[str, Any]], int]


@dataclass(frozen=True)
class Server:
    """One running app: where it answers, its process group, and what its page sends first."""

    name: str
    base_url: str
    pgid: int
    page: Page
    hashes: list[str]
    schema: str


def _compiled_constants(app_dir: Path) -> tuple[list[str], str]:
    """The state hashes and schema the built page sends with its hydrate event."""
    context = (app_dir / ".web" / "utils" / "context.jsx").read_text()
    hashes = re.search(r"initialStateHashes = (\[[^\]]*\])", context)
    schema = re.search(r'stateSchema = "([^"]*)"', context)
    if hashes is None or schema is None:
        raise RuntimeError(f"no state hashes or schema in {app_dir}/.web: a Reflex change?")
    return json.loads(hashes.group(1)), schema.group(1)


@contextmanager
def serve(
    name: str,
    app_dir: Path,
    page: Page,
    env_for: Callable[[str], dict[str, str]],
    probe: str,
    log: Path,
) -> Iterator[Server]:
    """`reflex run --env prod` in `app_dir`, in its own process group; stopped after."""
    process, base_url = start_reflex(app_dir, env_for, log, probes=("/ping", probe))
    try:
        hashes, schema = _compiled_constants(app_dir)
        yield Server(name, base_url, process.pid, page, hashes, schema)
    finally:
        stop_app(process)


def _group_stats(pgid: int) -> Iterator[list[str]]:
    """The /proc stat fields (from the state on) of every process in the group (Linux)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            yield fields


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the group, in MB."""
    return sum(int(f[21]) for f in _group_stats(pgid)) * os.sysconf("SC_PAGE_SIZE") / 1e6


def group_cpu_s(pgid: int) -> float:
    """CPU time (user + system) the group's live processes have used, in seconds."""
    return sum(int(f[11]) + int(f[12]) for f in _group_stats(pgid)) / os.sysconf("SC_CLK_TCK")


@dataclass
class Outcome:
    """What one shopper saw; `error` names the first failure, which ends its visit."""

    connect_ms: float | None = None
    load_ms: float | None = None
    press_ms: list[float] = field(default_factory=list)
    press_bytes: list[int] = field(default_factory=list)
    load_bytes: int = 0
    lines: int = 0
    error: str | None = None


class Shopper:
    """One browser tab on `/cart/<token>`: its own connection and client token."""

    def __init__(self, server: Server, cart_token: str) -> None:
        self.server = server
        self.page = server.page
        path = f"/cart/{cart_token}"
        self.router_data = {"pathname": path, "asPath": path, "query": {"token": cart_token}}
        self.view: dict[str, Any] = {}
        self.hydrated = False  # the root state's flag, set once the page's on_load has run
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sio = socketio.AsyncClient(reconnection=False)
        self._sio.on("event", self._updates.put_nowait, namespace=EVENT_PATH)
        self._sio.on("disconnect", self._dropped, namespace=EVENT_PATH)

    def _dropped(self, reason: object = None) -> None:
        self._updates.put_nowait({"dropped": str(reason)})

    async def visit(self, presses: int, timeout: float) -> Outcome:
        outcome = Outcome()
        step = "connect"
        try:
            started = time.perf_counter()
            await self._sio.connect(
                f"{self.server.base_url}?token={uuid.uuid4()}",
                socketio_path=EVENT_PATH,
                transports=["websocket"],
                namespaces=[EVENT_PATH],
                auth={
                    "event": {
                        "name": HYDRATE,
                        "payload": {"hashes": self.server.hashes},
                        "router_data": self.router_data,
                    },
                    "state_schema": self.server.schema,
                },
                wait_timeout=timeout,
            )
            outcome.connect_ms = (time.perf_counter() - started) * 1000
            step = "load"
            outcome.load_bytes = await self._until(
                lambda: self.hydrated and self.view.get("status") in ("ready", *FAILED_STATUSES),
                timeout,
            )
            if self.view["status"] != "ready":
                outcome.error = f"load: cart {self.view['status']}"
                return outcome
            outcome.load_ms = (time.perf_counter() - started) * 1000
            outcome.lines = self.page.lines(self.view)
            key = self.page.key(self.view)
            if key is None:
                outcome.error = "load: no selected line"
                return outcome
            step = "increase"
            for _ in range(presses):
                expected = (self.page.quantity(self.view, key) or 0) + 1
                started = time.perf_counter()
                await self._sio.emit(
                    "event",
                    {
                        "name": self.page.increase,
                        "payload": {"key": key},
                        "router_data": self.router_data,
                    },
                    namespace=EVENT_PATH,
                )
                received = await self._until(
                    lambda expected=expected: self.page.quantity(self.view, key) == expected,
                    timeout,
                )
                outcome.press_ms.append((time.perf_counter() - started) * 1000)
                outcome.press_bytes.append(received)
        except Exception as error:  # every failure counts, whatever raised it
            outcome.error = f"{step}: {type(error).__name__}"
        return outcome

    async def _until(self, done: Callable[[], bool], timeout: float) -> int:
        """Apply updates to the page's view until `done`; the bytes of state they carried."""
        received = 0
        deadline = time.perf_counter() + timeout
        while not done():
            remaining = deadline - time.perf_counter()
            update = await asyncio.wait_for(self._updates.get(), timeout=max(remaining, 0.001))
            if "dropped" in update:
                raise ConnectionError(f"disconnected ({update['dropped']})")
            delta = update.get("delta") or {}
            received += len(json.dumps(delta, separators=(",", ":"), ensure_ascii=False).encode())
            for name, value in (delta.get(self.page.state) or {}).items():
                self.view[name.removesuffix(VAR_SUFFIX)] = value
            root = delta.get(ROOT_STATE) or {}
            self.hydrated = bool(root.get(f"is_hydrated{VAR_SUFFIX}", self.hydrated))
        return received

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # a connection that failed has nothing to close
            await self._sio.disconnect()
