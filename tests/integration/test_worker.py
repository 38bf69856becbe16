"""Leases and the worker's jobs: one run at a time across processes, one log line per run."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.core.config import PROJECT_ROOT, get_settings
from services.core.leases import acquire, lease, release, renew
from services.core.logs import JsonFormatter
from services.worker import JOBS, Job, run_job
from tests.clock_shift import subprocess_env
from tests.fakes.shopify import FakeShopify

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture
def configured(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    monkeypatch.delenv("REPEATCART_SHOPIFY_TOKEN", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_a_lease_is_held_by_one_holder_until_it_expires(configured: str) -> None:
    ttl = timedelta(minutes=1)
    assert acquire("sync", "a", ttl, NOW)
    assert not acquire("sync", "b", ttl, NOW + timedelta(seconds=30))
    assert acquire("sync", "a", ttl, NOW + timedelta(seconds=30)), "the holder may re-take it"
    assert acquire("sync", "b", ttl, NOW + timedelta(minutes=2)), "an expired lease is free"
    assert not renew("sync", "a", ttl), "a lease taken over is no longer the old holder's"
    release("sync", "a")  # not a's any more: nothing happens
    assert not acquire("sync", "c", ttl, NOW + timedelta(minutes=2, seconds=1))
    release("sync", "b")
    assert acquire("sync", "c", ttl, NOW + timedelta(minutes=2, seconds=1))


def test_only_one_of_two_concurrent_holders_runs(configured: str) -> None:
    entered = threading.Event()
    finish = threading.Event()
    outcomes: list[bool] = []

    def first() -> None:
        with lease("job") as held:
            outcomes.append(held)
            entered.set()
            finish.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10)
    with lease("job") as held:
        outcomes.append(held)
    finish.set()
    thread.join()
    assert outcomes == [True, False]
    with lease("job") as held:
        assert held, "released when the holder finished"


def test_jobs_needing_shopify_are_skipped_without_a_token(configured: str) -> None:
    order_sync = next(job for job in JOBS if job.name == "order-sync")
    assert run_job(order_sync) == "skipped"


def test_a_failing_job_is_logged_in_one_structured_line(
    configured: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_settings: object) -> str:
        raise RuntimeError("disk full")

    with caplog.at_level(logging.INFO, logger="repeatcart.worker"):
        assert run_job(Job("broken", broken, lambda _s: None)) == "failed"
    [record] = caplog.records
    line = json.loads(JsonFormatter().format(record))
    assert line["job"] == "broken" and line["outcome"] == "failed"
    assert line["error"].startswith("Traceback") or "disk full" in line["error"]
    assert "ms" in line


def test_two_workers_never_sync_at_once(configured: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeShopify(restore_rate=50_000) as fake:
        fake.generate_orders(120, seed=1)
        fake.delay_next(6, 0.2)  # keep the first sync busy while the second tries
        monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", fake.shop)
        monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", fake.token)
        monkeypatch.setenv("REPEATCART_SHOPIFY_BASE_URL", fake.base_url)
        get_settings.cache_clear()
        order_sync = next(job for job in JOBS if job.name == "order-sync")
        results: list[str] = []
        threads = [
            threading.Thread(target=lambda: results.append(run_job(order_sync))) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(results) == ["ok", "skipped"]
        assert fake.stats.operations["RunBulk"] == 1


def test_the_worker_command_runs_each_job_once_and_logs_json(tmp_path) -> None:  # noqa: ANN001
    env = {key: value for key, value in os.environ.items() if not key.startswith("REPEATCART_")}
    env["REPEATCART_DATABASE_URL"] = f"sqlite:///{tmp_path / 'worker.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "worker", "--once"],
        env=subprocess_env(env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    by_job = {line["job"]: line for line in lines if "job" in line}
    assert set(by_job) == {job.name for job in JOBS}
    assert by_job["order-sync"]["outcome"] == "skipped"
    assert by_job["nightly-recompute"]["outcome"] == "ok"
