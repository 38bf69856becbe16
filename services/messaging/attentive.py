"""Attentive (SMS/email): custom events and custom attributes (the profile's cart link)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import httpx

from services.core.provider_http import RateLimiter, RetryPolicy
from services.messaging import payloads
from services.messaging.base import DueEvent, HttpMessagingClient, Recipient

__all__ = ["AttentiveClient"]


class AttentiveClient(HttpMessagingClient):
    """150 requests/s per endpoint; a 429 has no documented Retry-After (backoff applies)."""

    provider: ClassVar[str] = "attentive"
    default_limits: ClassVar[Mapping[str, tuple[float, float | None]]] = {
        "events": (150, None),
        "attributes": (150, None),
        "me": (150, None),
    }

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.attentivemobile.com",
        *,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
        limiters: Mapping[str, RateLimiter] | None = None,
    ) -> None:
        # the docs give the base with "/v1"; accept it either way, paths carry the version
        base = base_url.rstrip("/")
        base = base.removesuffix("/v1")
        super().__init__(api_key, base, timeout=timeout, retry=retry, limiters=limiters)

    def _headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}", "accept": "application/json"}

    @staticmethod
    def accepts(recipient: Recipient) -> bool:
        return bool(payloads.attentive_user(recipient))

    def send_event(self, event: DueEvent) -> None:
        """200 on success; `externalEventId` carries the idempotency key."""
        self._require(event.recipient)
        self._request("events", "POST", "/v1/events/custom", payloads.attentive_event_body(event))

    def set_cart_url(self, recipient: Recipient, cart_url: str) -> None:
        """A custom attribute, so SMS journeys other than ours can link to the cart too."""
        self._require(recipient)
        body = payloads.attentive_attributes_body(recipient, cart_url)
        self._request("attributes", "POST", "/v1/attributes/custom", body)

    def check_key(self) -> None:
        self._request("me", "GET", "/v1/me")
