"""The shop row follows the settings.

Carts, messages, checkout links and the dashboard read the one `Shop` row; this module is the
only writer of its identity (domain, name, primary domain, currency, time zone). It is called
whenever a shop is configured: on the Store page's Save and Test connection, before every sync,
before an order-export import and by `repeatcart connect-shop`.

The row is the shop whose data the database holds. Pointing the settings at another shop while
that data exists is refused with a message naming both shops, because mixing two shops' orders
and products would send shoppers to a checkout that does not sell them. The operator can say so
explicitly (`replace_data`), which erases the old shop's store data first. `erase_store` is the
one way to erase a shop: also used by `shop/redact` once the shop has uninstalled the app.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, SQLModel, col, select

from services.cart.links import SHOP_HOST_PATTERN
from services.core.config import DEMO_SHOP_DOMAIN, Settings, get_settings
from services.core.db import session_scope
from services.core.provider_http import ProviderError
from services.core.tables import AppSetting, Customer, Order, Product, Shop, WebhookEvent
from services.shopify.client import ShopifyClient

__all__ = [
    "INSTALL_TABLES",
    "ShopIdentity",
    "ShopSetupError",
    "ShopSwitchRefused",
    "checkout_host",
    "checkout_preview_on",
    "describe_shopify_error",
    "ensure_shop",
    "erase_store",
    "fetch_identity",
    "is_shop_domain",
    "record_shop",
    "refresh_before_sync",
    "stored_shop",
    "switch_refusal",
]

log = logging.getLogger(__name__)

_SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
INSTALL_TABLES = frozenset({"admin_user", "admin_session", "login_throttle", "job_lease"})
"""Tables no erase touches: the install's own dashboard accounts and job coordination hold no
shop's data, and erasing them would lock the operator out of an empty dashboard. Every other
table is erased, also ones added later: forgetting a shop's data is the risk."""


class ShopSetupError(Exception):
    """The settings cannot name a shop to record; the message tells the operator what to fix."""


class ShopSwitchRefused(ShopSetupError):
    """The settings name another shop than the one whose data the database holds."""

    def __init__(self, held: str, wanted: str) -> None:
        self.held = held
        self.wanted = wanted
        super().__init__(
            f"This database holds the data of {held}, but the settings now name {wanted}. "
            f"Nothing was changed. To connect {wanted}, confirm that {held}'s orders, customers "
            "and products may be erased (Store page, or `repeatcart connect-shop "
            "--replace-data`), or set the shop back to "
            f"{held}."
        )


@dataclass(frozen=True, slots=True)
class ShopIdentity:
    """What the Admin API's `shop` query says about the shop."""

    name: str
    domain: str  # the myshopify domain
    primary_host: str
    currency: str
    timezone: str

    @classmethod
    def from_api(cls, shop: dict[str, Any]) -> ShopIdentity:
        primary = shop.get("primaryDomain") or {}
        return cls(
            name=str(shop.get("name") or ""),
            domain=str(shop.get("myshopifyDomain") or "").strip().lower(),
            primary_host=str(primary.get("host") or "").strip().lower(),
            currency=str(shop.get("currencyCode") or ""),
            timezone=str(shop.get("ianaTimezone") or ""),
        )


def is_shop_domain(domain: str) -> bool:
    """A myshopify domain (`your-shop.myshopify.com`): the only form the Admin API answers."""
    return bool(_SHOP_DOMAIN.match(domain))


def checkout_host(shop: Shop | None) -> str:
    """The host a cart permalink may go to, or "" when the shop is unknown or malformed.

    The myshopify domain always serves `/cart/...` (Shopify forwards it to the primary domain),
    so it is used even when a primary domain is known.
    """
    domain = (shop.shop_domain if shop else "").strip().lower()
    return domain if SHOP_HOST_PATTERN.fullmatch(domain) else ""


def checkout_preview_on(shop_domain: str, settings: Settings | None = None) -> bool:
    """Check Out opens the local preview only for the demo shop (which does not exist), or when
    `REPEATCART_CHECKOUT_PREVIEW=1` says so explicitly; an explicit 0 turns it off."""
    explicit = (settings or get_settings()).checkout_preview
    if explicit is not None:
        return explicit
    return shop_domain == DEMO_SHOP_DOMAIN


def stored_shop(session: Session) -> Shop | None:
    return session.exec(select(Shop).order_by(col(Shop.id))).first()


def _holds_data(session: Session) -> bool:
    return any(
        session.exec(select(func.count()).select_from(model)).one()
        for model in (Order, Customer, Product)
    )


def switch_refusal(session: Session, domain: str) -> ShopSwitchRefused | None:
    """The refusal that recording `domain` would meet, or None when it may go ahead."""
    shop = stored_shop(session)
    if shop is None or shop.shop_domain == domain or not _holds_data(session):
        return None
    return ShopSwitchRefused(shop.shop_domain, domain)


def record_shop(
    session: Session,
    domain: str,
    now: datetime,
    identity: ShopIdentity | None = None,
    *,
    replace_data: bool = False,
) -> Shop:
    """Create or update the shop row for `domain`, filled from `identity` when the Admin API
    answered. Raises `ShopSwitchRefused` when the row holds another shop with data, unless
    `replace_data`. The caller commits."""
    domain = domain.strip().lower()
    if not is_shop_domain(domain):
        raise ShopSetupError(
            f"{domain or 'An empty shop domain'} is not a myshopify domain: set the shop as "
            "your-shop.myshopify.com (Shopify admin → Settings → Domains)."
        )
    if identity is not None and identity.domain and identity.domain != domain:
        raise ShopSetupError(
            f"Shopify answered for {identity.domain}, not {domain}: check the shop domain."
        )
    shop = stored_shop(session)
    if shop is not None and shop.shop_domain != domain:
        refusal = switch_refusal(session, domain)
        if refusal is not None and not replace_data:
            raise refusal
        if refusal is not None:
            log.warning("erasing the data of %s to connect %s", shop.shop_domain, domain)
            erase_store(session, now, keep_settings=True)
        _reset_shop(shop, domain, now)
    if shop is None:
        shop = Shop(shop_domain=domain)
    if identity is not None:
        shop.name = identity.name or shop.name
        shop.currency = identity.currency or shop.currency
        shop.timezone = identity.timezone or shop.timezone
        shop.primary_domain = identity.primary_host or shop.primary_domain
        shop.identity_checked_at = now
    shop.store_url = f"https://{shop.primary_domain or domain}"
    shop.updated_at = now
    session.add(shop)
    session.flush()
    return shop


def fetch_identity(client: ShopifyClient) -> ShopIdentity:
    """Ask the Admin API who the shop is (the cheapest query: cost 1). Raises `ProviderError`."""
    return ShopIdentity.from_api(client.shop())


def ensure_shop(
    session: Session,
    settings: Settings,
    now: datetime,
    client: ShopifyClient | None = None,
    *,
    replace_data: bool = False,
) -> Shop | None:
    """The shop row for the effective settings, refreshed from the Admin API through `client`
    when one is given (a sync, Test connection); from the settings alone otherwise.

    The demo domain (the default when no shop is configured) is never recorded here: only
    `repeatcart demo` builds that shop, and it does not exist to be asked.
    """
    if settings.shopify_shop == DEMO_SHOP_DOMAIN:
        return stored_shop(session)
    identity = fetch_identity(client) if client is not None else None
    return record_shop(session, settings.shopify_shop, now, identity, replace_data=replace_data)


def describe_shopify_error(error: ProviderError, settings: Settings) -> str:
    """A refused or failed Admin API call as a sentence that names what to check."""
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


def erase_store(
    session: Session, now: datetime, *, keep_settings: bool, keep_event_id: int | None = None
) -> None:
    """Erase every row of the shop's data in the caller's transaction, children first.

    Kept: `INSTALL_TABLES`, the shop row (its cart settings and learned figures back to
    defaults: a banner or discount code of the erased shop means nothing after it) and the
    webhook event `keep_event_id` (the `shop/redact` being handled). The dashboard's saved
    settings (`app_setting`) are kept when `keep_settings`: a shop switch keeps them, as they
    name the shop being connected; `shop/redact` erases them, as they hold the departed shop's
    tokens and provider keys.
    """
    kept = INSTALL_TABLES | {Shop.__tablename__, WebhookEvent.__tablename__}
    if keep_settings:
        kept |= {AppSetting.__tablename__}
    session.execute(update(Product).values(replacement_product_id=None))
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name not in kept:
            session.execute(delete(table))
    events = delete(WebhookEvent)
    if keep_event_id is not None:
        events = events.where(col(WebhookEvent.id) != keep_event_id)
    session.execute(events)
    for shop in session.exec(select(Shop)):
        _reset_shop(shop, shop.shop_domain, now)
        session.add(shop)
    session.flush()


def _reset_shop(shop: Shop, domain: str, now: datetime) -> None:
    """Every field of the shop row back to its default, for `domain`."""
    for name, field in Shop.model_fields.items():
        if name == "id":
            continue
        setattr(shop, name, field.get_default(call_default_factory=True))
    shop.shop_domain = domain
    shop.updated_at = now


def refresh_before_sync(client: ShopifyClient, settings: Settings, now: datetime) -> Shop:
    """Record who the shop is before a sync writes anything.

    A malformed domain, a refused token or a switch to another shop stops the sync here, with
    the stored data and cursors as they were (`ShopSetupError`, whose message says what to fix).
    """
    if not is_shop_domain(settings.shopify_shop):
        raise ShopSetupError(
            f"REPEATCART_SHOPIFY_SHOP is {settings.shopify_shop!r}, not a myshopify domain: set "
            "it (or the Store page's shop domain) to your-shop.myshopify.com."
        )
    try:
        identity = fetch_identity(client)
    except ProviderError as error:
        if error.auth_failed:
            raise ShopSetupError(describe_shopify_error(error, settings)) from error
        raise
    with session_scope(settings.database_url) as session:
        return record_shop(session, settings.shopify_shop, now, identity)
