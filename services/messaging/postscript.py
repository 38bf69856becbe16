"""Postscript (SMS): custom events (`POST /api/v2/events`) that start the merchant's flows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import httpx

from services.core.provider_http import RateLimiter, RetryPolicy
from services.messaging import payloads
from services.messaging.base import DueEvent, HttpMessagingClient, Recipient

__all__ = ["PostscriptClient"]


class PostscriptClient(HttpMessagingClient):
    """15 requests/s per key; a 429 has no Retry-After, so the policy's backoff applies."""

    provider: ClassVar[str] = "postscript"
    default_limits: ClassVar[Mapping[str, tuple[float, float | None]]] = {
        "events": (15, None),
        "me": (15, None),
    }

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.postscript.io",
        *,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
        limiters: Mapping[str, RateLimiter] | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout=timeout, retry=retry, limiters=limiters)
        # one key, one budget: the check shares the events' limiter unless told otherwise
        if not limiters or "me" not in limiters:
            self.limiters["me"] = self.limiters["events"]

    def _headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}", "accept": "application/json"}

    @staticmethod
    def accepts(recipient: Recipient) -> bool:
        return bool(payloads.postscript_identifiers(recipient))

    def send_event(self, event: DueEvent) -> None:
        """202 on success. Postscript's de-duplication on `external_id` is unconfirmed: the
        outbox, not this call, is what keeps an event from going out twice."""
        self._require(event.recipient)
        self._request("events", "POST", "/api/v2/events", payloads.postscript_event_body(event))

    def set_cart_url(self, recipient: Recipient, cart_url: str) -> None:
        """Nothing to do: Postscript's subscriber properties are keyed by its own subscriber
        id, which we do not have; its flows read `Repeat Cart URL` from each event instead."""

    def check_key(self) -> None:
        """`GET /api/v2/me` ("Verify Identity" in Postscript's reference; not in our contract
        notes, so a 404 here means the endpoint moved, not that the key is bad)."""
        self._request("me", "GET", "/api/v2/me")
