#!/usr/bin/env python
"""Benchmark: fingerprinting and batching Klaviyo profiles for a large store.

What is measured: for N customers (default 100,000; a third of them due, with 1 to 4 products
each), building each profile entry (`profile_entry`), hashing it (`fingerprint`), and packing
every profile into bulk import jobs (`split_jobs`, ≤10,000 profiles and ≤5 MB a job), as a run
does when every profile changed (the first run). The baseline is encoding the same entries
with `json.dumps` alone, in the same process. Pure CPU: no database, no HTTP.

Prints a table (median and p95 over the runs, ratio to the baseline); asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from report import print_table

from services.engine import percentile
from services.messaging import Recipient
from services.messaging.klaviyo_profiles import (
    ProfileProduct,
    ProfileState,
    bulk_import_body,
    encoded,
    fingerprint,
    profile_entry,
    split_jobs,
)


def _states(customers: int, seed: int = 7) -> list[ProfileState]:
    rng = random.Random(seed)
    catalog = [
        ProfileProduct(
            f"Product {n}",
            rng.choice(["Small", "Large", "250 g"]),
            1,
            f"https://cdn.example.com/{n}.png",
            rng.randrange(500, 9000),
        )
        for n in range(200)
    ]
    states = []
    for n in range(customers):
        due = rng.random() < 1 / 3
        products = tuple(rng.sample(catalog, rng.randint(1, 4))) if due else ()
        person = Recipient(f"customer{n}@example.com", None, str(5_000_000 + n))
        states.append(
            ProfileState(person, f"https://carts.example.com/cart/{n:032x}?ch=klaviyo", products)
        )
    return states


def _fingerprint_and_batch(states: list[ProfileState]) -> tuple[int, int]:
    def changes():  # noqa: ANN202
        for n, state in enumerate(states):
            entry = profile_entry(state)
            if entry is not None:
                yield (n, fingerprint(entry)), entry

    jobs = 0
    largest = 0
    for job in split_jobs(changes()):
        jobs += 1
        largest = max(largest, len(job))
    return jobs, largest


def _baseline(states: list[ProfileState]) -> int:
    return sum(len(encoded(profile_entry(state))) for state in states)


def _time(run: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    states = _states(args.customers)
    jobs, largest = _fingerprint_and_batch(states)
    total = _baseline(states)
    baseline = _time(lambda: _baseline(states), args.runs)
    measured = _time(lambda: _fingerprint_and_batch(states), args.runs)
    base_median = statistics.median(baseline)
    rows = []
    for name, times in (
        ("json.dumps only (baseline)", baseline),
        ("fingerprint + batch", measured),
    ):
        median = statistics.median(times)
        rows.append(
            [
                name,
                f"{median * 1000:.0f}",
                f"{percentile(sorted(times), 95) * 1000:.0f}",
                f"{median / args.customers * 1e6:.1f}",
                f"{median / base_median:.2f}",
            ]
        )
    print(
        f"{args.customers:,} customers, {total / 1e6:.1f} MB of profiles, {jobs} jobs "
        f"(largest {largest:,} profiles), {args.runs} runs"
    )
    print_table(["what", "median ms", "p95 ms", "µs/customer", "× baseline"], rows)
    print(f"bulk body envelope: {len(encoded(bulk_import_body([])))} bytes")


if __name__ == "__main__":
    main()
