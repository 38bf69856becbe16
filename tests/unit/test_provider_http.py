"""The one retry policy and rate limiter every provider client shares."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest

from services.core.provider_http import (
    ProviderError,
    RateLimiter,
    RetryPolicy,
    retry_after_seconds,
)
from services.core.shutdown import request_stop, reset_stop

REQUEST = httpx.Request("POST", "https://provider.test/api")


def reply(status: int, headers: dict[str, str] | None = None, body: str = "") -> httpx.Response:
    return httpx.Response(status, headers=headers, text=body, request=REQUEST)


def scripted(*outcomes: httpx.Response | Exception) -> tuple[Callable[[], httpx.Response], list]:
    calls: list[int] = []

    def send() -> httpx.Response:
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return send, calls


def policy(sleeps: list[float], **overrides) -> RetryPolicy:  # noqa: ANN003
    return RetryPolicy(sleep=sleeps.append, rng=random.Random(1), **overrides)


def test_transient_statuses_are_retried_until_success() -> None:
    sleeps: list[float] = []
    send, calls = scripted(reply(500), reply(502), reply(200, body="ok"))
    assert policy(sleeps).send("Test", send).text == "ok"
    assert len(calls) == 3 and len(sleeps) == 2


def test_retry_after_is_honoured_with_a_little_jitter_on_top() -> None:
    sleeps: list[float] = []
    send, _ = scripted(reply(429, {"Retry-After": "3"}), reply(200))
    policy(sleeps).send("Test", send)
    assert 3.0 <= sleeps[0] <= 4.0


def test_timeouts_and_resets_are_retried() -> None:
    sleeps: list[float] = []
    send, calls = scripted(
        httpx.ReadTimeout("slow", request=REQUEST),
        httpx.RemoteProtocolError("reset", request=REQUEST),
        reply(202),
    )
    assert policy(sleeps).send("Test", send).status_code == 202
    assert len(calls) == 3


def test_a_permanent_error_is_returned_at_once_for_the_client_to_explain() -> None:
    sleeps: list[float] = []
    send, calls = scripted(reply(400, body='{"errors": []}'))
    assert policy(sleeps).send("Test", send).status_code == 400
    assert len(calls) == 1 and sleeps == []


def test_running_out_of_attempts_raises_with_the_last_status() -> None:
    sleeps: list[float] = []
    send, calls = scripted(*[reply(503, body="down")] * 4)
    with pytest.raises(ProviderError) as raised:
        policy(sleeps, attempts=4).send("Test", send)
    assert raised.value.status == 503 and "down" in str(raised.value)
    assert len(calls) == 4


def test_an_unreachable_provider_raises_without_a_status() -> None:
    send, _ = scripted(*[httpx.ConnectError("refused", request=REQUEST)] * 3)
    with pytest.raises(ProviderError, match="unreachable") as raised:
        policy([], attempts=3).send("Test", send)
    assert raised.value.status is None


def test_a_retry_after_longer_than_the_run_waits_gives_up_at_once() -> None:
    sleeps: list[float] = []
    send, calls = scripted(reply(429, {"Retry-After": "3600"}), reply(200))
    with pytest.raises(ProviderError, match="asked to wait 3600"):
        policy(sleeps, max_retry_after=60).send("Test", send)
    assert len(calls) == 1 and sleeps == []


def test_backoff_grows_exponentially_and_is_capped() -> None:
    retry = RetryPolicy(initial_delay=1.0, max_delay=8.0, rng=random.Random(3))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [retry.delay(attempt, None) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # full jitter spreads over the whole range


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds(reply(429, {"Retry-After": "2.5"})) == 2.5
    later = {"Retry-After": "Wed, 25 Nov 2026 12:00:10 GMT"}
    sent = {"Date": "Wed, 25 Nov 2026 12:00:00 GMT"}
    assert retry_after_seconds(reply(503, {**later, **sent})) == 10.0  # on the server's clock
    assert retry_after_seconds(reply(503, later)) is None
    assert retry_after_seconds(reply(429, {"Retry-After": "soon"})) is None
    assert retry_after_seconds(reply(429)) is None


def test_the_auth_failure_flag_marks_refused_keys() -> None:
    assert ProviderError("Test", "refused", status=401).auth_failed
    assert not ProviderError("Test", "bad body", status=400).auth_failed


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_rate_limiter_spaces_requests_after_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(12):
        limiter.acquire()
    # two from the burst, then ten more at ten per second
    assert clock.now == pytest.approx(1.0)


def test_the_rate_limiter_refuses_a_zero_rate() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_a_stop_request_ends_the_retries_instead_of_sleeping() -> None:
    calls: list[int] = []

    def failing() -> httpx.Response:
        calls.append(1)
        return reply(503, {"Retry-After": "60"})

    reset_stop()
    request_stop()
    try:
        with pytest.raises(ProviderError, match="the process is stopping"):
            RetryPolicy(attempts=5).send("klaviyo", failing)
    finally:
        reset_stop()
    assert len(calls) == 1  # one try, no 60 s wait, no second try
