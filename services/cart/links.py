"""Cart tokens, cart links and Shopify checkout permalinks.

A token is the only secret in a cart URL: 32 URL-safe characters from `secrets`. It is checked
for shape before any query, and an unknown or revoked token is answered exactly like a malformed
one, so a link never reveals whether a customer exists.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from urllib.parse import quote, quote_plus, urlencode

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.moments import MOMENTS
from services.core.tables import CartLink
from services.engine import clamp_quantity as clamp_cart_quantity

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,64}")
CHANNEL_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")
SHOP_HOST_PATTERN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
"""A lower-case host name with a dot: what a checkout link may point at."""
CART_ATTRIBUTE = "_repeatcart_cart"
CHANNEL_ATTRIBUTE = "_repeatcart_channel"
MOMENT_ATTRIBUTE = "_repeatcart_moment"
MOMENT_PARAM = "m"  # the cart link's query parameter naming the Moment that sent it


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_well_formed(token: str | None) -> bool:
    return token is not None and TOKEN_PATTERN.fullmatch(token) is not None


def clamp_quantity(value: object) -> int:
    """Whatever a browser sends becomes a whole number in 1..99."""
    try:
        number = int(float(str(value)))
    except (TypeError, ValueError, OverflowError):
        return 1
    return clamp_cart_quantity(number)


def normalize_channel(raw: str | None) -> str:
    """`?ch=` as given when it looks like a channel name, else 'other'; absent means 'direct'."""
    if not raw:
        return "direct"
    value = raw.strip().lower()
    return value if CHANNEL_PATTERN.fullmatch(value) else "other"


def normalize_moment(raw: str | None) -> str | None:
    """`?m=` when it names a Moment, else None: a made-up value is not attributed to anything."""
    value = (raw or "").strip().lower()
    return value if value in MOMENTS else None


SUBSCRIPTION_PARAM = "sub"
"""`?sub=1` on a cart link: the subscription cart ("Subscribe & save" selected), sent only to
customers whose cart has a product with a selling plan."""

PICK_PARAM = "pick"
"""`?pick=<product id>` on a cart link: the cart opens with that product pre-selected."""


def cart_url(
    token: str,
    public_url: str,
    channel: str | None = None,
    moment: str | None = None,
    pick: int | None = None,
    *,
    subscription: bool = False,
) -> str:
    """The link a shopper opens; `public_url` is the effective one (the dashboard's over the
    environment), so the caller reads it from `effective_settings`. A Moment's event names the
    Moment too (`&m=`), so its visits and orders are attributed to it; `pick` names a product
    the cart opens with pre-selected (a cross-sell offer); `subscription` makes it the
    subscription cart's link (`&sub=1`)."""
    base = public_url.rstrip("/")
    url = f"{base}/cart/{token}"
    query: list[str] = []
    if channel:
        query.append(f"ch={_query_value(channel)}")
    if moment:
        query.append(f"{MOMENT_PARAM}={_query_value(moment)}")
    if pick is not None:
        query.append(f"{PICK_PARAM}={int(pick)}")
    if subscription:
        query.append(f"{SUBSCRIPTION_PARAM}=1")
    return f"{url}?{'&'.join(query)}" if query else url


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")


def _query_value(value: str) -> str:
    """A query value as `urlencode` writes it; the daily scan builds one link per message, and
    channels and Moments are plain words, so they skip the quoting."""
    return value if _PLAIN.fullmatch(value) else quote_plus(value)


def picked_product(raw: str | None) -> int | None:
    """`?pick=` as a product id, or None for anything else."""
    value = (raw or "").strip()
    return int(value) if value.isdigit() and len(value) < 12 else None


PREVIEW_PARAM = "preview"
"""`?preview=1` on a cart link: the merchant looking at a customer's cart from the dashboard.
The page is the same, marked as a preview, and nothing it shows is counted in analytics."""


def preview_url(token: str, public_url: str) -> str:
    """The customer's cart as the merchant previews it (not counted as the shopper's visit)."""
    return f"{cart_url(token, public_url)}?{urlencode({PREVIEW_PARAM: '1'})}"


class LiveLink(NamedTuple):
    id: int
    customer_id: int


_LIVE_LINK = select(CartLink.id, CartLink.customer_id).where(
    CartLink.token == bindparam("token"), col(CartLink.revoked_at).is_(None)
)


def find_active_link(session: Session, token: str | None) -> LiveLink | None:
    """The live link behind a token (None for a malformed, unknown or revoked one): a prebuilt
    statement on the connection, since every cart page view starts here."""
    if not is_well_formed(token):
        return None
    row = session.connection().execute(_LIVE_LINK, {"token": token}).first()
    return None if row is None else LiveLink(row.id, row.customer_id)


def active_link_for(session: Session, customer_id: int) -> CartLink | None:
    """The customer's live link; the database keeps it to one (`ux_cart_link_live_customer`)."""
    return session.exec(
        select(CartLink).where(
            CartLink.customer_id == customer_id,
            col(CartLink.revoked_at).is_(None),
        )
    ).first()


def get_or_create_link(session: Session, customer_id: int, now: datetime | None = None) -> CartLink:
    """The customer's live link, created when there is none.

    Two processes may both find none: the insert yields to a live link committed meanwhile
    (ON CONFLICT DO NOTHING on the partial unique index), so both end up with the same link
    and neither fails.
    """
    link = active_link_for(session, customer_id)
    if link is None:
        _insert_live_link(session, customer_id, now or utcnow())
        link = active_link_for(session, customer_id)
        if link is None:  # the insert yields only to a committed live link
            raise RuntimeError(f"no live cart link for customer {customer_id} after inserting")
    return link


def rotate_link(session: Session, customer_id: int, now: datetime | None = None) -> CartLink:
    """Revoke every live link of the customer (they then show 'expired') and issue a new one.

    When another rotation commits a new link first, that link is the customer's new one and is
    returned as is: revoking it too would hand its caller a dead link.
    """
    now = now or utcnow()
    session.execute(
        update(CartLink)
        .where(
            col(CartLink.customer_id) == customer_id,
            col(CartLink.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    return get_or_create_link(session, customer_id, now)


def _insert_live_link(session: Session, customer_id: int, now: datetime) -> None:
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    session.execute(
        dialect.insert(CartLink)
        .values(customer_id=customer_id, token=new_token(), created_at=now)
        .on_conflict_do_nothing(
            index_elements=[CartLink.customer_id],
            index_where=col(CartLink.revoked_at).is_(None),
        )
    )


def checkout_permalink(
    shop_domain: str,
    lines: Sequence[tuple[int, int]],
    *,
    discount_code: str = "",
    cart_id: int | None = None,
    channel: str | None = None,
    moment: str | None = None,
) -> str:
    """Shopify cart permalink: `/cart/{variant}:{qty},...` plus discount and attribution attributes.

    `lines` are (numeric Shopify variant id, quantity). Attributes whose key starts with `_` are
    hidden from the shopper at checkout but land on the order, where attribution reads them.
    An empty or malformed `shop_domain` raises `ValueError`: a link to nowhere is never built.
    """
    if not lines:
        raise ValueError("a checkout needs at least one line")
    if not SHOP_HOST_PATTERN.fullmatch(shop_domain):
        raise ValueError(f"no checkout link to an unknown shop host {shop_domain!r}")
    path = ",".join(f"{variant_id}:{clamp_quantity(qty)}" for variant_id, qty in lines)
    params: list[tuple[str, str]] = []
    if discount_code.strip():
        params.append(("discount", discount_code.strip()))
    attributes = checkout_attributes(cart_id, channel, moment)
    params += [(f"attributes[{key}]", value) for key, value in attributes]
    query = "&".join(f"{key}={quote(value, safe='')}" for key, value in params)
    url = f"https://{shop_domain}/cart/{path}"
    return f"{url}?{query}" if query else url


def checkout_attributes(
    cart_id: int | None, channel: str | None, moment: str | None
) -> list[tuple[str, str]]:
    """The attribution attributes a checkout carries (the permalink's `attributes[...]`, a
    Storefront cart's `attributes`): hidden from the shopper, read back from the order."""
    attributes: list[tuple[str, str]] = []
    if cart_id is not None:
        attributes.append((CART_ATTRIBUTE, str(cart_id)))
    if channel:
        attributes.append((CHANNEL_ATTRIBUTE, channel))
    if moment:
        attributes.append((MOMENT_ATTRIBUTE, moment))
    return attributes


def is_subscription_link(raw: str | None) -> bool:
    """`?sub=1`: the subscription cart's link."""
    return (raw or "").strip() == "1"
