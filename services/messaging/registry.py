"""The messaging providers RepeatCart can send to, each described once.

Everything outside this adapter that needs to tell providers apart (the dispatcher's lanes, the
settings a merchant saves, the Integrations page, the CLI) reads it from here, so adding a
provider is one entry below plus its client module and its settings fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from services.core.config import Settings
from services.core.moments import parse_moments
from services.core.provider_http import RetryPolicy
from services.messaging import payloads
from services.messaging.attentive import AttentiveClient
from services.messaging.base import DueEvent, HttpMessagingClient, MessagingClient, Recipient
from services.messaging.klaviyo import KlaviyoClient
from services.messaging.postscript import PostscriptClient

__all__ = [
    "PROVIDERS",
    "PROVIDER_NAMES",
    "Provider",
    "clients_from_settings",
    "enabled_providers",
    "provider",
]

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Provider:
    """One messaging provider: what it is called, which settings configure it, how its client
    is built, and the wire bodies it receives (for a dry run that shows them)."""

    name: str
    label: str
    client: type[HttpMessagingClient]
    event_body: Callable[[DueEvent], Body]
    profile_body: Callable[[Recipient, str], Body] | None  # None: no profile we can write
    test_recipient: Literal["email", "phone"]  # what the merchant types to get a test event
    key_help: str  # which key the merchant pastes, and what it must be allowed to do
    key_setting: str
    enabled_setting: str
    moments_setting: str  # the Moments switched off for this provider
    base_url_setting: str
    client_settings: Mapping[str, str] = field(default_factory=dict)  # client keyword → setting

    @property
    def writes_profile(self) -> bool:
        """Whether the cart link can be stored on the customer's profile at this provider."""
        return self.profile_body is not None

    def accepts(self, recipient: Recipient) -> bool:
        """Whether the recipient has an identifier this provider takes."""
        return self.client.accepts(recipient)

    def api_key(self, settings: Settings) -> str:
        return settings.secret(self.key_setting)

    def enabled(self, settings: Settings) -> bool:
        """Switched on and given a key: only then is anything queued for it."""
        return bool(self.api_key(settings)) and bool(getattr(settings, self.enabled_setting))

    def sends(self, settings: Settings, kind: str) -> bool:
        """Whether this Moment is switched on for this provider (all are, unless listed off)."""
        return kind not in parse_moments(getattr(settings, self.moments_setting))

    def build(
        self,
        settings: Settings,
        *,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
    ) -> MessagingClient:
        """The client for this provider with the key and base URL `settings` hold."""
        options = {kw: getattr(settings, name) for kw, name in self.client_settings.items()}
        return self.client(
            self.api_key(settings),
            getattr(settings, self.base_url_setting),
            timeout=timeout,
            retry=retry,
            **options,
        )


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        name="klaviyo",
        label="Klaviyo",
        client=KlaviyoClient,
        event_body=payloads.klaviyo_event_body,
        profile_body=payloads.klaviyo_profile_import_body,
        test_recipient="email",
        key_help="Email flows: a private API key (pk_…) with events and profiles write access.",
        key_setting="klaviyo_api_key",
        enabled_setting="klaviyo_enabled",
        moments_setting="klaviyo_moments_off",
        base_url_setting="klaviyo_base_url",
        client_settings={"revision": "klaviyo_revision"},
    ),
    Provider(
        name="postscript",
        label="Postscript",
        client=PostscriptClient,
        event_body=payloads.postscript_event_body,
        profile_body=None,  # subscriber properties are keyed by Postscript's own id
        test_recipient="phone",
        key_help="SMS flows: an API key (sk_…) from Postscript's API settings.",
        key_setting="postscript_api_key",
        enabled_setting="postscript_enabled",
        moments_setting="postscript_moments_off",
        base_url_setting="postscript_base_url",
    ),
    Provider(
        name="attentive",
        label="Attentive",
        client=AttentiveClient,
        event_body=payloads.attentive_event_body,
        profile_body=payloads.attentive_attributes_body,
        test_recipient="phone",
        key_help="SMS journeys: an API key from Attentive's custom app, with events write access.",
        key_setting="attentive_api_key",
        enabled_setting="attentive_enabled",
        moments_setting="attentive_moments_off",
        base_url_setting="attentive_base_url",
    ),
)
PROVIDER_NAMES: tuple[str, ...] = tuple(p.name for p in PROVIDERS)
_BY_NAME: dict[str, Provider] = {p.name: p for p in PROVIDERS}


def provider(name: str) -> Provider:
    """The provider called `name`; KeyError for a name no provider has."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown integration {name!r}") from None


def enabled_providers(settings: Settings) -> list[Provider]:
    """Providers with a key that are switched on, in a fixed order. One switched off gets
    nothing queued, so turning it back on does not release a backlog."""
    return [p for p in PROVIDERS if p.enabled(settings)]


def clients_from_settings(
    settings: Settings, *, retry: RetryPolicy | None = None
) -> list[MessagingClient]:
    """One client per enabled provider."""
    return [p.build(settings, retry=retry) for p in enabled_providers(settings)]
