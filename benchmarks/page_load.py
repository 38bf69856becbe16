#!/usr/bin/env python
"""Benchmark: the cart page to interactive in Chromium, against a near-blank page of the same app.

What is measured: the production build (`reflex run --env prod`, one port) on a demo store
(`services.demo.build_demo_store`, 200 customers), started exactly as `tests/e2e/conftest.py`
does, driven by Playwright in Debian's Chromium. For K runs of each page (alternating, each in a
fresh browser context, so no cache, cookie or storage is reused), the time from the start of
`page.goto` until the page is usable:

- cart: `/cart/<token>` of the 'due' sample. At the phone viewport (390x844, the default) the
  Check Out button lives in the closed drawer, so "usable" is: a `[data-testid="cart-item"]`
  with `data-selected="true"` is visible AND the header button whose aria-label starts with
  "Cart, " announces a count > 0. With `--viewport desktop` it is: the visible Check Out button
  is enabled.
- blank: `/`, the app's near-blank home page, until `[data-testid="home-ready"]` is in the page
  (the home page renders that marker once its on_load event has run, i.e. after the websocket
  connected and the state hydrated; the marker is an empty box with no size, so it is waited
  for as attached, not as visible).

Both conditions are checked in the page on every animation frame (`wait_for_function`, polling
"raf"), so the figure carries no Playwright polling interval. Median and p95 of each page and
the ratio cart/blank of the medians are printed. Goal: cart/blank <= 1.3. This script prints
figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright
from report import print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for tests.e2e

from services.engine import percentile  # noqa: E402
from tests.e2e.app_process import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_FLAGS,
    VIEWPORTS,
    serve_demo_app,
)

GOAL_RATIO = 1.3

# Evaluated in the page on every animation frame; truthy means "interactive".
_VISIBLE = """(el) => !!el && el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden'"""
CART_READY_PHONE = f"""() => {{
    const visible = {_VISIBLE};
    const item = document.querySelector('[data-testid="cart-item"][data-selected="true"]');
    if (!visible(item)) return false;
    return [...document.querySelectorAll('button[aria-label^="Cart, "]')].some((button) => {{
        const match = button.getAttribute('aria-label').match(/(\\d+)/);
        return match !== null && Number(match[1]) > 0;
    }});
}}"""
CART_READY_DESKTOP = f"""() => {{
    const visible = {_VISIBLE};
    return [...document.querySelectorAll('button')].some((button) =>
        button.textContent.trim() === 'Check Out' && visible(button) && !button.disabled);
}}"""
BLANK_READY = """() => document.querySelector('[data-testid="home-ready"]') !== null"""


@contextmanager
def running_app(workdir: Path) -> Iterator[tuple[str, str]]:
    """The app as the browser tests serve it; yields (base URL, 'due' cart URL)."""
    print("Starting the production build ...", flush=True)
    started = time.monotonic()
    with serve_demo_app(workdir) as app:
        print(f"App up on {app.base_url} after {time.monotonic() - started:.0f} s.", flush=True)
        try:
            yield app.base_url, app.cart("due")
        except Exception:
            print(
                f"--- last lines of the app log ---\n{app.log.read_text()[-3000:]}", file=sys.stderr
            )
            raise


# --- measuring --------------------------------------------------------------------------------


def load_once(browser: Browser, url: str, ready: str, viewport: str, timeout_ms: int) -> float:
    """Milliseconds from the start of page.goto until `ready` holds, in a fresh context."""
    phone = viewport == "phone"
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    try:
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout_ms)
        page.wait_for_function(ready, polling="raf", timeout=timeout_ms)
        return (time.perf_counter() - start) * 1000
    finally:
        context.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="timed loads per page (default 15)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed loads per page first (default 2)"
    )
    parser.add_argument(
        "--viewport",
        choices=sorted(VIEWPORTS),
        default="phone",
        help="phone = 390x844 (default), desktop = 1280x800",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds one load may take (default 30)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs >= 1 and --warmup >= 0")
    if not Path(CHROMIUM).exists():
        raise SystemExit(
            f"Chromium not found at {CHROMIUM}: run scripts/test.sh, which installs it"
        )

    cart_ready = CART_READY_PHONE if args.viewport == "phone" else CART_READY_DESKTOP
    cart_condition = (
        'a selected cart-item visible and the "Cart, N" header button with N > 0'
        if args.viewport == "phone"
        else "Check Out button visible and enabled"
    )
    timeout_ms = int(args.timeout * 1000)
    with (
        tempfile.TemporaryDirectory(prefix="repeatcart-pageload-") as tmp,
        running_app(Path(tmp)) as (base_url, cart_url),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        pages = {"cart": (cart_url, cart_ready), "blank": (f"{base_url}/", BLANK_READY)}
        samples: dict[str, list[float]] = {"cart": [], "blank": []}
        try:
            for index in range(args.warmup + args.runs):
                order = ("cart", "blank") if index % 2 == 0 else ("blank", "cart")
                for name in order:
                    url, ready = pages[name]
                    ms = load_once(browser, url, ready, args.viewport, timeout_ms)
                    if index >= args.warmup:
                        samples[name].append(ms)
        finally:
            browser.close()

    size = VIEWPORTS[args.viewport]
    print()
    print(
        f"Page load to interactive, Chromium {args.viewport} {size['width']}x{size['height']}, "
        f"{args.runs} runs each after {args.warmup} warm-up, alternating, fresh context per run"
    )
    print(f"  cart  = /cart/<due sample> until {cart_condition}")
    print('  blank = / until [data-testid="home-ready"] is in the page (on_load ran)')
    print_table(
        ["page", "median ms", "p95 ms", "min ms", "max ms"],
        [
            [
                name,
                f"{statistics.median(values):.0f}",
                f"{percentile(values, 95):.0f}",
                f"{min(values):.0f}",
                f"{max(values):.0f}",
            ]
            for name, values in samples.items()
        ],
    )
    ratio = statistics.median(samples["cart"]) / statistics.median(samples["blank"])
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(f"cart/blank (medians): {ratio:.2f}   goal ≤ {GOAL_RATIO}: {verdict}")


if __name__ == "__main__":
    main()
