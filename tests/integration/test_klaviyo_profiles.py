"""Klaviyo profile properties end to end: the database (SQLite and PostgreSQL), the sync, and
the fake Klaviyo's bulk import jobs over real HTTP.

The clock is the one the code reads (`services.core.clock.utcnow`), moved with time-machine.
Client retries sleep through a recorder, so backoff costs no wall time and its waits can be read.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import update
from sqlmodel import Session, select

from services.cart.links import get_or_create_link, rotate_link
from services.cli import main as cli_main
from services.core.config import Settings, get_settings
from services.core.db import get_engine
from services.core.provider_http import ProviderError, RateLimiter, RetryPolicy
from services.core.tables import (
    CartLink,
    Customer,
    DueItem,
    Product,
    ProfileFingerprint,
    Shop,
    Variant,
)
from services.dispatch import profiles as profile_sync
from services.dispatch import sync_profiles
from services.messaging import KlaviyoClient
from services.messaging.klaviyo_profiles import DUE_PRODUCTS_PROPERTY, split_jobs
from services.messaging.klaviyo_profiles import DUE_PROPERTY as DUE
from services.worker import JOBS, run_job
from tests.fakes.klaviyo import FakeKlaviyo

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
PUBLIC = "https://carts.example.com"
_ids = count(1000)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeKlaviyo, str]]:
    fake = FakeKlaviyo()
    with fake.serve() as server:
        yield fake, server.url


@dataclass
class Sleeps:
    seconds: list[float]

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@dataclass
class World:
    url: str
    fake: FakeKlaviyo
    base_url: str
    sleeps: Sleeps

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.url,
            "public_url": PUBLIC,
            "klaviyo_api_key": self.fake.api_key,
            "klaviyo_base_url": self.base_url,
            **overrides,
        }
        return Settings(**values)

    def client_options(self, attempts: int = 3) -> dict[str, Any]:
        retry = RetryPolicy(
            attempts=attempts, initial_delay=0.01, max_delay=0.02, sleep=self.sleeps
        )
        fast = RateLimiter(1000, 1000)  # the fake's own limits are what these tests exercise
        return {"timeout": 5.0, "retry": retry, "limiters": {"profile-bulk-import-jobs": fast}}

    def client(self, attempts: int = 3) -> KlaviyoClient:
        return KlaviyoClient(self.fake.api_key, self.base_url, **self.client_options(attempts))

    def sync(self, at: datetime, client: KlaviyoClient | None = None, **options: Any):
        client = client or self.client()
        try:
            with time_machine.travel(at, tick=False):
                return sync_profiles(self.settings(), client=client, **options)
        finally:
            client.close()

    def fingerprints(self) -> dict[int, str]:
        with Session(get_engine(self.url)) as session:
            rows = session.exec(select(ProfileFingerprint)).all()
            return {row.customer_id: row.fingerprint for row in rows}

    def jobs(self) -> int:
        return self.fake.count(202, "profile-bulk-import-jobs")


@pytest.fixture
def world(database_url: str, served: tuple[FakeKlaviyo, str]) -> Iterator[World]:
    fake, url = served
    fake.reset()
    fake.bulk_limits = (10, 150)
    yield World(database_url, fake, url, Sleeps([]))
    fake.wait_idle(10)


class Store:
    """Products, customers and due rows written directly."""

    def __init__(self, session: Session) -> None:
        self.session = session
        session.add(Shop(shop_domain="evergreen.myshopify.com", name="Evergreen", currency="USD"))
        session.commit()

    def product(self, title: str, price: int = 2400) -> tuple[Product, Variant]:
        pid, vid = 7_000_000_000_000 + next(_ids), 40_000_000_000_000 + next(_ids)
        product = Product(
            shopify_gid=f"gid://shopify/Product/{pid}",
            shopify_id=pid,
            title=title,
            handle=title.lower().replace(" ", "-"),
            status="active",
            image_url=f"https://cdn.example.com/{pid}.png",
        )
        self.session.add(product)
        self.session.flush()
        variant = Variant(
            shopify_gid=f"gid://shopify/ProductVariant/{vid}",
            shopify_id=vid,
            product_id=product.id,
            title="Large",
            price_cents=price,
        )
        self.session.add(variant)
        self.session.commit()
        return product, variant

    def customer(self, email: str, *, link: bool = True, gid: bool = True) -> Customer:
        shopify_gid = f"gid://shopify/Customer/{next(_ids)}" if gid else None
        customer = Customer(email=email, shopify_gid=shopify_gid)
        self.session.add(customer)
        self.session.commit()
        if link:
            get_or_create_link(self.session, customer.id, NOW - timedelta(days=40))
            self.session.commit()
        return customer

    def due(
        self, customer: Customer, item: tuple[Product, Variant], remind_at: datetime, qty: int = 1
    ) -> None:
        product, variant = item
        self.session.add(
            DueItem(
                customer_id=customer.id,
                product_id=product.id,
                variant_id=variant.id,
                last_purchased_at=remind_at - timedelta(days=27),
                last_quantity=qty,
                interval_days=30,
                interval_source="product",
                due_at=remind_at + timedelta(days=3),
                remind_at=remind_at,
                late_at=remind_at + timedelta(days=13),
                computed_at=NOW - timedelta(days=30),
            )
        )
        self.session.commit()

    def reorder(self, customer: Customer, at: datetime) -> None:
        """What a recompute writes after a new order: the next due date is a month away."""
        self.session.execute(
            update(DueItem)
            .where(DueItem.customer_id == customer.id)  # type: ignore[arg-type]
            .values(
                last_purchased_at=at,
                remind_at=at + timedelta(days=27),
                due_at=at + timedelta(days=30),
                late_at=at + timedelta(days=40),
                computed_at=at,
            )
        )
        self.session.commit()


@pytest.fixture
def store(session: Session) -> Store:
    return Store(session)


def _products(properties: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(properties[DUE_PRODUCTS_PROPERTY])


# --- due status on the profile -----------------------------------------------------------


def test_properties_flip_to_true_when_due_and_back_to_false_when_not(
    world: World, store: Store
) -> None:
    ava = store.customer("ava@example.com")
    soap = store.product("Lavender Soap", 1250)
    store.due(ava, soap, remind_at=NOW + timedelta(days=2), qty=2)

    first = world.sync(NOW)
    assert (first.sent, first.jobs, first.failure) == (1, 1, None)
    properties = world.fake.properties_of(email="ava@example.com")
    assert properties is not None
    assert properties[DUE] is False and _products(properties) == []
    assert properties["Repeat Cart URL"].startswith(f"{PUBLIC}/cart/")
    assert properties["Repeat Cart URL"].endswith("?ch=klaviyo")

    became_due = world.sync(NOW + timedelta(days=2, hours=1))  # the remind point passed
    assert became_due.sent == 1
    properties = world.fake.properties_of(email="ava@example.com")
    assert properties is not None and properties[DUE] is True
    assert _products(properties) == [
        {
            "title": "Lavender Soap",
            "variant": "Large",
            "quantity": 2,
            "image_url": soap[0].image_url,
            "price": "12.50",
        }
    ]

    store.reorder(ava, NOW + timedelta(days=2, hours=4))
    stopped = world.sync(NOW + timedelta(days=2, hours=5))
    assert stopped.sent == 1 and not stopped.full  # a tick: the recompute was seen
    properties = world.fake.properties_of(email="ava@example.com")
    assert properties is not None
    assert properties[DUE] is False and properties[DUE_PRODUCTS_PROPERTY] == "[]"
    assert world.jobs() == 3


def test_an_unchanged_profile_is_not_sent_again(world: World, store: Store) -> None:
    for n in range(3):
        person = store.customer(f"p{n}@example.com")
        store.due(person, store.product(f"Tea {n}"), remind_at=NOW - timedelta(days=1))
    assert world.sync(NOW).sent == 3
    accepted = world.fingerprints()
    assert len(accepted) == 3

    again = world.sync(NOW + timedelta(minutes=15), full=True)
    assert (again.sent, again.unchanged, again.jobs) == (0, 3, 0)
    assert world.sync(NOW + timedelta(days=2)).sent == 0  # the daily full sweep too
    assert world.jobs() == 1
    assert world.fingerprints() == accepted

    first = store.session.exec(select(Customer).order_by(Customer.id)).first()
    assert first is not None and first.id is not None
    rotate_link(store.session, first.id, NOW + timedelta(days=2, minutes=5))
    store.session.commit()
    rotated = world.sync(NOW + timedelta(days=2, minutes=15))
    assert (rotated.sent, rotated.looked) == (1, 1)  # a tick looks only at the rotated link


def test_a_customer_without_a_usable_identifier_is_not_sent(world: World, store: Store) -> None:
    store.customer("not an email", gid=False)  # an external id alone would do
    summary = world.sync(NOW)
    assert (summary.sent, summary.no_identifier) == (0, 1)
    assert world.fake.requests == []


def test_nothing_runs_when_klaviyo_is_off_or_has_no_key(world: World, store: Store) -> None:
    store.customer("ava@example.com")
    with time_machine.travel(NOW, tick=False):
        off = sync_profiles(world.settings(klaviyo_enabled=False))
        keyless = sync_profiles(world.settings(klaviyo_api_key=""))
    assert off.skipped and keyless.skipped
    assert world.fake.requests == []


# --- failures lose nothing ------------------------------------------------------------------


class _FailsSecondJob(KlaviyoClient):
    """Makes the fake answer `status` to every attempt of the second job, mid-run."""

    def __init__(self, fake: FakeKlaviyo, status: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fake, self.status, self.calls = fake, status, 0

    def import_profiles(self, profiles):  # noqa: ANN001, ANN201
        self.calls += 1
        if self.calls == 2:
            self.fake.fail_next(3, self.status, retry_after=1 if self.status == 429 else None)
        return super().import_profiles(profiles)


@pytest.mark.parametrize("status", [500, 429])
def test_a_failure_mid_run_loses_nothing(
    world: World, store: Store, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setattr(profile_sync, "split_jobs", functools.partial(split_jobs, max_profiles=2))
    for n in range(5):
        person = store.customer(f"m{n}@example.com")
        store.due(person, store.product(f"Soap {n}"), remind_at=NOW - timedelta(days=1))
    failing = _FailsSecondJob(
        world.fake, status, world.fake.api_key, world.base_url, **world.client_options()
    )

    broken = world.sync(NOW, client=failing)
    assert broken.failure is not None and broken.failure.status == status
    assert (broken.sent, broken.jobs) == (2, 1)
    assert len(world.fingerprints()) == 2  # only what Klaviyo accepted
    assert world.fake.count(status, "profile-bulk-import-jobs") == 3  # retried, then gave up
    if status == 429:
        assert all(wait >= 1 for wait in world.sleeps.seconds)  # Retry-After honoured

    resumed = world.sync(NOW + timedelta(minutes=15))
    assert (resumed.sent, resumed.unchanged, resumed.failure) == (3, 2, None)
    assert len(world.fingerprints()) == 5
    for n in range(5):
        properties = world.fake.properties_of(email=f"m{n}@example.com")
        assert properties is not None and properties[DUE] is True
    assert world.sync(NOW + timedelta(minutes=30), full=True).sent == 0


def test_a_brief_429_is_waited_out_within_the_run(world: World, store: Store) -> None:
    person = store.customer("r@example.com")
    store.due(person, store.product("Soap"), remind_at=NOW - timedelta(days=1))
    world.fake.fail_next(1, 429, retry_after=7)
    summary = world.sync(NOW)
    assert (summary.sent, summary.failure) == (1, None)
    assert world.sleeps.seconds and world.sleeps.seconds[0] >= 7
    assert len(world.fingerprints()) == 1


def test_a_dry_run_shows_the_jobs_and_writes_nothing(
    world: World, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    person = store.customer("dry@example.com", link=False)
    store.due(person, store.product("Soap"), remind_at=NOW - timedelta(days=1))
    summary = world.sync(NOW, dry_run=True)
    assert (summary.sent, summary.jobs, len(summary.bodies)) == (1, 1, 1)
    profile = summary.bodies[0]["data"]["attributes"]["profiles"]["data"][0]
    assert profile["attributes"]["properties"][DUE] is True
    assert world.fake.requests == [] and world.fingerprints() == {}
    with Session(get_engine(world.url)) as session:  # the link it made was rolled back
        assert session.exec(select(CartLink)).all() == []

    for key, value in world.settings().environment().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the command sets up JSON logging
    try:
        with time_machine.travel(NOW, tick=False):
            assert cli_main(["dispatch", "--dry-run"]) == 0
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "would send klaviyo profile import job 1:" in out
    assert '"type": "profile-bulk-import-job"' in out
    assert "klaviyo profiles: would send 1 in 1 job(s)" in out
    assert world.fake.count(202, "profile-bulk-import-jobs") == 0
    assert world.fingerprints() == {}


# --- the fake keeps Klaviyo's contract ------------------------------------------------------


def _post(world: World, body: Any, **headers: str) -> httpx.Response:
    sent = {
        "authorization": f"Klaviyo-API-Key {world.fake.api_key}",
        "revision": world.fake.revision,
        "accept": "application/vnd.api+json",
        "content-type": "application/vnd.api+json",
        **headers,
    }
    content = json.dumps(body, separators=(",", ":")).encode()
    return httpx.post(
        f"{world.base_url}/api/profile-bulk-import-jobs/", content=content, headers=sent
    )


def _job(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}
    }


def _profile(n: int, pad: int = 0) -> dict[str, Any]:
    return {
        "type": "profile",
        "attributes": {"email": f"x{n}@example.com", "properties": {"pad": "x" * pad}},
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_fake_refuses_what_klaviyo_refuses(world: World) -> None:
    assert _post(world, _job([_profile(1)])).status_code == 202
    bad_key = _post(world, _job([_profile(1)]), authorization="Klaviyo-API-Key wrong")
    assert bad_key.status_code == 401
    assert _post(world, _job([_profile(1)]), revision="").status_code == 400
    wrong_type = _post(world, {"data": {"type": "profile", "attributes": {}}})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["errors"][0]["source"]["pointer"] == "/data/type"
    no_id = _post(world, _job([{"type": "profile", "attributes": {"properties": {}}}]))
    assert no_id.status_code == 400
    assert set(no_id.json()["errors"][0]) == {"id", "status", "code", "title", "detail", "source"}
    too_many = _post(world, _job([_profile(n) for n in range(10_001)]))
    assert too_many.status_code == 400 and "10000" in too_many.json()["errors"][0]["detail"]
    too_big = _post(world, _job([_profile(n, pad=90_000) for n in range(60)]))
    assert too_big.status_code == 413
    assert len(world.fake.import_jobs) == 1  # only the good one was recorded


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_fake_rate_limits_jobs_with_retry_after(world: World) -> None:
    world.fake.bulk_limits = (2, None)  # per second, as Klaviyo's burst window counts
    client = world.client(attempts=1)
    try:
        client.import_profiles([_profile(1)])
        client.import_profiles([_profile(2)])
        with pytest.raises(ProviderError) as refused:
            client.import_profiles([_profile(3)])
    finally:
        client.close()
    assert refused.value.status == 429
    throttled = _post(world, _job([_profile(4)]))
    assert throttled.status_code == 429
    assert float(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["errors"][0]["code"] == "throttled"
    assert world.fake.properties_of(email="x3@example.com") is None
    assert world.fake.properties_of(email="x2@example.com") == {"pad": ""}


# --- the worker -------------------------------------------------------------------------------


def test_the_worker_job_keeps_profiles_current(world: World, store: Store, app_database) -> None:  # noqa: ANN001
    job = next(job for job in JOBS if job.name == "klaviyo-profiles")
    assert job.trigger(Settings(due_scan_minutes=15)).interval == timedelta(minutes=15)
    person = store.customer("w@example.com")
    store.due(person, store.product("Soap"), remind_at=NOW - timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        assert run_job(job, world.settings()) == "ok"
        assert run_job(job, world.settings()) == "ok"
    properties = world.fake.properties_of(email="w@example.com")
    assert properties is not None and properties[DUE] is True
    assert world.jobs() == 1  # the second run found nothing changed


def test_a_refused_key_stops_the_sync_until_the_key_changes(world: World, store: Store) -> None:
    store.customer("ava@example.com")
    wrong = KlaviyoClient("pk_wrong", world.base_url, **world.client_options())
    refused = world.sync(NOW, client=wrong)
    assert refused.failure is not None and refused.failure.auth_failed
    assert world.fingerprints() == {}

    after = world.sync(NOW + timedelta(minutes=15))  # the configured key is the one refused
    assert after.skipped and after.skipped.startswith("key refused")
    assert world.fake.count(202, "profile-bulk-import-jobs") == 0


def test_a_stop_request_ends_the_run_between_jobs(
    world: World, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.customer("ava@example.com")
    monkeypatch.setattr(profile_sync, "stop_requested", lambda: True)
    stopped = world.sync(NOW)
    assert (stopped.sent, stopped.jobs) == (0, 0)
    assert world.fake.requests == [] and world.fingerprints() == {}
    monkeypatch.undo()
    assert world.sync(NOW + timedelta(minutes=15)).sent == 1  # the next run sends it


# --- a profile Klaviyo refuses never holds back the others ---------------------------------


class _SpoilsOneProfile(KlaviyoClient):
    """Sends one customer's profile with a field Klaviyo refuses, as a profile Klaviyo finds
    invalid for a reason of its own would be: the fake then refuses every job holding it."""

    def __init__(self, email: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email, self.sizes = email, []

    def import_profiles(self, profiles):  # noqa: ANN001, ANN201
        self.sizes.append(len(profiles))
        spoiled = [
            {**p, "attributes": {**p["attributes"], "properties": "not an object"}}
            if p["attributes"].get("email") == self.email
            else p
            for p in profiles
        ]
        return super().import_profiles(spoiled)


def test_a_profile_klaviyo_refuses_is_set_aside_and_the_rest_are_sent(
    world: World, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_sync, "split_jobs", functools.partial(split_jobs, max_profiles=4))
    for n in range(6):
        person = store.customer(f"b{n}@example.com")
        store.due(person, store.product(f"Balm {n}"), remind_at=NOW - timedelta(days=1))
    spoiling = _SpoilsOneProfile(
        "b2@example.com", world.fake.api_key, world.base_url, **world.client_options()
    )
    summary = world.sync(NOW, client=spoiling)
    assert summary.failure is None
    assert (summary.sent, summary.refused) == (5, 1)
    assert "1 refused as invalid" in summary.line()
    # the job of 4 was refused, then halved until the bad profile was alone
    assert spoiling.sizes == [4, 2, 2, 1, 1, 2]
    for n in (0, 1, 3, 4, 5):
        assert world.fake.properties_of(email=f"b{n}@example.com") is not None
    assert world.fake.properties_of(email="b2@example.com") is None
    assert len(world.fingerprints()) == 6  # the refused one is not resent until it changes
    assert world.sync(NOW + timedelta(minutes=15), full=True).sent == 0


def test_many_refusals_in_one_run_stop_it_as_a_bad_request(
    world: World, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_sync, "MAX_REFUSED", 1)
    for n in range(3):
        person = store.customer(f"c{n}@example.com")
        store.due(person, store.product(f"Salt {n}"), remind_at=NOW - timedelta(days=1))

    class _SpoilsAll(_SpoilsOneProfile):
        def import_profiles(self, profiles):  # noqa: ANN001, ANN201
            self.sizes.append(len(profiles))
            return KlaviyoClient.import_profiles(
                self, [{**p, "attributes": {**p["attributes"], "properties": []}} for p in profiles]
            )

    spoiling = _SpoilsAll("", world.fake.api_key, world.base_url, **world.client_options())
    summary = world.sync(NOW, client=spoiling)
    assert summary.failure is not None and summary.failure.status == 400
    assert summary.refused == 1 and summary.sent == 0
    assert len(spoiling.sizes) <= 4  # it stopped instead of trying each profile alone


def test_a_profile_over_klaviyos_size_is_not_sent_and_the_rest_are(
    world: World, store: Store
) -> None:
    huge = store.customer("huge@example.com")
    for n in range(400):  # 400 due products with long names: over Klaviyo's 100 KB
        store.due(huge, store.product(f"Hand-poured candle no. {n} " + "x" * 200), NOW)
    small = store.customer("small@example.com")
    store.due(small, store.product("Wick"), remind_at=NOW - timedelta(days=1))
    summary = world.sync(NOW + timedelta(hours=1))
    assert summary.failure is None
    assert (summary.sent, summary.too_large) == (1, 1)
    assert world.fake.properties_of(email="small@example.com") is not None
    assert world.fake.properties_of(email="huge@example.com") is None
