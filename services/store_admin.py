"""The dashboard's Store page: the shop's Admin API connection and the carts' public address.

Values are checked here, on the server, before anything is written: one bad field rejects the
whole form, so a half-saved connection never exists. Secrets (the Admin API token and the
webhook secret) go to `store_settings`, which encrypts them; this module hands the page only
their last four characters. "Test connection" runs the cheapest Admin API query with the
settings as saved, so what it reports is what the sync will meet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlmodel import Session

from services.config import Settings, get_settings
from services.provider_http import ProviderError, RetryPolicy
from services.shopify.client import ShopifyClient
from services.store_settings import (
    clear_setting,
    effective_settings,
    load_effective_settings,
    save_settings,
    secret_display,
    stored_settings,
)

__all__ = [
    "STORE_SECRETS",
    "ConnectionResult",
    "SecretField",
    "StoreSaveResult",
    "StoreView",
    "remove_store_secret",
    "save_store",
    "store_view",
    "check_connection",
    "check_saved_connection",
    "validate_store",
]

STORE_SECRETS = ("shopify_token", "shopify_webhook_secret")
_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_VERSION = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_MAX_SECRET = 500
CONNECTION_TIMEOUT = 8.0  # the merchant waits on the button: a few seconds, not a sync's 30
CONNECTION_RETRY = RetryPolicy(attempts=2, initial_delay=0.3, max_delay=1.0, max_retry_after=3)


@dataclass(frozen=True, slots=True)
class SecretField:
    """A secret as the page may show it: where it comes from and its last characters."""

    last4: str
    source: str  # saved | environment | none | unreadable

    @property
    def note(self) -> str:
        if self.source == "unreadable":
            return (
                "The saved value can no longer be read (the encryption key changed): re-enter it."
            )
        if self.source == "none":
            return "Not set."
        where = "saved here" if self.source == "saved" else "from the environment"
        return f"Ends in ••••{self.last4} ({where})." if self.last4 else f"Set ({where})."


@dataclass(frozen=True, slots=True)
class StoreView:
    shop: str
    api_version: str
    public_url: str
    token: SecretField
    webhook_secret: SecretField


@dataclass(slots=True)
class StoreSaveResult:
    errors: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    ok: bool
    message: str
    shop_name: str = ""
    shop_domain: str = ""
    currency: str = ""


def store_view(session: Session, base: Settings | None = None) -> StoreView:
    """The Store form's values as saved (or from the environment), secrets by last 4 only."""
    base = base or get_settings()
    settings = effective_settings(session, base)
    stored = stored_settings(session, base)
    return StoreView(
        shop=settings.shopify_shop,
        api_version=settings.shopify_api_version,
        public_url=settings.public_url,
        token=SecretField(*secret_display(stored, "shopify_token", base)),
        webhook_secret=SecretField(*secret_display(stored, "shopify_webhook_secret", base)),
    )


def normalise_shop(raw: str) -> str:
    """`https://My-Shop.myshopify.com/admin` → `my-shop.myshopify.com`: what people paste."""
    text = raw.strip().lower()
    if "://" in text:
        text = urlsplit(text).netloc
    return text.split("/", 1)[0].strip()


def validate_store(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Clean values and an error per bad field (field name → message for the merchant)."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    shop = normalise_shop(values.get("shopify_shop", ""))
    if not _SHOP.match(shop):
        errors["shopify_shop"] = (
            "Enter the shop's myshopify domain, like your-shop.myshopify.com "
            "(Shopify admin → Settings → Domains)."
        )
    clean["shopify_shop"] = shop
    version = values.get("shopify_api_version", "").strip()
    if not _VERSION.match(version):
        errors["shopify_api_version"] = "Enter the API version as YYYY-MM, like 2026-10."
    clean["shopify_api_version"] = version
    public_url = values.get("public_url", "").strip().rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        errors["public_url"] = (
            "Enter the address shoppers reach the app at, starting with https:// "
            "(like https://carts.your-shop.com)."
        )
    clean["public_url"] = public_url
    for name in STORE_SECRETS:
        secret = values.get(name, "").strip()
        if secret and (len(secret) > _MAX_SECRET or any(ch.isspace() for ch in secret)):
            errors[name] = "This does not look like a token: it has spaces or is too long."
        clean[name] = secret  # "" keeps the stored one
    return clean, errors


def save_store(
    session: Session, values: dict[str, str], *, by: str = "", settings: Settings | None = None
) -> StoreSaveResult:
    """Validate every field, then save all or nothing; a blank secret keeps the stored one."""
    clean, errors = validate_store(values)
    if errors:
        return StoreSaveResult(errors=errors)
    # a value equal to what applies now is not pinned, so a later environment change still counts
    current = effective_settings(session, settings)
    clean = {
        name: value
        for name, value in clean.items()
        if name in STORE_SECRETS or value != getattr(current, name)
    }
    changed = save_settings(session, clean, by=by, settings=settings)
    session.flush()
    return StoreSaveResult(changed=changed)


def remove_store_secret(session: Session, name: str) -> None:
    """Forget a saved token or webhook secret (the environment's applies again, if any)."""
    if name not in STORE_SECRETS:
        raise KeyError(name)
    clear_setting(session, name)
    session.flush()


def check_saved_connection(base: Settings | None = None) -> ConnectionResult:
    """Test connection with the settings as saved; the token is decrypted here, not by the
    caller, and lives only for this call."""
    return check_connection(load_effective_settings(base))


def check_connection(settings: Settings) -> ConnectionResult:
    """Ask Shopify for the shop with the saved settings; every failure as a sentence that
    names what to check, never containing the token."""
    token = settings.shopify_token
    if not token:
        return ConnectionResult(False, "No Admin API access token is saved yet: enter it and save.")
    try:
        with ShopifyClient.from_settings(
            settings, timeout=CONNECTION_TIMEOUT, policy=CONNECTION_RETRY
        ) as client:
            shop = client.shop()
    except ProviderError as error:
        return ConnectionResult(False, _redact(_explain(error, settings), token))
    except Exception as error:  # noqa: BLE001  (a bad URL must not crash the page)
        message = f"Could not reach Shopify at {settings.shopify_shop}: {type(error).__name__}."
        return ConnectionResult(False, _redact(message, token))
    name = str(shop.get("name") or "")
    domain = str(shop.get("myshopifyDomain") or settings.shopify_shop)
    currency = str(shop.get("currencyCode") or "")
    message = f"Connected to {name} ({domain})" + (f", currency {currency}." if currency else ".")
    return ConnectionResult(True, message, name, domain, currency)


def _explain(error: ProviderError, settings: Settings) -> str:
    if error.status in (401, 403):
        return (
            f"Shopify refused the token (HTTP {error.status}): check the Admin API access token "
            "and that the app is installed with read_orders, read_products and read_customers."
        )
    if error.status == 404:
        return (
            f"Shopify has no Admin API at {settings.shopify_shop} for version "
            f"{settings.shopify_api_version} (HTTP 404): check the shop domain and the API "
            "version (a supported one, like 2026-10)."
        )
    if error.status is None:
        return (
            f"Could not reach Shopify at {settings.shopify_shop}: check the shop domain and "
            f"this server's network ({error})."
        )
    return f"Shopify answered with an error (HTTP {error.status}): {error.detail or error}"


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
