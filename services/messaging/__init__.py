"""Klaviyo, Postscript and Attentive behind one small interface (`MessagingClient`).

An adapter: it speaks HTTP and takes plain records; the dispatcher owns the outbox. The
providers, their settings and how their clients are built are listed once, in `registry`.
"""

from __future__ import annotations

from services.messaging.attentive import AttentiveClient
from services.messaging.base import (
    DueEvent,
    DueProduct,
    EventKind,
    MessagingClient,
    Recipient,
    SubscriptionOffer,
    limiter_for,
)
from services.messaging.klaviyo import KlaviyoClient
from services.messaging.phone import to_e164
from services.messaging.postscript import PostscriptClient
from services.messaging.registry import (
    PROVIDER_NAMES,
    PROVIDERS,
    Provider,
    clients_from_settings,
    enabled_providers,
    provider,
)

__all__ = [
    "PROVIDERS",
    "PROVIDER_NAMES",
    "AttentiveClient",
    "DueEvent",
    "DueProduct",
    "EventKind",
    "KlaviyoClient",
    "MessagingClient",
    "PostscriptClient",
    "Provider",
    "SubscriptionOffer",
    "Recipient",
    "clients_from_settings",
    "enabled_providers",
    "limiter_for",
    "provider",
    "to_e164",
]
