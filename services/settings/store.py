"""The dashboard's Store page: the shop's Admin API connection and the carts' public address.

Values are checked here, on the server, before anything is written: one bad field rejects the
whole form, so a half-saved connection never exists. Secrets (the Admin API token, the
Storefront API token and the webhook secret) go to `store_settings`, which encrypts them; this
module hands the page only their last four characters. "Test connection" runs the cheapest
Admin API query with the settings as saved, so what it reports is what the sync will meet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session

from services.core.clock import utcnow
from services.core.config import Settings, get_settings
from services.core.db import session_scope
from services.core.provider_http import ProviderError, RetryPolicy
from services.core.tables import Shop
from services.settings.effective import (
    clear_setting,
    effective_settings,
    load_effective_settings,
    save_settings,
    secret_display,
    stored_settings,
)
from services.shopify.client import ShopifyClient
from services.sync.shop_record import (
    ShopIdentity,
    ShopSetupError,
    describe_shopify_error,
    fetch_identity,
    is_shop_domain,
    record_shop,
    stored_shop,
    switch_refusal,
)

__all__ = [
    "STORE_SECRETS",
    "ConnectionResult",
    "SecretField",
    "StoreSaveResult",
    "StoreView",
    "check_connection",
    "check_saved_connection",
    "load_store_view",
    "normalize_shop",
    "remove_saved_secret",
    "remove_store_secret",
    "save_store",
    "save_store_form",
    "store_view",
    "validate_store",
]

STORE_SECRETS = ("shopify_token", "shopify_storefront_token", "shopify_webhook_secret")
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
class ConnectedShop:
    """The shop whose data this database holds, as the Admin API last described it."""

    name: str
    domain: str
    primary_domain: str
    currency: str
    timezone: str
    checked_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoreView:
    shop: str
    api_version: str
    public_url: str
    token: SecretField
    webhook_secret: SecretField
    connected: ConnectedShop | None = None
    storefront_token: SecretField = SecretField("", "none")


@dataclass(slots=True)
class StoreSaveResult:
    errors: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    switch_from: str = ""  # the shop whose data a save to another shop would erase
    view: StoreView | None = None  # the page as saved (`save_store_form`, when it saved)

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
    identity: ShopIdentity | None = None
    view: StoreView | None = None  # the page with the shop as Shopify described it


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
        connected=_connected(stored_shop(session)),
        storefront_token=SecretField(*secret_display(stored, "shopify_storefront_token", base)),
    )


def _connected(shop: Shop | None) -> ConnectedShop | None:
    if shop is None:
        return None
    return ConnectedShop(
        name=shop.name,
        domain=shop.shop_domain,
        primary_domain=shop.primary_domain,
        currency=shop.currency,
        timezone=shop.timezone,
        checked_at=shop.identity_checked_at,
    )


def load_store_view() -> StoreView:
    """`store_view` in a transaction of its own, for the Store page."""
    with session_scope() as session:
        return store_view(session)


def normalize_shop(raw: str) -> str:
    """`https://My-Shop.myshopify.com/admin` → `my-shop.myshopify.com`: what people paste."""
    text = raw.strip().lower()
    if "://" in text:
        text = urlsplit(text).netloc
    return text.split("/", 1)[0].strip()


def validate_store(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Clean values and an error per bad field (field name → message for the merchant)."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    shop = normalize_shop(values.get("shopify_shop", ""))
    if not is_shop_domain(shop):
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
    session: Session,
    values: dict[str, str],
    *,
    by: str = "",
    settings: Settings | None = None,
    replace_data: bool = False,
) -> StoreSaveResult:
    """Validate every field, then save all or nothing; a blank secret keeps the stored one.

    The shop row follows what is saved (so carts can check out at once); a shop other than the
    one whose data the database holds is refused unless `replace_data` (erase it) is given.
    """
    clean, errors = validate_store(values)
    if errors:
        return StoreSaveResult(errors=errors)
    refusal = switch_refusal(session, clean["shopify_shop"])
    if refusal is not None and not replace_data:
        message = (
            f"This database holds the data of {refusal.held}. Connecting {refusal.wanted} "
            f"erases it: tick the box below to go ahead, or set the shop back to {refusal.held}."
        )
        return StoreSaveResult(errors={"shopify_shop": message}, switch_from=refusal.held)
    # a value equal to what applies now is not pinned, so a later environment change still counts
    current = effective_settings(session, settings)
    clean = {
        name: value
        for name, value in clean.items()
        if name in STORE_SECRETS or value != getattr(current, name)
    }
    changed = save_settings(session, clean, by=by, settings=settings)
    shop = effective_settings(session, settings).shopify_shop
    record_shop(session, shop, utcnow(), replace_data=replace_data)
    return StoreSaveResult(changed=changed)


def save_store_form(
    values: dict[str, str], *, by: str = "", replace_data: bool = False
) -> StoreSaveResult:
    """The Store form's Save, in a transaction of its own; a save that went through carries
    the page as saved, read in the same transaction."""
    with session_scope() as session:
        result = save_store(session, values, by=by, replace_data=replace_data)
        if result.ok:
            result.view = store_view(session)
        return result


def remove_saved_secret(name: str) -> StoreView:
    """Remove a saved token or webhook secret in a transaction of its own; the page after."""
    with session_scope() as session:
        remove_store_secret(session, name)
        return store_view(session)


def remove_store_secret(session: Session, name: str) -> None:
    """Forget a saved token or webhook secret (the environment's applies again, if any)."""
    if name not in STORE_SECRETS:
        raise KeyError(name)
    clear_setting(session, name)
    session.flush()


def check_saved_connection(base: Settings | None = None) -> ConnectionResult:
    """Test connection with the settings as saved; the token is decrypted here, not by the
    caller, and lives only for this call. A shop that answers is recorded (name, domains,
    currency, time zone), so what the carts show is what Shopify says; the result then carries
    the Store page as it reads now."""
    settings = load_effective_settings(base)
    result = check_connection(settings)
    if not result.ok or result.identity is None:
        return result
    try:
        with session_scope(settings.database_url) as session:
            record_shop(session, settings.shopify_shop, utcnow(), result.identity)
            view = store_view(session, base)
    except ShopSetupError as refusal:
        return ConnectionResult(False, f"{result.message} {refusal}")
    return replace(result, view=view)


def check_connection(settings: Settings) -> ConnectionResult:
    """Ask Shopify for the shop with the saved settings; every failure as a sentence that
    names what to check, never containing the token."""
    token = settings.secret("shopify_token")
    if not token:
        return ConnectionResult(False, "No Admin API access token is saved yet: enter it and save.")
    try:
        with ShopifyClient.from_settings(
            settings, timeout=CONNECTION_TIMEOUT, policy=CONNECTION_RETRY
        ) as client:
            identity = fetch_identity(client)
    except ProviderError as error:
        return ConnectionResult(False, _redact(describe_shopify_error(error, settings), token))
    except Exception as error:  # noqa: BLE001  (a bad URL must not crash the page)
        message = f"Could not reach Shopify at {settings.shopify_shop}: {type(error).__name__}."
        return ConnectionResult(False, _redact(message, token))
    domain = identity.domain or settings.shopify_shop
    message = f"Connected to {identity.name} ({domain})" + (
        f", currency {identity.currency}." if identity.currency else "."
    )
    return ConnectionResult(True, message, identity.name, domain, identity.currency, identity)


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
