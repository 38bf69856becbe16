"""A job that loses its lease stops: fencing tokens, a keep-alive that notices, refused writes.

The scenarios are the issue's: a database outage longer than the lease (renewals fail, the
lease expires, a second worker takes it), or a first worker that stalls while its keep-alive
believes all is well. Either way the first worker's next write is refused and it stops, the
second completes, and nothing is doubled: the stream's cursor and state are the second's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from services.core import leases
from services.core.clock import utcnow
from services.core.db import get_engine, session_scope
from services.core.leases import LeaseLost, acquire, confirm_held, held, lease, release
from services.core.tables import ImportRun, JobLease, SyncState
from services.shopify import queries
from services.shopify.client import ShopifyClient
from services.sync import runs as sync_admin
from services.sync.runs import IMPORT_LEASE, run_import
from services.sync.store_sync import SyncReport, sync_orders
from tests.fakes.shopify import FakeShopify
from tests.integration import test_shopify_sync as shopify_sync
from tests.integration.test_shopify_sync import START, client_for
from tests.integration.test_sync_runs import new_run, orders_in, write_csv

fake = shopify_sync.fake
configured = shopify_sync.configured
"""The fake Shopify, and the test database the services use, as the sync tests set them up."""

SHORT = timedelta(seconds=1)
"""The first worker's lease: short, so the tests wait about a second for it to expire."""
LONG = timedelta(minutes=1)
"""The second worker's lease: it must not expire while the (slow, shared) machine works."""
WAIT = 60
"""Seconds any step may take before the test gives up (never an expected duration)."""


def database_down(*_args: Any, **_kwargs: Any) -> bool:
    raise OperationalError("UPDATE job_lease", {}, ConnectionRefusedError("database down"))


def stalled(*_args: Any, **_kwargs: Any) -> bool:
    """A keep-alive that believes it renewed while nothing reached the database (a paused
    process, a clock jump): only the check inside the write can tell."""
    return True


def lease_row(name: str) -> JobLease:
    with Session(get_engine()) as session:
        row = session.get(JobLease, name)
        assert row is not None
        return row


def take_over(name: str, work: Callable[[], Any]) -> Any:
    """The second worker: take `name` as soon as the first one's lease has expired, then work."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with lease(name, LONG) as got:
            if got:
                return work()
        time.sleep(0.05)  # polling a lease that is about to expire
    raise AssertionError(f"the lease {name} never expired")


class FirstWorker:
    """Runs `job` in a thread that pauses after its first committed write, until the test has
    played out the outage and the second worker. It holds `lease_name` for the job with a short
    lease, or, when that is None, the job takes its own lease."""

    def __init__(self, job: Callable[[FirstWorker], Any], lease_name: str | None) -> None:
        self.job = job
        self.lease_name = lease_name
        self.wrote_once = threading.Event()
        self.go_on = threading.Event()
        self.lease: leases.Lease | None = None
        self.outcome: list[Any] = []
        self.thread = threading.Thread(target=self._run, name="first-worker")

    def _run(self) -> None:
        try:
            if self.lease_name is None:
                self.outcome.append(self.job(self))
            else:
                with lease(self.lease_name, SHORT) as got:
                    assert got
                    self.outcome.append(self.job(self))
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            self.outcome.append(error)
        finally:
            self.wrote_once.set()  # never leave the test waiting on a worker that failed

    def pause(self) -> None:
        """Called by the job, under its lease, after its first write: wait for the test."""
        self.lease = held()[-1]
        self.wrote_once.set()
        assert self.go_on.wait(WAIT)

    def start(self) -> None:
        self.thread.start()
        assert self.wrote_once.wait(WAIT)
        assert self.lease is not None, self.outcome

    def finish(self) -> Any:
        self.go_on.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        return self.outcome[0] if self.outcome else None


@pytest.fixture
def workers(configured: str) -> Iterator[list[FirstWorker]]:
    """First workers to finish even when a test fails: none may outlive the test's database."""
    started: list[FirstWorker] = []
    yield started
    for worker in started:
        worker.finish()


def break_renewals(monkeypatch: pytest.MonkeyPatch, worker: FirstWorker, failure: str) -> None:
    """From now on the first worker's keep-alive fails ("outage": the database is unreachable
    to it) or stalls ("stall"); any other holder renews as usual. After an outage, wait until
    the keep-alive has noticed."""
    mine, real = worker.lease, leases.renew
    assert mine is not None

    def renew(name: str, holder: str, ttl: timedelta, token: int | None = None) -> bool:
        if holder != mine.holder:
            return real(name, holder, ttl, token)
        return database_down() if failure == "outage" else stalled()

    monkeypatch.setattr(leases, "renew", renew)
    if failure == "outage":
        assert mine.lost.wait(WAIT), "the keep-alive noticed"


class PausingClient:
    """The Shopify client, pausing the first worker once its first page is stored."""

    def __init__(self, client: ShopifyClient, worker: FirstWorker) -> None:
        self._client = client
        self._worker = worker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def order_pages(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for number, page in enumerate(self._client.order_pages(*args, **kwargs)):
            if number == 1:  # asked for the second page: the first is committed
                self._worker.pause()
            yield page


# --- the lease itself --------------------------------------------------------------------------


def test_every_acquisition_counts_the_fencing_token_up(configured: str) -> None:
    assert acquire("job", "a", LONG) == 1
    assert acquire("job", "a", LONG) == 2, "taken again by its holder: a new token"
    release("job", "a", 2)
    assert acquire("job", "b", LONG) == 3, "released at once; the row stays, tokens never repeat"
    assert acquire("job", "c", LONG) is None


def test_a_write_after_a_takeover_is_refused_and_rolled_back(configured: str) -> None:
    with lease("job", LONG) as got:
        assert got
        mine = held()[-1]
        with session_scope() as session:
            confirm_held(session)
            session.add(SyncState(name="first"))
        with session_scope() as session:  # someone else took it (the lease had expired)
            session.get(JobLease, "job").holder = "another worker"  # type: ignore[union-attr]
        with pytest.raises(LeaseLost), session_scope() as session:
            session.add(SyncState(name="second"))
            confirm_held(session)
        assert mine.lost.is_set()
    with Session(get_engine()) as session:
        assert [state.name for state in session.exec(select(SyncState))] == ["first"]
    assert lease_row("job").holder == "another worker", "the lost lease is not released"


def test_an_expired_lease_refuses_writes_even_before_anyone_takes_it(
    configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "renew", stalled)
    with lease("job", SHORT) as got:
        assert got
        deadline = time.monotonic() + WAIT
        while lease_row("job").expires_at > utcnow() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(LeaseLost), session_scope() as session:
            confirm_held(session)


def test_the_keep_alive_marks_the_lease_lost_when_it_cannot_renew_for_a_whole_lease(
    configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_renew = leases.renew
    monkeypatch.setattr(leases, "renew", database_down)
    with lease("job", SHORT) as got:
        assert got
        mine = held()[-1]
        assert mine.lost.wait(WAIT)
        monkeypatch.setattr(leases, "renew", real_renew)  # back, but the lease may be another's
        with pytest.raises(LeaseLost), session_scope() as session:
            confirm_held(session)


def test_a_write_outside_any_lease_is_not_checked(configured: str) -> None:
    with session_scope() as session:
        confirm_held(session)
        session.add(SyncState(name="cli"))


# --- the Shopify order sync --------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["outage", "stall"])
def test_a_sync_that_lost_its_lease_stops_and_the_next_holder_completes(
    configured: str,
    fake: FakeShopify,
    workers: list[FirstWorker],
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    fake.generate_orders(2 * queries.orders_page_size() + 10, seed=7, start=START)
    lines = sum(len(order["lineItems"]) for order in fake.orders.values())

    def first_sync(worker: FirstWorker) -> SyncReport:
        with client_for(fake) as client:
            return sync_orders(PausingClient(client, worker), bulk=False)  # type: ignore[arg-type]

    first = FirstWorker(first_sync, "order-sync")
    workers.append(first)
    first.start()
    break_renewals(monkeypatch, first, failure)

    def second_sync() -> SyncReport:
        with client_for(fake) as client:
            return sync_orders(client, bulk=False)

    second = take_over("order-sync", second_sync)
    stopped = first.finish()

    assert isinstance(stopped, LeaseLost), stopped
    assert first.lease is not None and first.lease.lost.is_set()
    assert orders_in(configured) == (len(fake.orders), len(fake.orders), lines)
    newest = max(datetime.fromisoformat(o["updatedAt"]) for o in fake.orders.values())
    with Session(get_engine(configured)) as session:
        state = session.get(SyncState, "orders")
        assert state is not None
        assert (state.last_status, state.running, state.recompute_pending) == ("ok", False, False)
        assert state.cursor == newest
        assert state.last_summary == second.as_dict(), "the stopped run left no trace on it"
    with client_for(fake) as client:
        again = sync_orders(client)  # the next run goes on from the cursor: nothing is left
    assert (again.mode, again.created, again.updated) == ("incremental", 0, 0)


# --- the dashboard's CSV import ----------------------------------------------------------------


@pytest.mark.parametrize("failure", ["outage", "stall"])
def test_an_import_that_lost_its_lease_stops_and_the_next_import_completes(
    configured: str,
    tmp_path: Path,
    workers: list[FirstWorker],
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    orders, chunk = 50, 20
    first_file = write_csv(tmp_path / "first.csv", orders)
    second_file = write_csv(tmp_path / "second.csv", orders)  # the same export, uploaded again
    first_run, second_run = new_run(configured, first_file).id, new_run(configured, second_file).id

    def first_import(worker: FirstWorker) -> Any:
        return run_import(
            first_run, first_file, chunk_orders=chunk, after_chunk=lambda _rows: worker.pause()
        )

    monkeypatch.setattr(sync_admin, "IMPORT_LEASE_TTL", SHORT)
    first = FirstWorker(first_import, None)  # the import takes its lease itself
    workers.append(first)
    first.start()
    break_renewals(monkeypatch, first, failure)
    monkeypatch.setattr(sync_admin, "IMPORT_LEASE_TTL", LONG)
    deadline = time.monotonic() + WAIT
    while lease_row(IMPORT_LEASE).expires_at > utcnow():  # the first one's expires
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = run_import(second_run, second_file, chunk_orders=chunk)
    first.finish()

    assert second.status == "done", second.failure
    assert orders_in(configured) == (orders, orders, 2 * orders)
    with Session(get_engine(configured)) as session:
        stopped = session.get(ImportRun, first_run)
        assert stopped is not None
        assert stopped.status == "interrupted" and "import the file again" in stopped.failure
        assert stopped.orders_imported == chunk, "its progress is what it committed"
    assert first.lease is not None and first.lease.lost.is_set()
