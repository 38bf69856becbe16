"""Klaviyo: events (`POST /api/events`), the profile's cart link (`POST /api/profile-import`),
profile properties in bulk (`POST /api/profile-bulk-import-jobs`).

JSON:API over `application/vnd.api+json` with a pinned `revision`. Klaviyo limits per account
in two windows (1 s burst, 1 min steady), so each endpoint's limiter fits both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx

from services.core.provider_http import ProviderError, RateLimiter, RetryPolicy
from services.messaging import klaviyo_profiles, payloads
from services.messaging.base import DueEvent, HttpMessagingClient, Recipient

__all__ = ["KlaviyoClient"]

JSON_API = "application/vnd.api+json"


class KlaviyoClient(HttpMessagingClient):
    provider: ClassVar[str] = "klaviyo"
    content_type: ClassVar[str] = JSON_API
    default_limits: ClassVar[Mapping[str, tuple[float, float | None]]] = {
        "events": (350, 3500),
        "profile-import": (75, 700),
        "profile-bulk-import-jobs": (10, 150),
        "accounts": (1, 15),
    }

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://a.klaviyo.com",
        *,
        revision: str = "2026-07-15",
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
        limiters: Mapping[str, RateLimiter] | None = None,
    ) -> None:
        self.revision = revision
        super().__init__(api_key, base_url, timeout=timeout, retry=retry, limiters=limiters)

    def _headers(self, api_key: str) -> dict[str, str]:
        return {
            "authorization": f"Klaviyo-API-Key {api_key}",
            "revision": self.revision,
            "accept": JSON_API,
        }

    def _error_detail(self, response: httpx.Response) -> str:
        """Klaviyo explains a refusal in `errors[].detail` (JSON:API error objects)."""
        try:
            errors = response.json().get("errors") or []
            details = [str(error.get("detail") or error.get("title")) for error in errors]
        except (ValueError, AttributeError):
            return response.text
        return "; ".join(details) or response.text

    @staticmethod
    def accepts(recipient: Recipient) -> bool:
        return bool(payloads.klaviyo_identifiers(recipient))

    def send_event(self, event: DueEvent) -> None:
        """202 on success; Klaviyo records one event per (profile, metric, unique_id)."""
        self._require(event.recipient)
        self._request("events", "POST", "/api/events", payloads.klaviyo_event_body(event))

    def set_cart_url(self, recipient: Recipient, cart_url: str) -> None:
        """Profile import upserts (200/201); `POST /api/profiles` would 409 on existing ones."""
        self._require(recipient)
        body = payloads.klaviyo_profile_import_body(recipient, cart_url)
        self._request("profile-import", "POST", "/api/profile-import", body)

    def import_profiles(self, profiles: Sequence[dict[str, Any]]) -> str:
        """Start a bulk profile import job (upserts; see `klaviyo_profiles.split_jobs` for the
        limits); returns the job id. Only 202 means Klaviyo took the job."""
        body = klaviyo_profiles.bulk_import_body(profiles)
        path = "/api/profile-bulk-import-jobs"
        response = self._request("profile-bulk-import-jobs", "POST", path, body)
        if response.status_code != 202:
            raise ProviderError(
                self.provider, f"POST {path} was not accepted", status=response.status_code
            )
        try:
            return str(response.json()["data"]["id"])
        except (ValueError, KeyError, TypeError):
            return ""

    def check_key(self) -> None:
        """`GET /api/accounts` answers for any valid private key (scope `accounts:read`; a key
        without that scope gets 403 here although it may still send events)."""
        self._request("accounts", "GET", "/api/accounts")
