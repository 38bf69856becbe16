#!/usr/bin/env python
"""Benchmark: many shoppers on their carts at once, against a blank Reflex app of the same shape.

Why: a reminder campaign sends thousands of cart links in the same minute, and every open cart is
a websocket to one Reflex backend. This measures what the cart page costs per shopper on top of
what Reflex itself costs, by running the same load against both in the same run.

What runs: two production builds (`reflex run --env prod`, one port each), started side by side:
- cart: this app on a generated demo store (SQLite, `services.demo.build_demo_store`, enough
  customers for a distinct cart per shopper), as `tests/e2e/app_process.py` serves it, without
  the embedded worker (production runs `repeatcart worker` apart);
- blank: `benchmarks/blank_app/`, a counter state on the same route `/cart/[token]` with an
  on_load and an `increase(key)` handler, and no database.

Each shopper is its own Socket.IO client (`python-socketio`'s AsyncClient, which needs `aiohttp`
from the test extras) with its own client token, speaking Reflex's event protocol as the compiled
page does (see `tests/e2e/raw_events.py`): it connects with the hydrate event in the connect
packet (the state hashes and schema read from the app's built `.web`), waits until the page state
says `status: "ready"` and the root state `is_hydrated` (its on_load ran), then presses Increase
quantity `--presses` times on its first selected line, each time waiting for the new quantity
before the next press (the client is `shoppers.py`). A level starts all its shoppers at once,
each on a distinct cart with a selected line; they stay connected until the level ends.

Figures, per level and app:
- cart load: from starting the connection until the ready state arrives;
- quantity round trip: from sending the event until the new quantity arrives;
- events/s: loads and presses completed per second of the level's wall time;
- errors: shoppers that failed (connection refused or dropped, a timeout, an expired cart);
- delta bytes: the state sent per round trip, as compact JSON of the updates' `delta`;
- server RSS: the app's whole process group, before the shoppers connect, after they are done
  (still connected), and `--settle` seconds after they disconnect.
Then the ratios cart/blank that the targets name, and whether each target is met. The client runs
on the same machine as both servers, so its own work is part of every figure, for both apps.

Run from the project root with the project's tools on PATH (as `scripts/env.sh` sets them):

    python benchmarks/load.py                     # 50, 200 and 1,000 shoppers
    python benchmarks/load.py --shoppers 20       # a quick check

Starting an app rebuilds its `.web` with the port baked in: never run this from a checkout whose
app is serving browser tests at the same time. 1,000 shoppers need over 1,000 open files in this
process (`ulimit -n`). `--state-expiry` shortens how long Reflex keeps a gone shopper's state, to
see whether memory falls back once it is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from report import print_table

BENCHMARKS = Path(__file__).resolve().parent
BLANK_APP = BENCHMARKS / "blank_app"
sys.path.insert(0, str(BENCHMARKS.parent))  # the project root, for tests.e2e
sys.path.insert(0, str(BLANK_APP))  # the blank app's state, to name its handlers

from blank_app.state import CounterState  # noqa: E402
from shoppers import (  # noqa: E402
    Outcome,
    Page,
    Server,
    Shopper,
    group_cpu_s,
    group_rss_mb,
    serve,
)
from sqlmodel import Session, col, select  # noqa: E402

from repeatcart_app.state.cart import CartState  # noqa: E402
from services.cart.page import load_cart_for_link  # noqa: E402
from services.core.clock import utcnow  # noqa: E402
from services.core.db import get_engine, migrate  # noqa: E402
from services.core.tables import CartLink  # noqa: E402
from services.demo import build_demo_store  # noqa: E402
from services.engine import percentile  # noqa: E402
from tests.e2e.app_process import app_env  # noqa: E402
from tests.e2e.raw_events import handler_name  # noqa: E402

DEFAULT_LEVELS = (50, 200, 1000)
TARGET_LEVEL = 200
MEMORY_LEVEL = 1000
TARGET_QUANTITY_P95 = 1.5
TARGET_LOAD_P95 = 1.2
TARGET_SINGLE_LOAD = 3.0
TARGET_RSS_MB = 200
TARGET_DELTA_BYTES = 2048  # one quantity change of a 10-line cart (issue 13, part 3)

# How a shopper reads each app's page: the cart's first selected line, the blank's one counter.
CART_PAGE = Page(
    state=CartState.get_full_name(),
    increase=handler_name(CartState, "increase"),
    key=lambda view: next(iter(view.get("quantities") or {}), None),
    quantity=lambda view, key: (view.get("quantities") or {}).get(key),
    lines=lambda view: sum(
        len(view.get(section) or []) for section in ("due_lines", "previous_lines", "ymal_lines")
    ),
)
BLANK_PAGE = Page(
    state=CounterState.get_full_name(),
    increase=handler_name(CounterState, "increase"),
    key=lambda view: "sku",
    quantity=lambda view, key: view.get("count"),
    lines=lambda view: 1,
)


def demo_carts(database_url: str, wanted: int) -> list[str]:
    """Tokens of `wanted` demo carts that open with a selected line (Increase has a target)."""
    migrate(database_url)
    now = utcnow()
    customers = max(200, math.ceil(wanted * 2.5))  # about half the demo carts pre-select a line
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        build_demo_store(session, seed=11, customers=customers, now=now)
        session.commit()
    tokens: list[str] = []
    with Session(get_engine(database_url)) as session:
        links = session.exec(select(CartLink).where(col(CartLink.revoked_at).is_(None)))
        for link in links:
            view = load_cart_for_link(session, link, now)
            composition = view.composition if view else None
            if composition and any(
                item.selected
                for item in (*composition.due, *composition.previous, *composition.ymal)
            ):
                tokens.append(link.token)
                if len(tokens) == wanted:
                    return tokens
    raise RuntimeError(f"the demo store has only {len(tokens)} carts with a selection")


# --- levels ---------------------------------------------------------------------------------


@dataclass
class Level:
    """One app under N simultaneous shoppers."""

    app: str
    shoppers: int
    outcomes: list[Outcome]
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    rss_before: float
    rss_after: float
    rss_gone: float

    @property
    def loads(self) -> list[float]:
        return _loads(self.outcomes)

    @property
    def connects(self) -> list[float]:
        return [o.connect_ms for o in self.outcomes if o.connect_ms is not None]

    @property
    def presses(self) -> list[float]:
        return _presses(self.outcomes)

    @property
    def press_bytes(self) -> list[int]:
        return [b for o in self.outcomes for b in o.press_bytes]

    @property
    def errors(self) -> Counter[str]:
        return Counter(o.error for o in self.outcomes if o.error)

    @property
    def events_per_s(self) -> float:
        return (len(self.loads) + len(self.presses)) / self.wall_s


async def run_level(
    server: Server, carts: list[str], presses: int, timeout: float, settle: float
) -> Level:
    rss_before = group_rss_mb(server.pgid)
    shoppers = [Shopper(server, token) for token in carts]
    server_cpu, client_cpu = group_cpu_s(server.pgid), time.process_time()
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(s.visit(presses, timeout) for s in shoppers))
    wall = time.perf_counter() - started
    server_cpu = group_cpu_s(server.pgid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    rss_after = group_rss_mb(server.pgid)
    await asyncio.gather(*(s.close() for s in shoppers))
    await asyncio.sleep(settle)
    rss_gone = group_rss_mb(server.pgid)
    return Level(
        server.name,
        len(carts),
        outcomes,
        wall,
        server_cpu,
        client_cpu,
        rss_before,
        rss_after,
        rss_gone,
    )


async def one_at_a_time(
    server: Server, carts: list[str], presses: int, timeout: float
) -> list[Outcome]:
    outcomes = []
    for token in carts:
        shopper = Shopper(server, token)
        outcomes.append(await shopper.visit(presses, timeout))
        await shopper.close()
    return outcomes


# --- report ---------------------------------------------------------------------------------


def _loads(outcomes: list[Outcome]) -> list[float]:
    return [o.load_ms for o in outcomes if o.load_ms is not None]


def _presses(outcomes: list[Outcome]) -> list[float]:
    return [ms for o in outcomes for ms in o.press_ms]


def _fmt(values: list[float], pct: float | None = None) -> str:
    """A percentile (`pct`) or the maximum (None) of `values`, rounded; '-' for none."""
    if not values:
        return "-"
    return f"{max(values) if pct is None else percentile(values, pct):.0f}"


def _ratio(cart: list[float], blank: list[float], pct: float) -> float | None:
    if not cart or not blank:
        return None
    return percentile(cart, pct) / percentile(blank, pct)


def _print_single(single: dict[str, list[Outcome]]) -> None:
    print()
    print(f"One shopper at a time ({len(single['cart'])} visits each, alternating apps), ms:")
    rows = []
    for app, outcomes in single.items():
        loads, presses = _loads(outcomes), _presses(outcomes)
        rows.append(
            [app, _fmt(loads, 50), _fmt(loads), _fmt(presses, 50), _fmt(presses)]
            + [str(sum(1 for o in outcomes if o.error))]
        )
    print_table(["app", "load p50", "max", "quantity p50", "max", "errors"], rows)


def _print_levels(levels: list[Level], presses: int) -> None:
    print()
    print(f"All shoppers at once: connect + hydrate + load, then {presses} x Increase, ms:")
    print(
        "(connect: until the Socket.IO connection is up, part of load; wall, server CPU and"
        " client CPU: seconds the level took and the CPU each side used in them)"
    )
    print_table(
        ["shoppers", "app", "load p50", "p95", "max", "quantity p50", "p95", "max", "events/s"]
        + ["errors", "connect p95", "wall s", "server CPU s", "client CPU s"],
        [
            [
                str(level.shoppers),
                level.app,
                _fmt(level.loads, 50),
                _fmt(level.loads, 95),
                _fmt(level.loads),
                _fmt(level.presses, 50),
                _fmt(level.presses, 95),
                _fmt(level.presses),
                f"{level.events_per_s:.0f}",
                str(sum(level.errors.values())),
                _fmt(level.connects, 95),
                f"{level.wall_s:.1f}",
                f"{level.server_cpu_s:.1f}",
                f"{level.client_cpu_s:.1f}",
            ]
            for level in levels
        ],
    )
    for level in levels:
        for error, count in level.errors.most_common():
            print(f"  {level.shoppers} on {level.app}: {count} x {error}")

    print()
    print("State sent per round trip (compact JSON of the deltas, bytes) and server RSS (MB):")
    print_table(
        ["shoppers", "app", "load B p50", "quantity B p50", "max", "RSS before", "after"]
        + ["growth", "disconnected"],
        [
            [
                str(level.shoppers),
                level.app,
                _fmt([float(o.load_bytes) for o in level.outcomes if o.load_ms is not None], 50),
                _fmt([float(b) for b in level.press_bytes], 50),
                _fmt([float(b) for b in level.press_bytes]),
                f"{level.rss_before:.0f}",
                f"{level.rss_after:.0f}",
                f"{level.rss_after - level.rss_before:+.0f}",
                f"{level.rss_gone:.0f}",
            ]
            for level in levels
        ],
    )


def _print_ratios(pairs: dict[int, tuple[Level, Level]]) -> None:
    print()
    print("cart/blank:")
    rows = []
    for shoppers, (cart, blank) in sorted(pairs.items()):
        ratios = [
            _ratio(cart.loads, blank.loads, 95),
            _ratio(cart.presses, blank.presses, 95),
            _ratio(cart.presses, blank.presses, 50),
        ]
        rows.append([str(shoppers), *("-" if r is None else f"{r:.2f}" for r in ratios)])
    print_table(["shoppers", "load p95", "quantity p95", "quantity p50"], rows)


def _targets(
    pairs: dict[int, tuple[Level, Level]], single: dict[str, list[Outcome]]
) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, met?) for each target of issue 13; None: not run."""
    checks: list[tuple[str, str, bool | None]] = []

    def ratio_check(name: str, ratio: float | None, limit: float) -> None:
        measured = "-" if ratio is None else f"{ratio:.2f}x"
        checks.append(
            (f"{name} <= {limit}x blank", measured, None if ratio is None else ratio <= limit)
        )

    at_target = pairs.get(TARGET_LEVEL)
    ratio_check(
        f"quantity p95 at {TARGET_LEVEL}",
        _ratio(at_target[0].presses, at_target[1].presses, 95) if at_target else None,
        TARGET_QUANTITY_P95,
    )
    ratio_check(
        f"cart load p95 at {TARGET_LEVEL}",
        _ratio(at_target[0].loads, at_target[1].loads, 95) if at_target else None,
        TARGET_LOAD_P95,
    )
    ratio_check(
        "one shopper's cart load (median)",
        _ratio(_loads(single["cart"]), _loads(single["blank"]), 50),
        TARGET_SINGLE_LOAD,
    )
    for shoppers in (TARGET_LEVEL, MEMORY_LEVEL):
        cart = pairs[shoppers][0] if shoppers in pairs else None
        errors = sum(cart.errors.values()) if cart else None
        checks.append(
            (
                f"0 errors at {shoppers}",
                "-" if errors is None else str(errors),
                None if errors is None else errors == 0,
            )
        )
    memory = pairs[MEMORY_LEVEL][0] if MEMORY_LEVEL in pairs else None
    if memory is None:
        checks.append((f"RSS growth at {MEMORY_LEVEL} <= {TARGET_RSS_MB} MB", "-", None))
        checks.append(("  ... falls back after disconnect", "-", None))
    else:
        growth = memory.rss_after - memory.rss_before
        left = memory.rss_gone - memory.rss_before
        checks.append(
            (
                f"RSS growth at {MEMORY_LEVEL} <= {TARGET_RSS_MB} MB",
                f"{growth:+.0f} MB",
                growth <= TARGET_RSS_MB,
            )
        )
        checks.append(
            (
                "  ... falls back after disconnect (at most half, or 20 MB, left)",
                f"{left:+.0f} MB left",
                left <= max(growth / 2, 20),
            )
        )
    ten_lines = [
        size
        for outcomes in [single["cart"], *(cart.outcomes for cart, _ in pairs.values())]
        for o in outcomes
        if o.lines >= 10
        for size in o.press_bytes
    ]
    checks.append(
        (
            f"quantity delta of a 10-line cart <= {TARGET_DELTA_BYTES} B",
            f"max {max(ten_lines)} B" if ten_lines else "no 10-line cart",
            max(ten_lines) <= TARGET_DELTA_BYTES if ten_lines else None,
        )
    )
    return checks


def report(levels: list[Level], single: dict[str, list[Outcome]], presses: int) -> None:
    _print_single(single)
    _print_levels(levels, presses)
    by_app = {(level.shoppers, level.app): level for level in levels}
    pairs = {
        shoppers: (by_app[(shoppers, "cart")], by_app[(shoppers, "blank")])
        for shoppers, app in by_app
        if app == "cart" and (shoppers, "blank") in by_app
    }
    _print_ratios(pairs)
    print()
    print("Targets (issue 13; verdicts from this run):")
    verdicts = {None: "not run", True: "met", False: "NOT met"}
    print_table(
        ["target", "measured", "verdict"],
        [[name, measured, verdicts[ok]] for name, measured, ok in _targets(pairs, single)],
    )
    lines = [o.lines for cart, _ in pairs.values() for o in cart.outcomes if o.lines]
    if lines:
        print(f"(lines per cart opened: median {statistics.median(lines):.0f}, max {max(lines)})")


# --- main -----------------------------------------------------------------------------------


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of counts") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("counts >= 1")
    return levels


async def measure(servers: dict[str, Server], carts: list[str], args: argparse.Namespace) -> None:
    warm = carts[: args.warmup]
    for server in servers.values():
        await one_at_a_time(server, warm, args.presses, args.timeout)

    single: dict[str, list[Outcome]] = {"cart": [], "blank": []}
    for index in range(args.single):
        order = ("cart", "blank") if index % 2 == 0 else ("blank", "cart")
        for app in order:
            token = carts[index % len(carts)]
            single[app] += await one_at_a_time(servers[app], [token], args.presses, args.timeout)

    levels: list[Level] = []
    for index, shoppers in enumerate(args.shoppers):
        order = ("cart", "blank") if index % 2 == 0 else ("blank", "cart")
        for app in order:
            print(f"{shoppers} shoppers on {app} ...", flush=True)
            level = await run_level(
                servers[app], carts[:shoppers], args.presses, args.timeout, args.settle
            )
            levels.append(level)
            print(
                f"  done in {level.wall_s:.1f} s, {sum(level.errors.values())} errors",
                flush=True,
            )
            await asyncio.sleep(args.pause)
    report(levels, single, args.presses)
    print("Load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shoppers",
        type=_levels,
        default=list(DEFAULT_LEVELS),
        help="simultaneous shoppers per level, comma-separated (default 50,200,1000)",
    )
    parser.add_argument("--presses", type=int, default=5, help="Increase presses each (default 5)")
    parser.add_argument(
        "--single", type=int, default=20, help="one-at-a-time visits per app (default 20)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed visits per app first")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds one step may take (default 120)"
    )
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds after disconnect before RSS (10)"
    )
    parser.add_argument(
        "--state-expiry",
        type=int,
        help="seconds Reflex keeps a disconnected shopper's state, for both apps (an experiment;"
        " default: each app's own config, Reflex's default is an hour)",
    )
    parser.add_argument(
        "--pause", type=float, default=3.0, help="seconds of quiet between runs (default 3)"
    )
    args = parser.parse_args(argv)
    if args.presses < 1 or args.single < 1 or args.warmup < 0:
        parser.error("--presses >= 1, --single >= 1 and --warmup >= 0")

    with tempfile.TemporaryDirectory(prefix="repeatcart-load-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'app.db'}"
        wanted = max(*args.shoppers, args.single, args.warmup)
        extra = {}
        if args.state_expiry is not None:
            extra["REFLEX_REDIS_TOKEN_EXPIRATION"] = str(args.state_expiry)
        print(f"Building a demo store with {wanted} carts to open ...", flush=True)
        carts = demo_carts(database_url, wanted)
        print("Starting both production builds ...", flush=True)
        started = time.monotonic()
        servers = {
            "cart": stack.enter_context(
                serve(
                    "cart",
                    BENCHMARKS.parent,
                    CART_PAGE,
                    lambda base_url: app_env(database_url, base_url, extra),
                    f"/cart/{carts[0]}",
                    workdir / "cart.log",
                )
            ),
            "blank": stack.enter_context(
                serve(
                    "blank",
                    BLANK_APP,
                    BLANK_PAGE,
                    lambda base_url: app_env(database_url, base_url, extra),
                    "/cart/probe",
                    workdir / "blank.log",
                )
            ),
        }
        print(f"Both up after {time.monotonic() - started:.0f} s.", flush=True)
        print(f"{os.cpu_count()} CPUs; the client shares them with both servers.")
        print("Load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
        try:
            asyncio.run(measure(servers, carts, args))
        except BaseException:
            for name in servers:
                log = workdir / f"{name}.log"
                print(f"--- last lines of the {name} log ---\n{log.read_text()[-3000:]}")
            raise


if __name__ == "__main__":
    main()
