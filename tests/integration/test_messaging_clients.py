"""The messaging clients over real HTTP against fakes that enforce CONTRACTS.md.

Retries sleep through a recording `sleep`, so a storm of 429s costs no wall time; only the
rate-limit test waits for real (its limiter is the thing under test).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import httpx
import pytest

from services.core.provider_http import ProviderError, RateLimiter, RetryPolicy
from services.messaging import (
    AttentiveClient,
    DueEvent,
    DueProduct,
    KlaviyoClient,
    PostscriptClient,
    Recipient,
    clients_from_settings,
    limiter_for,
)
from services.messaging.base import HttpMessagingClient
from tests.fakes.klaviyo import FakeKlaviyo
from tests.fakes.postscript import FakePostscript
from tests.fakes.provider import ProviderFake
from tests.fakes.server import closing_port

PROVIDERS = ["klaviyo", "postscript", "attentive"]
CART = "https://carts.example.com/cart/tok123"
PERSON = Recipient(email="ava@example.com", phone="+14155552671", external_id="cust-42")
PRODUCT = DueProduct(
    product_gid="gid://shopify/Product/7013593874511",
    product_id_numeric=7013593874511,
    title="Magic In A Box",
    handle="magic-in-a-box",
    price_cents=2400,
    currency="USD",
    image_url="https://cdn.shopify.com/s/files/1/magic.png",
    variant_gid="gid://shopify/ProductVariant/40645138776143",
    variant_id_numeric=40645138776143,
    variant_title="250 ml",
)
PROPERTIES = {
    "Repeat Cart URL": CART,
    "reorderableProducts": [
        {
            "product": {
                "id": 7013593874511,
                "title": "Magic In A Box",
                "price": "24.00",
                "handle": "magic-in-a-box",
                "images": [{"src": "https://cdn.shopify.com/s/files/1/magic.png"}],
                "variant": {"id": 40645138776143, "title": "250 ml"},
            }
        }
    ],
    "reorderable_product_ids": [7013593874511],
    "reorderable_product_titles": ["Magic In A Box"],
    "due_date": "2026-11-25",
}


def make_event(key: str = "due:42:2026-11-25", recipient: Recipient = PERSON) -> DueEvent:
    return DueEvent(
        kind="due",
        idempotency_key=key,
        occurred_at=datetime(2026, 11, 25, 14, 0, 0, 250000, tzinfo=UTC),
        cart_url=CART,
        due_date=date(2026, 11, 25),
        products=(PRODUCT,),
        value_cents=2400,
        currency="USD",
        recipient=recipient,
    )


@dataclass
class Harness:
    """One provider's fake and a way to build a client for it with recorded retry sleeps."""

    name: str
    fake: ProviderFake
    url: str
    sleeps: list[float] = field(default_factory=list)

    def client(self, url: str | None = None, **options) -> HttpMessagingClient:
        options.setdefault("timeout", 2.0)
        options.setdefault("retry", RetryPolicy(sleep=self.sleeps.append, rng=random.Random(7)))
        api_key = options.pop("api_key", self.fake.api_key)
        url = url or self.url
        if self.name == "klaviyo":
            revision = options.pop("revision", self.fake.revision)
            return KlaviyoClient(api_key, url, revision=revision, **options)
        if self.name == "postscript":
            return PostscriptClient(api_key, url, **options)
        return AttentiveClient(api_key, url, **options)


def _harness(servers, name: str) -> Iterator[Harness]:
    fake, url = servers[name]
    fake.reset()
    yield Harness(name, fake, url)
    fake.wait_idle()


@pytest.fixture(params=PROVIDERS)
def provider(request, servers) -> Iterator[Harness]:
    yield from _harness(servers, request.param)


@pytest.fixture
def klaviyo(servers) -> Iterator[Harness]:
    yield from _harness(servers, "klaviyo")


@pytest.fixture
def postscript(servers) -> Iterator[Harness]:
    yield from _harness(servers, "postscript")


@pytest.fixture
def attentive(servers) -> Iterator[Harness]:
    yield from _harness(servers, "attentive")


# --- exact payloads as received ---------------------------------------------------------------


def test_klaviyo_event_as_received(klaviyo):
    with klaviyo.client() as client:
        client.send_event(make_event())
    (seen,) = klaviyo.fake.requests
    assert (seen.method, seen.path, seen.status) == ("POST", "/api/events", 202)
    assert seen.headers["authorization"] == f"Klaviyo-API-Key {klaviyo.fake.api_key}"
    assert seen.headers["revision"] == "2026-07-15"
    assert seen.headers["accept"] == "application/vnd.api+json"
    assert seen.headers["content-type"] == "application/vnd.api+json"
    assert seen.body == {
        "data": {
            "type": "event",
            "attributes": {
                "properties": PROPERTIES,
                "time": "2026-11-25T14:00:00+00:00",
                "value": 24.0,
                "value_currency": "USD",
                "unique_id": "due:42:2026-11-25",
                "metric": {
                    "data": {"type": "metric", "attributes": {"name": "Repeat - Due To Replenish"}}
                },
                "profile": {
                    "data": {
                        "type": "profile",
                        "attributes": {
                            "email": "ava@example.com",
                            "phone_number": "+14155552671",
                            "external_id": "cust-42",
                        },
                    }
                },
            },
        }
    }
    assert klaviyo.fake.events == [seen.body]


def test_postscript_event_as_received(postscript):
    with postscript.client() as client:
        client.send_event(make_event())
    (seen,) = postscript.fake.requests
    assert (seen.method, seen.path, seen.status) == ("POST", "/api/v2/events", 202)
    assert seen.headers["authorization"] == f"Bearer {postscript.fake.api_key}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == {
        "type": "DueToReplenish",
        "email": "ava@example.com",
        "phone": "+14155552671",
        "occurred_at": "2026-11-25 14:00:00.250",
        "external_id": "due:42:2026-11-25",
        "properties": PROPERTIES,
    }


def test_attentive_event_as_received(attentive):
    with attentive.client(attentive.url + "/v1") as client:  # the docs' base form works too
        client.send_event(make_event())
    (seen,) = attentive.fake.requests
    assert (seen.method, seen.path, seen.status) == ("POST", "/v1/events/custom", 200)
    assert seen.headers["authorization"] == f"Bearer {attentive.fake.api_key}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == {
        "type": "Repeat - Due To Replenish",
        "properties": PROPERTIES,
        "externalEventId": "due:42:2026-11-25",
        "occurredAt": "2026-11-25T14:00:00+00:00",
        "user": {
            "phone": "+14155552671",
            "email": "ava@example.com",
            "externalIdentifiers": {"clientUserId": "cust-42"},
        },
    }


# --- retries ----------------------------------------------------------------------------------


def test_klaviyo_429_storm_honours_retry_after(klaviyo):
    klaviyo.fake.fail_next(5, 429, retry_after=2)
    with klaviyo.client() as client:
        client.send_event(make_event())
    assert klaviyo.fake.statuses() == [429] * 5 + [202]
    assert len(klaviyo.sleeps) == 5
    assert all(2.0 <= pause <= 3.0 for pause in klaviyo.sleeps)
    assert len(klaviyo.fake.events) == 1


@pytest.mark.parametrize("name", ["postscript", "attentive"])
def test_429_without_retry_after_backs_off(request, name):
    harness: Harness = request.getfixturevalue(name)
    harness.fake.fail_next(4, 429)
    with harness.client() as client:
        client.send_event(make_event())
    assert harness.fake.statuses() == [429] * 4 + [202 if name == "postscript" else 200]
    assert len(harness.sleeps) == 4
    assert all(0 <= pause <= RetryPolicy().max_delay for pause in harness.sleeps)
    assert len(harness.fake.events) == 1


def test_5xx_retried_then_success(provider):
    provider.fake.fail_next(2, 500)
    provider.fake.fail_next(1, 503)
    with provider.client() as client:
        client.send_event(make_event())
    assert provider.fake.statuses()[:3] == [500, 500, 503]
    assert len(provider.fake.requests) == 4
    assert len(provider.sleeps) == 3
    assert len(provider.fake.events) == 1


def test_a_timeout_is_retried(provider):
    provider.fake.delay_next(1, 0.5)
    with provider.client(timeout=0.2) as client:
        client.send_event(make_event())
    assert len(provider.sleeps) == 1
    provider.fake.wait_idle()
    # the slow first request still lands after the client gave up: Klaviyo's unique_id keeps
    # one event, the others record two (why the outbox, not the provider, prevents repeats)
    assert provider.fake.event_receipts["due:42:2026-11-25"] == 2
    assert len(provider.fake.events) == (1 if provider.name == "klaviyo" else 2)


def test_connection_resets_are_retried_then_reported(provider):
    with (
        closing_port() as url,
        provider.client(url) as client,
        pytest.raises(ProviderError) as caught,
    ):
        client.send_event(make_event())
    assert caught.value.status is None
    assert not caught.value.auth_failed
    assert len(provider.sleeps) == RetryPolicy().attempts - 1


def test_a_permanent_400_is_not_retried(provider):
    provider.fake.fail_next(1, 400)
    with provider.client() as client, pytest.raises(ProviderError) as caught:
        client.send_event(make_event())
    assert caught.value.status == 400
    assert not caught.value.auth_failed
    assert len(provider.fake.requests) == 1
    assert provider.sleeps == []
    if provider.name == "klaviyo":
        assert caught.value.detail == "Injected failure."  # from errors[].detail


def test_klaviyo_contract_violation_carries_klaviyo_detail(klaviyo):
    with klaviyo.client(revision="2020-01-01") as client, pytest.raises(ProviderError) as caught:
        client.send_event(make_event())
    assert caught.value.status == 400
    assert "revision" in caught.value.detail
    assert len(klaviyo.fake.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_auth_failed_and_never_shown(provider, status):
    provider.fake.invalid_key(status)
    with provider.client() as client, pytest.raises(ProviderError) as caught:
        client.send_event(make_event())
    assert caught.value.status == status
    assert caught.value.auth_failed
    assert len(provider.fake.requests) == 1
    assert provider.fake.api_key not in str(caught.value)
    assert provider.fake.api_key not in repr(client)


def test_a_wrong_key_is_auth_failed(provider):
    client = provider.client(api_key="sk_wrong_key_123")
    with client, pytest.raises(ProviderError) as caught:
        client.send_event(make_event())
    assert caught.value.auth_failed
    assert "sk_wrong_key_123" not in str(caught.value)


# --- idempotency and limits -------------------------------------------------------------------


def test_klaviyo_records_a_repeated_unique_id_once(klaviyo):
    with klaviyo.client() as client:
        client.send_event(make_event())
        client.send_event(make_event())
        client.send_event(make_event("due:43:2026-11-25"))
    assert klaviyo.fake.statuses() == [202, 202, 202]
    assert klaviyo.fake.event_receipts == {"due:42:2026-11-25": 2, "due:43:2026-11-25": 1}
    assert [e["data"]["attributes"]["unique_id"] for e in klaviyo.fake.events] == [
        "due:42:2026-11-25",
        "due:43:2026-11-25",
    ]


def test_the_client_stays_under_the_limit_on_its_own():
    fake = FakePostscript(rate_per_second=20)
    sleeps: list[float] = []
    with fake.serve() as server:
        client = PostscriptClient(
            fake.api_key,
            server.url,
            retry=RetryPolicy(sleep=sleeps.append),
            limiters={"events": limiter_for(20)},
        )
        with client:
            for number in range(60):
                client.send_event(make_event(f"due:{number}:2026-11-25"))
    assert fake.count(429) == 0
    assert sleeps == []
    assert len(fake.events) == 60


# --- profile properties, keys, identifiers ----------------------------------------------------


def test_klaviyo_set_cart_url_creates_then_updates_the_profile(klaviyo):
    with klaviyo.client() as client:
        client.set_cart_url(PERSON, CART)
        client.set_cart_url(PERSON, CART + "-rotated")
    assert klaviyo.fake.statuses() == [201, 200]
    (properties,) = klaviyo.fake.profiles.values()
    assert properties == {"Repeat Cart URL": CART + "-rotated"}
    assert klaviyo.fake.profile_updates[0] == {
        "data": {
            "type": "profile",
            "attributes": {
                "email": "ava@example.com",
                "phone_number": "+14155552671",
                "external_id": "cust-42",
                "properties": {"Repeat Cart URL": CART},
            },
        }
    }


def test_attentive_set_cart_url_is_a_custom_attribute(attentive):
    with attentive.client() as client:
        client.set_cart_url(PERSON, CART)
    (seen,) = attentive.fake.requests
    assert (seen.path, seen.status) == ("/v1/attributes/custom", 200)
    assert seen.body == {
        "properties": {"Repeat Cart URL": CART},
        "user": {
            "phone": "+14155552671",
            "email": "ava@example.com",
            "externalIdentifiers": {"clientUserId": "cust-42"},
        },
    }


def test_postscript_set_cart_url_sends_nothing(postscript):
    with postscript.client() as client:
        client.set_cart_url(PERSON, CART)
    assert postscript.fake.requests == []


def test_check_key(provider):
    # Klaviyo allows /api/accounts 1/s and 15/min; the client paces itself to that, too slowly
    # for a test that checks twice
    fast = {"accounts": RateLimiter(100)} if provider.name == "klaviyo" else None
    with provider.client(limiters=fast) as client:
        client.check_key()
        provider.fake.invalid_key(401)
        with pytest.raises(ProviderError) as caught:
            client.check_key()
    assert caught.value.auth_failed
    assert provider.fake.statuses() == [200, 401]


def test_only_an_invalid_phone_is_accepted_by_no_provider(provider):
    nobody = Recipient(email=None, phone="+11234567890", external_id=None)
    with provider.client() as client:
        assert not client.accepts(nobody)
        with pytest.raises(ValueError):
            client.send_event(make_event(recipient=nobody))
        assert client.accepts(PERSON)
        external_only = Recipient(email=None, phone=None, external_id="cust-42")
        assert client.accepts(external_only) == (provider.name != "postscript")
    assert provider.fake.requests == []


def test_clients_from_settings_builds_one_per_key():
    from services.core.config import Settings

    settings = Settings(klaviyo_api_key="pk_x", attentive_api_key="att_x", postscript_api_key="")
    clients = clients_from_settings(settings)
    try:
        assert [client.provider for client in clients] == ["klaviyo", "attentive"]
    finally:
        for client in clients:
            client.close()
    assert clients_from_settings(Settings(klaviyo_api_key="")) == []


# --- the fakes enforce the contract -----------------------------------------------------------


def test_fake_klaviyo_rejects_contract_violations(klaviyo):
    key = klaviyo.fake.api_key
    good = {
        "authorization": f"Klaviyo-API-Key {key}",
        "revision": "2026-07-15",
        "accept": "application/vnd.api+json",
        "content-type": "application/vnd.api+json",
    }
    body = {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {},
                "metric": {"data": {"type": "metric", "attributes": {"name": "X"}}},
                "profile": {"data": {"type": "profile", "attributes": {"phone_number": "+1415"}}},
            },
        }
    }
    with httpx.Client(base_url=klaviyo.url) as http:
        assert http.post("/api/events", json=body, headers=good).status_code == 400
        assert (
            http.post("/api/events", json=body, headers={**good, "revision": ""}).json()["errors"][
                0
            ]["code"]
            == "missing_revision"
        )
        plain = {**good, "content-type": "application/json"}
        assert http.post("/api/events", json=body, headers=plain).status_code == 415
        bearer = {**good, "authorization": f"Bearer {key}"}
        assert http.post("/api/events", json=body, headers=bearer).status_code == 401
    assert "Invalid phone number" in klaviyo.fake.reasons()[0]
    assert klaviyo.fake.events == []


def test_fake_postscript_and_attentive_reject_contract_violations(postscript, attentive):
    ps = {"authorization": f"Bearer {postscript.fake.api_key}"}
    at = {"authorization": f"Bearer {attentive.fake.api_key}"}
    with httpx.Client(base_url=postscript.url) as http:
        bad_type = {"type": "Due To Replenish", "email": "a@b.co"}
        assert http.post("/api/v2/events", json=bad_type, headers=ps).status_code == 400
        six_digits = {"type": "Due", "email": "a@b.co", "occurred_at": "2026-11-25 14:00:00.000000"}
        assert http.post("/api/v2/events", json=six_digits, headers=ps).json() == {}
        no_one = {"type": "Due", "external_id": "k"}
        assert http.post("/api/v2/events", json=no_one, headers=ps).status_code == 400
    with httpx.Client(base_url=attentive.url) as http:
        array = {"properties": {"ids": [1, 2]}, "user": {"email": "a@b.co"}}
        assert http.post("/v1/attributes/custom", json=array, headers=at).status_code == 400
        extra_user = {"type": "Due", "user": {"email": "a@b.co", "name": "Ava"}}
        assert http.post("/v1/events/custom", json=extra_user, headers=at).status_code == 400
        bad_type = {"type": "Due (soon)", "user": {"email": "a@b.co"}}
        assert http.post("/v1/events/custom", json=bad_type, headers=at).status_code == 400
        bad_key = {"type": "Due", "properties": {"a|b": 1}, "user": {"email": "a@b.co"}}
        assert http.post("/v1/events/custom", json=bad_key, headers=at).status_code == 400
        no_offset = {
            "type": "Due",
            "occurredAt": "2026-11-25T14:00:00",
            "user": {"email": "a@b.co"},
        }
        assert http.post("/v1/events/custom", json=no_offset, headers=at).status_code == 400
    assert postscript.fake.events == [] and attentive.fake.events == []


def test_fake_limits_answer_like_the_providers():
    klaviyo = FakeKlaviyo(rate_per_second=100, rate_per_minute=2)
    postscript = FakePostscript(rate_per_second=2)
    with klaviyo.serve() as k_server, postscript.serve() as p_server:
        headers = {"authorization": f"Klaviyo-API-Key {klaviyo.api_key}", "revision": "2026-07-15"}
        headers["accept"] = "application/vnd.api+json"
        with httpx.Client(base_url=k_server.url, headers=headers) as http:
            replies = [http.get("/api/accounts") for _ in range(3)]
            assert [r.status_code for r in replies] == [200, 200, 429]
            assert 59 <= int(replies[2].headers["retry-after"]) <= 60
            assert replies[2].json()["errors"][0]["code"] == "throttled"
        with httpx.Client(base_url=p_server.url) as http:
            auth = {"authorization": f"Bearer {postscript.api_key}"}
            replies = [http.get("/api/v2/me", headers=auth) for _ in range(3)]
            assert replies[2].status_code == 429
            assert "retry-after" not in replies[2].headers
            assert replies[2].json() == {
                "error_code": 3002,
                "error_message": "Rate limit exceeded",
                "success": False,
            }
