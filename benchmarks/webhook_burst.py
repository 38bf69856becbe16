#!/usr/bin/env python
"""Benchmark: a burst of signed webhooks against the running production app.

What is measured: the production build (`reflex run --env prod`, one port) on a demo store
(`services.demo.build_demo_store`, 200 customers), started exactly as `tests/e2e/conftest.py`
does. N signed `orders/create` webhooks (default 500), each a new order by one of the demo's
customers for one of its variants, are posted all at once (one `httpx.AsyncClient`, one
connection each). Printed: the answer time of each POST (from its send to its answer: median,
p95, max), and the time from the first send until every event is processed (polled in the
app's database). Shopify wants each answer within 5 s; the goal here is p95 <= 1 s, with every
event processed.

Baseline, in the same run: as many `GET /health` (the app's cheapest route, one database round
trip) sent at once by the same client. It is what the machine, the server and the client need
for a burst of that size whatever the route does; the webhook/health ratio of the p95s is what
the webhook route adds. This script prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path

import httpx
from report import print_table
from sqlalchemy import func
from sqlmodel import Session, col, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root, for tests.e2e

from repeatcart_app.routes import HEALTH, SHOPIFY_WEBHOOKS  # noqa: E402
from services.core.clock import utcnow
from services.core.db import get_engine  # noqa: E402
from services.core.tables import Customer, Product, Variant, WebhookEvent
from services.engine import percentile  # noqa: E402
from services.shopify.webhook_protocol import sign  # noqa: E402
from tests.e2e.app_process import WEBHOOK_SECRET, RunningApp, serve_demo_app  # noqa: E402

GOAL_P95_MS = 1000.0
WARMUP = 5
Answer = tuple[int, float]
"""(HTTP status, or 0 for no answer; milliseconds from send to answer)"""


def order_bodies(database_url: str, count: int, seed: int) -> list[bytes]:
    """`count` REST order payloads of the demo's customers and variants, as the bytes to sign."""
    rng = random.Random(seed)
    with Session(get_engine(database_url)) as session:
        customers = session.exec(
            select(Customer.shopify_gid, Customer.email).where(col(Customer.email).is_not(None))
        ).all()
        variants = session.exec(
            select(Variant.shopify_id, Product.shopify_id, Product.title, Variant.price_cents)
            .join(Product, col(Product.id) == Variant.product_id)
            .where(Product.status == "active")
        ).all()
    start = utcnow() - timedelta(hours=1)
    bodies = []
    for number in range(count):
        gid, email = rng.choice(customers)
        variant_id, product_id, title, price = rng.choice(variants)
        order_id = 7_000_000_000 + number
        placed = (start + timedelta(seconds=number)).isoformat()
        quantity = rng.randint(1, 3)
        unit = (price or 1000) / 100
        payload = {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#B{number + 1}",
            "email": email,
            "created_at": placed,
            "processed_at": placed,
            "updated_at": placed,
            "cancelled_at": None,
            "financial_status": "paid",
            "test": False,
            "total_price": f"{unit * quantity:.2f}",
            "currency": "USD",
            "customer": {"id": int(str(gid).rsplit("/", 1)[1]), "email": email},
            "line_items": [
                {
                    "variant_id": variant_id,
                    "product_id": product_id,
                    "quantity": quantity,
                    "price": f"{unit:.2f}",
                    "title": title,
                    "sku": None,
                }
            ],
            "note_attributes": [],
        }
        bodies.append(json.dumps(payload).encode())
    return bodies


def _client(base_url: str, connections: int, timeout: float) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits)


async def _timed(send: Awaitable[httpx.Response]) -> Answer:
    started = time.perf_counter()
    try:
        status = (await send).status_code
    except httpx.HTTPError:
        status = 0
    return status, (time.perf_counter() - started) * 1000


async def post_all(base_url: str, shop: str, bodies: list[bytes], timeout: float) -> list[Answer]:
    """POST every body at once, signed as Shopify signs it."""

    def headers(body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Hmac-Sha256": sign(WEBHOOK_SECRET, body),
        }

    async with _client(base_url, len(bodies), timeout) as client:
        sends = [client.post(SHOPIFY_WEBHOOKS, content=b, headers=headers(b)) for b in bodies]
        return list(await asyncio.gather(*(_timed(send) for send in sends)))


async def get_all(base_url: str, count: int, timeout: float) -> list[Answer]:
    """GET the health route `count` times at once."""
    async with _client(base_url, count, timeout) as client:
        return list(await asyncio.gather(*(_timed(client.get(HEALTH)) for _ in range(count))))


def processed(database_url: str) -> tuple[int, int]:
    """(events no longer waiting, events failed) in the app's queue."""
    with Session(get_engine(database_url)) as session:
        rows = session.exec(
            select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
        ).all()
    by_status = dict(rows)
    waiting = by_status.get("pending", 0) + by_status.get("processing", 0)
    return sum(by_status.values()) - waiting, by_status.get("failed", 0)


def wait_until_processed(database_url: str, count: int, deadline: float) -> tuple[int, int]:
    """Until `count` events are processed or the monotonic `deadline`; (processed, failed)."""
    done, failed = processed(database_url)
    while done < count and time.monotonic() < deadline:
        time.sleep(0.05)
        done, failed = processed(database_url)
    return done, failed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--webhooks", type=int, default=500, help="requests per burst (500)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds one request may take (default 30)"
    )
    parser.add_argument(
        "--process-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for every event to be processed (default 300)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.webhooks < 1:
        parser.error("--webhooks >= 1")

    with tempfile.TemporaryDirectory(prefix="repeatcart-webhook-burst-") as tmp:
        print("Starting the production build ...", flush=True)
        began = time.monotonic()
        with serve_demo_app(Path(tmp)) as app:
            print(f"App up on {app.base_url} after {time.monotonic() - began:.0f} s.", flush=True)
            try:
                run(app, args)
            except Exception:
                print(f"--- last lines of the app log ---\n{app.log.read_text()[-3000:]}")
                raise


def run(app: RunningApp, args: argparse.Namespace) -> None:
    shop, url = app.demo.shop_domain, app.database_url
    bodies = order_bodies(url, args.webhooks + WARMUP, args.seed)
    asyncio.run(post_all(app.base_url, shop, bodies[:WARMUP], args.timeout))
    before, _ = wait_until_processed(url, WARMUP, time.monotonic() + args.process_timeout)
    asyncio.run(get_all(app.base_url, WARMUP, args.timeout))

    started = time.monotonic()
    health = asyncio.run(get_all(app.base_url, args.webhooks, args.timeout))
    health_s = time.monotonic() - started

    started = time.monotonic()
    answers = asyncio.run(post_all(app.base_url, shop, bodies[WARMUP:], args.timeout))
    answered_s = time.monotonic() - started
    expected = before + sum(1 for status, _ms in answers if status == 200)
    done, failed = wait_until_processed(url, expected, started + args.process_timeout)
    processed_s = time.monotonic() - started

    print()
    print(
        f"Bursts of {args.webhooks} requests sent at once to the production app (demo store, "
        f"SQLite, embedded worker), after {WARMUP} warm-up requests"
    )
    print("  answer = from a request's send until its answer; processed = until none is queued")
    print_table(
        ["burst", "answers", "median ms", "p95 ms", "max ms", "all answered s", "processed s"],
        [
            _row("GET /health", health, health_s, "-"),
            _row(
                "POST orders/create",
                answers,
                answered_s,
                f"{processed_s:.1f}" if done >= expected else f">{args.process_timeout:.0f}",
            ),
        ],
    )
    p95 = percentile([ms for _status, ms in answers], 95)
    floor = percentile([ms for _status, ms in health], 95)
    print(f"webhook/health p95: {p95 / floor:.2f}")
    print(f"events processed: {done - before} of {expected - before}, failed: {failed}")
    verdict = "met" if p95 <= GOAL_P95_MS and done >= expected else "NOT met"
    print(f"goal p95 answer <= {GOAL_P95_MS:.0f} ms and every event processed: {verdict}")


def _row(name: str, answers: list[Answer], seconds: float, processed_s: str) -> list[str]:
    times = [ms for _status, ms in answers]
    statuses = Counter(status for status, _ms in answers)
    return [
        name,
        " ".join(f"{code or 'none'}:{n}" for code, n in sorted(statuses.items())),
        f"{statistics.median(times):.0f}",
        f"{percentile(times, 95):.0f}",
        f"{max(times):.0f}",
        f"{seconds:.1f}",
        processed_s,
    ]


if __name__ == "__main__":
    main()
