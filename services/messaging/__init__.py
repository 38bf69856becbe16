"""Klaviyo, Postscript and Attentive behind one small interface (`MessagingClient`).

An adapter: it speaks HTTP and takes plain records; the dispatcher owns the outbox.
"""

from __future__ import annotations

from services.core.config import Settings
from services.core.provider_http import RetryPolicy
from services.messaging.attentive import AttentiveClient
from services.messaging.base import (
    DueEvent,
    DueProduct,
    EventKind,
    MessagingClient,
    Recipient,
    limiter_for,
)
from services.messaging.klaviyo import KlaviyoClient
from services.messaging.phone import to_e164
from services.messaging.postscript import PostscriptClient

__all__ = [
    "AttentiveClient",
    "DueEvent",
    "DueProduct",
    "EventKind",
    "KlaviyoClient",
    "MessagingClient",
    "PostscriptClient",
    "Recipient",
    "clients_from_settings",
    "limiter_for",
    "to_e164",
]


def clients_from_settings(
    settings: Settings, *, retry: RetryPolicy | None = None
) -> list[MessagingClient]:
    """One client per integration whose API key is set and that is not switched off."""
    clients: list[MessagingClient] = []
    if settings.secret("klaviyo_api_key") and settings.klaviyo_enabled:
        clients.append(
            KlaviyoClient(
                settings.secret("klaviyo_api_key"),
                settings.klaviyo_base_url,
                revision=settings.klaviyo_revision,
                retry=retry,
            )
        )
    if settings.secret("postscript_api_key") and settings.postscript_enabled:
        clients.append(
            PostscriptClient(
                settings.secret("postscript_api_key"), settings.postscript_base_url, retry=retry
            )
        )
    if settings.secret("attentive_api_key") and settings.attentive_enabled:
        clients.append(
            AttentiveClient(
                settings.secret("attentive_api_key"), settings.attentive_base_url, retry=retry
            )
        )
    return clients
