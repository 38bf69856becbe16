"""The one way RepeatCart talks HTTP to providers: a retry policy and a request-rate limiter.

Shopify, Klaviyo, Postscript and Attentive all fail the same ways (429 with or without
`Retry-After`, 503, other 5xx, timeouts, connection resets), so every client sends through
`RetryPolicy.send` and differs only in how it reads a reply (`classify`). Retrying is tenacity's
job; this module only says what is worth retrying and how long to wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from services.core.shutdown import stop_requested, wait_unless_stopping

__all__ = [
    "RETRY_STATUSES",
    "ProviderError",
    "RateLimiter",
    "RetryLater",
    "RetryPolicy",
    "default_classify",
    "retry_after_seconds",
]

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Statuses that say "not now" rather than "never"; everything else is final."""


class ProviderError(Exception):
    """A provider's final answer that is not a success, or retries that ran out.

    `status` is None when no HTTP reply came at all (timeouts, resets). `detail` is a short,
    secret-free excerpt of the reply body for logs and the merchant's delivery log.
    """

    def __init__(
        self, provider: str, message: str, *, status: int | None = None, detail: str = ""
    ) -> None:
        self.provider = provider
        self.status = status
        self.detail = detail[:500]
        suffix = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{provider}: {message}{suffix}" + (f": {self.detail}" if detail else ""))

    @property
    def auth_failed(self) -> bool:
        """401/403: the key is wrong or revoked; retrying would only repeat the refusal."""
        return self.status in (401, 403)

    @property
    def transient(self) -> bool:
        """No reply, or a status the retry policy itself retries (429, 503...): the same call
        may pass later. A GraphQL refusal (status 200) is not."""
        return self.status is None or self.status in RETRY_STATUSES


class RetryLater(Exception):
    """Raised by a `classify` function: this reply is transient; wait at least `after` seconds."""

    def __init__(self, response: httpx.Response, after: float | None = None) -> None:
        self.response = response
        self.after = after
        super().__init__(f"HTTP {response.status_code}, retry after {after}")


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds, whether given as a number or an HTTP date; None when absent.

    An HTTP date is read against the reply's own `Date`: the server's clock set both, so neither
    our clock nor its skew from the server's changes the wait (None without a `Date`).
    """
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        wait = parsedate_to_datetime(value) - parsedate_to_datetime(response.headers.get("date"))
    except (TypeError, ValueError):
        return None
    return max(0.0, wait.total_seconds())


def default_classify(response: httpx.Response) -> None:
    """Raise `RetryLater` for transient statuses; anything else is the caller's to read."""
    if response.status_code in RETRY_STATUSES:
        raise RetryLater(response, retry_after_seconds(response))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, never shorter than what the provider asked for.

    `attempts` counts the first try. A `Retry-After` longer than `max_retry_after` ends the
    retries at once: a worker should not sit blocked for an hour; the caller keeps the work and
    tries again on a later run.
    """

    attempts: int = 6
    initial_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = wait_unless_stopping
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def send(
        self,
        provider: str,
        request: Callable[[], httpx.Response],
        classify: Callable[[httpx.Response], None] = default_classify,
    ) -> httpx.Response:
        """Call `request` until `classify` accepts its reply; return that reply.

        Raises `ProviderError` when the attempts run out or a wait would be too long. A
        non-transient error status is returned as is, for the client to turn into its error.
        """

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if stop_requested():  # keep the work for the next run rather than sleep on it
                raise ProviderError(provider, "not retried: the process is stopping") from exc
            asked = exc.after if isinstance(exc, RetryLater) else None
            if asked is not None and asked > self.max_retry_after:
                assert isinstance(exc, RetryLater)
                raise ProviderError(
                    provider,
                    f"asked to wait {asked:.0f} s, longer than this run waits",
                    status=exc.response.status_code,
                ) from exc
            return self.delay(state.attempt_number, asked)

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait,
            retry=retry_if_exception_type((RetryLater, httpx.TransportError)),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = request()
                    classify(response)
                    return response
        except RetryLater as exc:
            raise ProviderError(
                provider,
                f"still failing after {self.attempts} attempts",
                status=exc.response.status_code,
                detail=exc.response.text,
            ) from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                provider, f"unreachable after {self.attempts} attempts: {type(exc).__name__}"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def delay(self, attempt: int, asked: float | None) -> float:
        """Seconds before retry number `attempt` (1-based), given the provider's own ask."""
        ceiling = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        backoff = self.rng.uniform(0, ceiling)
        if asked is None:
            return backoff
        # a little jitter on top, so many clients told the same second do not return together
        return asked + self.rng.uniform(0, min(1.0, ceiling))


class RateLimiter:
    """A token bucket shared by the threads of one process: `acquire()` blocks until allowed.

    Providers publish requests-per-second limits; staying under them ourselves is cheaper than
    collecting 429s. `rate` tokens per second, at most `burst` saved up.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens`, sleeping as needed; returns the seconds slept."""
        slept = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= tokens - 1e-9:  # float dust must not stall the loop
                    self._tokens -= tokens
                    return slept
                wait = (tokens - self._tokens) / self.rate
            self._sleep(wait)
            slept += wait
