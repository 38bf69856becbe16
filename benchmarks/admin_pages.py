#!/usr/bin/env python
"""Benchmark: each dashboard page loaded to its data shown, beside the cart page, in one run.

What is measured: the production build (`reflex run --env prod`, one port), started as the
browser tests start it, on a demo store of 20,000 customers (`build_demo_store`; about 140,000
orders, more than the 100,000 the goal names). Playwright drives Debian's Chromium at the
desktop viewport (1280x800) unless `--viewport phone`. The admin is signed in by a session
cookie made beforehand, so sign-in is not timed.

For K rounds, every page is loaded once per round in a fresh browser context (no cache), in an
order that rotates each round; the time runs from the start of `page.goto` until the page's
data is on screen, checked in the page on every animation frame:

- cart: the 'due' sample's cart until its Check Out button is enabled (desktop) or a selected
  item and the header's "Cart, N" count show (phone), as `page_load.py` measures it;
- each admin page: until its content, marked `data-testid="admin-<page>"`, is in the page —
  each page renders it only once its loader has filled in the figures, rows or charts.

Analytics is opened on a 12-month range (`?range=12m`). Median and p95 per page and each page's
median over the cart page's are printed. Goal: every admin page ≤ 1.5× the cart page. This
script prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright
from report import print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for tests.e2e

from page_load import CART_READY_DESKTOP, CART_READY_PHONE  # noqa: E402
from sqlmodel import Session  # noqa: E402

from services.auth import admins as auth  # noqa: E402
from services.core.clock import utcnow
from services.core.db import get_engine  # noqa: E402
from services.engine import percentile  # noqa: E402
from tests.e2e.app_process import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_FLAGS,
    VIEWPORTS,
    RunningApp,
    serve_demo_app,
)

GOAL_RATIO = 1.5
CUSTOMERS = 20_000
SESSION_COOKIE = "repeatcart_admin"

# page name -> (path, the marker each page renders once its data is shown)
ADMIN_PAGES: dict[str, tuple[str, str]] = {
    "overview": ("/admin", "admin-home"),
    "analytics 12 mo": ("/admin/analytics?range=12m", "admin-analytics"),
    "customers": ("/admin/customers", "admin-customers"),
    "products": ("/admin/products", "admin-products"),
    "insights": ("/admin/insights", "admin-insights"),
    "cart settings": ("/admin/cart", "admin-cart"),
    "integrations": ("/admin/integrations", "admin-integrations"),
    "sync": ("/admin/sync", "admin-sync"),
    "store": ("/admin/store", "admin-store"),
}


def _marker(testid: str) -> str:
    return f"""() => document.querySelector('[data-testid="{testid}"]') !== null"""


def _admin_cookie(app: RunningApp) -> str:
    with Session(get_engine(app.database_url)) as session:
        token = auth.sign_in(
            session,
            app.demo.admin_email,
            app.demo.admin_password,
            utcnow(),
            session_length=timedelta(hours=6),
        )
        session.commit()
    return token


def load_once(
    browser: Browser,
    url: str,
    ready: str,
    viewport: str,
    timeout_ms: int,
    cookie: dict[str, str] | None,
) -> float:
    """Milliseconds from the start of page.goto until `ready` holds, in a fresh context."""
    phone = viewport == "phone"
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    try:
        if cookie is not None:
            context.add_cookies([cookie])  # type: ignore[list-item]
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
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--customers", type=int, default=CUSTOMERS, help="demo store size")
    parser.add_argument(
        "--viewport", choices=sorted(VIEWPORTS), default="desktop", help="default desktop"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one load may take")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium not found at {CHROMIUM}: run scripts/test.sh")
    timeout_ms = int(args.timeout * 1000)
    cart_ready = CART_READY_PHONE if args.viewport == "phone" else CART_READY_DESKTOP

    with tempfile.TemporaryDirectory(prefix="repeatcart-adminbench-") as tmp:
        print(f"Building a demo store of {args.customers:,} customers ...", flush=True)
        started = time.monotonic()
        with serve_demo_app(Path(tmp), customers=args.customers) as app, sync_playwright() as pw:
            print(f"App up after {time.monotonic() - started:.0f} s.", flush=True)
            cookie = {"name": SESSION_COOKIE, "value": _admin_cookie(app), "url": app.base_url}
            pages: dict[str, tuple[str, str, dict[str, str] | None]] = {
                "cart": (app.cart("due"), cart_ready, None)
            }
            for name, (path, testid) in ADMIN_PAGES.items():
                pages[name] = (f"{app.base_url}{path}", _marker(testid), cookie)
            names = list(pages)
            samples: dict[str, list[float]] = {name: [] for name in names}
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                for round_index in range(args.warmup + args.runs):
                    shift = round_index % len(names)
                    for name in names[shift:] + names[:shift]:
                        url, ready, page_cookie = pages[name]
                        ms = load_once(browser, url, ready, args.viewport, timeout_ms, page_cookie)
                        if round_index >= args.warmup:
                            samples[name].append(ms)
            finally:
                browser.close()

    cart_median = statistics.median(samples["cart"])
    size = VIEWPORTS[args.viewport]
    print()
    print(
        f"Page load to data shown, Chromium {args.viewport} {size['width']}x{size['height']}, "
        f"{args.customers:,} customers, {args.runs} rounds after {args.warmup} warm-up, "
        "rotating order, fresh context per load"
    )
    rows = []
    for name, values in samples.items():
        ratio = statistics.median(values) / cart_median
        verdict = "" if name == "cart" else ("ok" if ratio <= GOAL_RATIO else "OVER")
        rows.append(
            [
                name,
                f"{statistics.median(values):.0f}",
                f"{percentile(values, 95):.0f}",
                f"{ratio:.2f}",
                verdict,
            ]
        )
    print_table(["page", "median ms", "p95 ms", "× cart", f"≤ {GOAL_RATIO}×"], rows)


if __name__ == "__main__":
    main()
