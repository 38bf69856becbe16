"""What the messaging adapters take and promise: plain records in, `ProviderError` out.

The dispatcher (orchestration) turns outbox rows into these records and calls any
`MessagingClient` the same way; it never learns a provider's wire format, and the adapters never
see a table. `HttpMessagingClient` holds what the three HTTP clients share: one `httpx.Client`,
the project's one `RetryPolicy`, and a `RateLimiter` per endpoint.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from services.core.moments import EventKind
from services.core.provider_http import ProviderError, RateLimiter, RetryPolicy, default_classify

__all__ = [
    "DueEvent",
    "DueProduct",
    "EventKind",
    "HttpMessagingClient",
    "MessagingClient",
    "Recipient",
    "SubscriptionOffer",
    "limiter_for",
]


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who the event is about. `phone` is E.164 already (see `phone.to_e164`)."""

    email: str | None
    phone: str | None
    external_id: str | None


@dataclass(frozen=True, slots=True)
class DueProduct:
    """One product the customer is due to reorder, with the ids Repeat's flows expect."""

    product_gid: str
    product_id_numeric: int
    title: str
    handle: str
    price_cents: int
    currency: str
    image_url: str | None
    variant_gid: str
    variant_id_numeric: int
    variant_title: str


@dataclass(frozen=True, slots=True)
class SubscriptionOffer:
    """What a Primed For Subscription event proposes: the customer's cadence (the mean days
    between their orders of the product) and the selling plan closest to it, as the shop
    defines it (interval, and the first pricing policy's adjustment)."""

    cadence_days: float
    plan_gid: str
    plan_name: str
    interval_unit: str | None = None
    interval_count: int | None = None
    interval_days: float | None = None
    adjustment_type: str | None = None  # PERCENTAGE | FIXED_AMOUNT | PRICE
    adjustment_percent: float | None = None
    adjustment_cents: int | None = None


@dataclass(frozen=True, slots=True)
class DueEvent:
    """One "due" or "late" event per customer per due cycle, one "lapse" event per lapse
    cycle (which also carries the days since their last order), one "cross_sell" event per
    order that primes it (its one product is the one offered), or one "subscription" event per
    order that completes a steady run of one product (that product, and `subscription`: the
    cadence and the closest selling plan); `occurred_at` is aware UTC.

    `idempotency_key` goes to every provider's de-duplication field, so a retried send of the
    same outbox row is the same event.
    """

    kind: EventKind
    idempotency_key: str
    occurred_at: datetime
    cart_url: str
    due_date: date
    products: tuple[DueProduct, ...]
    value_cents: int
    currency: str
    recipient: Recipient
    days_since_last_order: int | None = None
    discount_code: str = ""  # the customer's own code, or the shop's; "" sends none
    # the subscription cart's link, when the customer's cart has a product with a selling plan
    subscription_cart_url: str | None = None
    subscription: SubscriptionOffer | None = None


@runtime_checkable
class MessagingClient(Protocol):
    """One integration. Every method raises `ProviderError` on a final refusal or exhausted
    retries; `error.auth_failed` tells the caller to stop using the key."""

    @property
    def provider(self) -> str:
        """The provider's name, as the registry lists it."""
        ...

    def send_event(self, event: DueEvent) -> None:
        """Deliver one event; raises ValueError when `accepts(event.recipient)` is False."""
        ...

    def set_cart_url(self, recipient: Recipient, cart_url: str) -> None:
        """Store the cart link on the customer's profile, where the provider has one."""
        ...

    def check_key(self) -> None:
        """One cheap authenticated request, so the merchant learns of a bad key at once."""
        ...

    def accepts(self, recipient: Recipient) -> bool:
        """Whether the recipient has an identifier (well-formed) that this provider takes."""
        ...

    def close(self) -> None: ...


def limiter_for(
    per_second: float, per_minute: float | None = None, *, headroom: float = 0.96
) -> RateLimiter:
    """A token bucket that cannot exceed a provider's 1-second (and 1-minute) window.

    A bucket lets through at most `burst + rate × window` in any window, so both fit within
    `headroom` × each published limit. The burst is kept to two requests: a larger one is taken
    out of the steady rate, and steady throughput is what a delivery backlog needs.
    """
    budget = per_second * headroom
    burst = max(1.0, min(2.0, budget * 0.2))
    rate = max(budget - burst, budget * 0.5)
    if per_minute is not None:
        rate = min(rate, (per_minute * headroom - burst) / 60)
    return RateLimiter(rate, burst)


class HttpMessagingClient(ABC):
    """The shared HTTP half of a client: headers, limiter per endpoint, retries, errors.

    Subclasses name their endpoints in `default_limits` (`endpoint: (per_second, per_minute)`);
    `limiters` replaces any of them (tests use slow fakes, benchmarks fast ones, and clients
    in one process can share a limiter because the providers count per key).
    """

    provider: ClassVar[str]
    default_limits: ClassVar[Mapping[str, tuple[float, float | None]]]
    content_type: ClassVar[str] = "application/json"

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
        limiters: Mapping[str, RateLimiter] | None = None,
    ) -> None:
        if not api_key:
            raise ValueError(f"{self.provider}: an API key is required")
        self._api_key = api_key
        self._retry = retry or RetryPolicy()
        self.limiters: dict[str, RateLimiter] = {
            name: limiter_for(*limits) for name, limits in self.default_limits.items()
        }
        self.limiters.update(limiters or {})
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers=self._headers(api_key),
            follow_redirects=False,
        )

    @abstractmethod
    def _headers(self, api_key: str) -> dict[str, str]:
        """Auth and content headers sent with every request."""

    def _error_detail(self, response: httpx.Response) -> str:
        """The provider's own words for a refusal; subclasses read their error shape."""
        try:
            body = response.json()
        except ValueError:
            return response.text
        if isinstance(body, dict):
            for key in ("error_message", "message", "error", "detail"):
                if isinstance(body.get(key), str):
                    return body[key]
        return response.text

    def _request(
        self, endpoint: str, method: str, path: str, body: Any | None = None
    ) -> httpx.Response:
        """Send through the shared retry policy; return the 2xx reply or raise `ProviderError`.

        The limiter is taken on every attempt, so retries count against the provider's limit
        like any other request.
        """
        limiter = self.limiters[endpoint]
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = None if body is None else {"content-type": self.content_type}

        def attempt() -> httpx.Response:
            limiter.acquire()
            return self._http.request(method, path, content=content, headers=headers)

        response = self._retry.send(self.provider, attempt, default_classify)
        if response.is_success:
            return response
        what = "rejected the API key" if response.status_code in (401, 403) else "refused"
        raise ProviderError(
            self.provider,
            f"{method} {path} {what}",
            status=response.status_code,
            detail=self._redact(self._error_detail(response)),
        )

    def _redact(self, text: str) -> str:
        """Never let the key reach an exception or a log, even if a provider echoes it."""
        return text.replace(self._api_key, "***") if self._api_key else text

    def _require(self, recipient: Recipient) -> None:
        if not self.accepts(recipient):
            raise ValueError(f"{self.provider}: the recipient has no identifier it accepts")

    @abstractmethod
    def send_event(self, event: DueEvent) -> None:
        """Deliver one event (see `MessagingClient`)."""

    @abstractmethod
    def set_cart_url(self, recipient: Recipient, cart_url: str) -> None:
        """Store the cart link on the profile, or do nothing where there is none we can write."""

    @abstractmethod
    def check_key(self) -> None:
        """One cheap authenticated request."""

    @staticmethod
    @abstractmethod
    def accepts(recipient: Recipient) -> bool:
        """Whether the recipient has a (well-formed) identifier this provider takes; a static
        method, so the scan can ask before any client exists."""

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpMessagingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._http.base_url}>"
