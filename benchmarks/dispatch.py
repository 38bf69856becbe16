#!/usr/bin/env python
"""Benchmark: outbox delivery against rate-limited fakes, and the due scan on SQLite.

Part 1, delivery (`--events`, default 2,000 customers due): the scan queues one Due event per
customer per integration, then one `deliver` pass sends them to fakes that allow 100 requests/s
(sliding one-second window). Per provider alone, and all three at once, with two client-side
limiters: the adapters' own `limiter_for(100)` and a tight bucket (96/s, burst 2) that shows
what the delivery loop itself can reach. Reports the achieved rate as a share of the limit,
429s the fakes answered, duplicates (a key accepted twice) and losses (a key never accepted).

Part 2, the due scan over `--sizes` (default 100k, 250k, 500k, 1M) (customer, product) due
rows, 4 products per customer, last purchases spread over 150 days, 25–60 day intervals, an
About To Lapse point per customer (last order + 2 × a product's late interval), for
Primed For Cross-sell five learned partners per product and the orders of every customer whose
last purchase is under ten days old (so the customers primed today have something to be
offered), and for Primed For Subscription three selling plans on a quarter of the products and,
for half of those recent customers, two earlier orders 30 and 60 days before (a steady run):
- first scan: empty outbox, everyone due within the 7-day lookback gets their rows;
- today's set: the outbox already holds yesterday's scan; the scan writes who became due since
  (the steady-state daily work) and confirms the rest;
- re-scan: 15 minutes later, nothing new (what every worker tick costs).
Cart links exist and are already pushed, so only events are measured. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, insert  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from benchmarks.report import print_table  # noqa: E402
from services.core.config import Settings  # noqa: E402
from services.core.db import forget_engines, get_engine, migrate  # noqa: E402
from services.core.provider_http import RateLimiter  # noqa: E402
from services.core.tables import (  # noqa: E402
    CartLink,
    CrossSellPair,
    Customer,
    DueItem,
    Order,
    OrderLine,
    OutboxMessage,
    Product,
    SellingPlan,
    Shop,
    SyncState,
    Variant,
)
from services.dispatch import deliver, scan_due  # noqa: E402
from services.dispatch.cross_sell import primed_between  # noqa: E402
from services.dispatch.lapse import lapsed_between  # noqa: E402
from services.dispatch.scan import _candidates  # noqa: E402
from services.dispatch.subscription import primed_between as subscription_primed  # noqa: E402
from services.messaging import (  # noqa: E402
    AttentiveClient,
    KlaviyoClient,
    MessagingClient,
    PostscriptClient,
    limiter_for,
)
from tests.fakes.attentive import FakeAttentive  # noqa: E402
from tests.fakes.klaviyo import FakeKlaviyo  # noqa: E402
from tests.fakes.postscript import FakePostscript  # noqa: E402
from tests.fakes.provider import ProviderFake  # noqa: E402

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
LIMIT = 100  # requests per second the fakes allow
PRODUCTS = 40
PLAN_PRODUCTS = 10  # products with selling plans (Primed For Subscription)
PER_CUSTOMER = 4


# --- a synthetic store ----------------------------------------------------------------------


def fresh_database(folder: Path, name: str) -> str:
    forget_engines()
    url = f"sqlite:///{folder / name}"
    migrate(url)
    return url


def build_store(url: str, customers: int, seed: int = 1, *, spread_days: int = 150) -> None:
    """`customers` × 4 due rows, a 40-product catalog, a live cart link per customer (pushed)."""
    rng = random.Random(seed)
    engine = get_engine(url)
    with Session(engine) as session:
        session.add(Shop(shop_domain="bench.myshopify.com", name="Bench", currency="USD"))
        session.execute(
            insert(Product),
            [
                {
                    "id": n,
                    "shopify_gid": f"gid://shopify/Product/{7_000_000 + n}",
                    "shopify_id": 7_000_000 + n,
                    "title": f"Product {n}",
                    "handle": f"product-{n}",
                    "status": "active",
                    "image_url": f"/demo-images/product-{n}.svg",
                    "updated_at": NOW,
                }
                for n in range(1, PRODUCTS + 1)
            ],
        )
        session.execute(
            insert(Variant),
            [
                {
                    "id": n,
                    "shopify_gid": f"gid://shopify/ProductVariant/{40_000_000 + n}",
                    "shopify_id": 40_000_000 + n,
                    "product_id": n,
                    "title": "Default Title",
                    "price_cents": 1000 + 50 * n,
                    "available": True,
                    "position": 0,
                }
                for n in range(1, PRODUCTS + 1)
            ],
        )
        session.execute(
            insert(CrossSellPair),
            [
                {
                    "product_id": n,
                    "paired_product_id": (n + k - 1) % PRODUCTS + 1,
                    "rank": k,
                    "lift": 3.0 - k * 0.2,
                    "support": 50 - k,
                    "computed_at": NOW,
                }
                for n in range(1, PRODUCTS + 1)
                for k in range(1, 6)
            ],
        )
        session.execute(
            insert(SellingPlan),
            [
                {
                    "shopify_gid": f"gid://shopify/SellingPlan/{n}{weeks}",
                    "product_id": n,
                    "group_name": "Subscribe and save",
                    "name": f"Every {weeks} weeks",
                    "interval_unit": "WEEK",
                    "interval_count": weeks,
                    "interval_days": 7.0 * weeks,
                    "adjustment_type": "PERCENTAGE",
                    "adjustment_percent": 10.0,
                    "adjustment_cents": None,
                    "position": weeks,
                }
                for n in range(1, PLAN_PRODUCTS + 1)
                for weeks in (2, 4, 6)
            ],
        )
        session.commit()
        recent: list[tuple[int, datetime, list[int]]] = []
        batch = 20_000
        for start in range(1, customers + 1, batch):
            ids = range(start, min(start + batch, customers + 1))
            session.execute(
                insert(Customer),
                [
                    {
                        "id": cid,
                        "shopify_gid": f"gid://shopify/Customer/{cid}",
                        "email": f"customer{cid}@example.com",
                        "phone": None,
                        "first_name": "",
                        "last_name": "",
                        "created_at": NOW,
                    }
                    for cid in ids
                ],
            )
            session.execute(
                insert(CartLink),
                [
                    {
                        "customer_id": cid,
                        "token": f"benchtoken{cid:012d}xx",
                        "created_at": NOW - timedelta(days=200),
                        "revoked_at": None,
                    }
                    for cid in ids
                ],
            )
            rows = []
            for cid in ids:
                mine: list[dict[str, object]] = []
                for pid in rng.sample(range(1, PRODUCTS + 1), PER_CUSTOMER):
                    last = NOW - timedelta(days=rng.uniform(0, spread_days))
                    interval = rng.uniform(25, 60)
                    due = last + timedelta(days=interval)
                    mine.append(
                        {
                            "customer_id": cid,
                            "product_id": pid,
                            "variant_id": pid,
                            "last_purchased_at": last,
                            "last_quantity": 1,
                            "interval_days": interval,
                            "interval_source": "product",
                            "due_at": due,
                            "remind_at": due - timedelta(days=3),
                            "late_at": last + timedelta(days=interval * 1.3),
                            "lapse_at": None,
                            "computed_at": NOW,
                        }
                    )
                # the first product sets the lapse point: last order + 2 × its late interval
                anchor = max(row["last_purchased_at"] for row in mine)
                late_days = (mine[0]["late_at"] - mine[0]["last_purchased_at"]).days
                mine[0]["lapse_at"] = anchor + timedelta(days=2 * late_days)
                rows += mine
                if anchor > NOW - timedelta(days=10):
                    recent.append((cid, anchor, [row["product_id"] for row in mine]))
            session.execute(insert(DueItem), rows)
            session.commit()
        _recent_orders(session, recent)
        # every link already pushed: the scan's cart-link pass has nothing to do
        top = session.exec(select(func.max(CartLink.id))).one() or 0
        session.add(SyncState(name="cart-urls", last_summary={"klaviyo": top, "attentive": top}))
        session.commit()


def _recent_orders(session: Session, recent: list[tuple[int, datetime, list[int]]]) -> None:
    """One order holding each recent customer's products (what the cross-sell scan reads),
    and for every other one two earlier orders of the same products, 30 and 60 days before
    (a steady run: Primed For Subscription where a product has selling plans)."""
    runs = [
        (cid, at - timedelta(days=30 * k), pids, k) for cid, at, pids in recent[::2] for k in (1, 2)
    ]
    dated = [(cid, at, pids, 0) for cid, at, pids in recent] + runs
    for start in range(0, len(dated), 20_000):
        chunk = dated[start : start + 20_000]
        session.execute(
            insert(Order),
            [
                {
                    "id": cid + k * 10_000_000,
                    "shopify_gid": f"gid://shopify/Order/{cid + k * 10_000_000}",
                    "customer_id": cid,
                    "processed_at": anchor,
                    "updated_at": anchor,
                    "financial_status": "paid",
                    "name": f"#{cid}",
                    "cancelled_at": None,
                    "test": False,
                    "total_cents": 0,
                    "currency": "USD",
                    "source": "demo",
                    "custom_attributes": {},
                    "attributed_cart_id": None,
                    "attributed_channel": None,
                }
                for cid, anchor, _products, k in chunk
            ],
        )
        session.execute(
            insert(OrderLine),
            [
                {
                    "order_id": cid + k * 10_000_000,
                    "product_id": pid,
                    "variant_id": pid,
                    "quantity": 1,
                    "unit_price_cents": None,
                    "title": "",
                    "sku": None,
                }
                for cid, _anchor, products, k in chunk
                for pid in products
            ],
        )
        session.commit()


# --- part 1: delivery -----------------------------------------------------------------------


def _settings(url: str, fakes: dict[str, ProviderFake], urls: dict[str, str], names) -> Settings:
    values: dict[str, object] = {"database_url": url, "public_url": "https://carts.example.com"}
    for name in ("klaviyo", "postscript", "attentive"):
        values[f"{name}_api_key"] = fakes[name].api_key if name in names else ""
        values[f"{name}_base_url"] = urls[name]
    return Settings(**values)  # type: ignore[arg-type]


def _clients(settings: Settings, limiter: str) -> list[MessagingClient]:
    def limiters() -> dict[str, RateLimiter]:
        bucket = limiter_for(LIMIT) if limiter == "default" else RateLimiter(96, 2)
        return {"events": bucket}

    made: list[MessagingClient] = []
    if settings.secret("klaviyo_api_key"):
        made.append(
            KlaviyoClient(
                settings.secret("klaviyo_api_key"), settings.klaviyo_base_url, limiters=limiters()
            )
        )
    if settings.secret("postscript_api_key"):
        made.append(
            PostscriptClient(
                settings.secret("postscript_api_key"),
                settings.postscript_base_url,
                limiters=limiters(),
            )
        )
    if settings.secret("attentive_api_key"):
        made.append(
            AttentiveClient(
                settings.secret("attentive_api_key"),
                settings.attentive_base_url,
                limiters=limiters(),
            )
        )
    return made


def delivery_run(
    folder: Path,
    events: int,
    names: Sequence[str],
    limiter: str,
    fakes: dict[str, ProviderFake],
    urls: dict[str, str],
) -> list[list[str]]:
    url = fresh_database(folder, f"deliver-{'-'.join(names)}-{limiter}.db")
    build_store(url, events)
    with Session(get_engine(url)) as session:
        # every customer due now, none late
        session.exec(  # type: ignore[call-overload]
            DueItem.__table__.update().values(  # type: ignore[attr-defined]
                remind_at=NOW - timedelta(hours=1), late_at=NOW + timedelta(days=30)
            )
        )
        session.commit()
    settings = _settings(url, fakes, urls, names)
    with Session(get_engine(url)) as session:
        scan_due(session, settings, NOW)
        session.execute(delete(OutboxMessage).where(OutboxMessage.kind != "due"))
        session.commit()
        queued = session.exec(select(func.count()).select_from(OutboxMessage)).one()
    for fake in fakes.values():
        fake.reset()
    clients = _clients(settings, limiter)
    started = time.perf_counter()
    summary = deliver(settings, clients=clients, clock=lambda: NOW)
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    with Session(get_engine(url)) as session:
        keys = set(
            session.exec(select(OutboxMessage.idempotency_key).where(OutboxMessage.kind == "due"))
        )
    rows = []
    for name in names:
        fake = fakes[name]
        fake.wait_idle(30)
        receipts = fake.event_receipts
        duplicates = sum(n - 1 for n in receipts.values() if n > 1)
        losses = len(keys - set(receipts))
        sent = summary.of(name).sent
        rate = sent / elapsed
        rows.append(
            [
                name if len(names) == 1 else f"{name} (all 3 at once)",
                limiter,
                f"{sent}",
                f"{elapsed:.1f}",
                f"{rate:.1f}",
                f"{100 * rate / LIMIT:.0f}%",
                f"{fake.count(429)}",
                f"{duplicates}",
                f"{losses}",
            ]
        )
    assert queued == events * len(names), (queued, events, names)  # the setup, not a result
    return rows


def part_one(folder: Path, events: int) -> None:
    fakes: dict[str, ProviderFake] = {
        "klaviyo": FakeKlaviyo(rate_per_second=LIMIT, rate_per_minute=None),
        "postscript": FakePostscript(rate_per_second=LIMIT),
        "attentive": FakeAttentive(rate_per_second=LIMIT),
    }
    rows: list[list[str]] = []
    with ExitStack() as stack:
        urls = {name: stack.enter_context(fake.serve()).url for name, fake in fakes.items()}
        for limiter in ("default", "tight"):
            for name in fakes:
                rows += delivery_run(folder, events, [name], limiter, fakes, urls)
        rows += delivery_run(folder, events, list(fakes), "tight", fakes, urls)
    print(f"\nDelivery of {events:,} Due events per provider; the fakes allow {LIMIT} requests/s")
    print_table(
        ["provider", "limiter", "sent", "s", "req/s", "of limit", "429s", "duplicates", "losses"],
        rows,
    )


# --- part 2: the due scan -------------------------------------------------------------------


def scan_once(url: str, at: datetime, full: bool | None = None) -> tuple[float, int]:
    settings = Settings(
        database_url=url,
        klaviyo_api_key="k",
        postscript_api_key="p",
        attentive_api_key="a",
        public_url="https://carts.example.com",
    )
    with Session(get_engine(url), expire_on_commit=False) as session:
        started = time.perf_counter()
        summary = scan_due(session, settings, at, full=full)
        elapsed = time.perf_counter() - started
    return elapsed, sum(counts.queued for counts in summary.integrations.values())


def mark_sent(url: str, at: datetime) -> None:
    """The rows so far were delivered at `at` (so later scans may write Late events)."""
    with Session(get_engine(url)) as session:
        session.exec(  # type: ignore[call-overload]
            OutboxMessage.__table__.update()  # type: ignore[attr-defined]
            .where(OutboxMessage.status == "pending")
            .values(status="sent", sent_at=at)
        )
        session.commit()


def find_today(url: str, since: datetime) -> tuple[float, int]:
    """Only the range queries that name who to look at (no payloads, no writes)."""
    with Session(get_engine(url)) as session:
        started = time.perf_counter()
        found = (
            set(_candidates(session, NOW, since))
            | set(lapsed_between(session, since, NOW))
            | set(primed_between(session, since, NOW, 7))
            | set(subscription_primed(session, since, NOW))
        )
        return time.perf_counter() - started, len(found)


def part_two(folder: Path, sizes: Sequence[int]) -> None:
    rows = []
    base: float | None = None
    for size in sizes:
        customers = size // PER_CUSTOMER
        url = fresh_database(folder, f"scan-{size}.db")
        started = time.perf_counter()
        build_store(url, customers)
        built = time.perf_counter() - started
        first_s, first_msgs = scan_once(url, NOW, full=True)
        # the same store, scanned daily: yesterday's outbox is there (and was sent)
        with Session(get_engine(url)) as session:
            session.execute(delete(OutboxMessage))
            session.commit()
        scan_once(url, NOW - timedelta(days=1), full=True)
        mark_sent(url, NOW - timedelta(days=1))
        find_s, found = find_today(url, NOW - timedelta(days=1, hours=1))
        today_s, today_msgs = scan_once(url, NOW, full=False)
        mark_sent(url, NOW)
        tick_s, _ = scan_once(url, NOW + timedelta(minutes=15), full=False)
        sweep_s, _ = scan_once(url, NOW + timedelta(minutes=30), full=True)
        base = base or today_s
        rows.append(
            [
                f"{size:,}",
                f"{built:.0f}",
                f"{found:,}",
                f"{find_s:.2f}",
                f"{today_msgs:,}",
                f"{today_s:.2f}",
                f"{today_s / base:.1f}x",
                f"{tick_s:.2f}",
                f"{sweep_s:.2f}",
                f"{first_msgs:,}",
                f"{first_s:.2f}",
            ]
        )
        forget_engines()
        Path(folder / f"scan-{size}.db").unlink(missing_ok=True)
    print(
        "\nDue scan on SQLite: 3 integrations, 7-day lookback; today = the scan a day after the"
        " last one (goal <= 3 s)"
    )
    print_table(
        [
            "due rows",
            "build s",
            "customers today",
            "find s",
            "today msgs",
            "today s",
            "growth",
            "15-min tick s",
            "full sweep s",
            "first msgs",
            "first s",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(float(part)) for part in text.split(",")],
        default=[100_000, 250_000, 500_000, 1_000_000],
    )
    parser.add_argument("--skip-delivery", action="store_true")
    parser.add_argument("--skip-scan", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="repeatcart-bench-") as name:
        folder = Path(name)
        if not args.skip_delivery:
            part_one(folder, args.events)
        if not args.skip_scan:
            part_two(folder, args.sizes)


if __name__ == "__main__":
    main()
