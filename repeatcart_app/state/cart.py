"""The shopper's cart page: what is shown, what is selected, and checkout.

Server-only facts (customer id, link id, channel, shop domain, Shopify variant ids) live in
backend vars (leading underscore) and never reach the browser. Every handler that reads or
writes the database is async and calls one use case of `services.cart.shopper` in a thread, so
one shopper's click never holds up the event loop that serves all the others; a quantity press
touches no database at all (its analytics row is queued and written in a batch).

The lines go to the browser once per load, by section; a press changes only `quantities` and
the few totals computed from it, so its update stays small however long the cart is.

"Remind me later" writes a snooze and reloads the view; the shopper's own selection survives it
(only the snoozed product follows what a fresh page would pre-select).

`/replenish?v=<variant>&ch=<channel>` (a featured product link, printed as a QR code) opens the
same page for anyone: no customer, no link, that product selected, the banner and You Might Also
Like; `featured` is set and its events are recorded under a random visit id. Any link that
cannot open one shows the same "no longer available" view.

`?sub=1` is the subscription cart: products with a selling plan offer "Subscribe & save"
(selected) or "One-time purchase", with the plan's interval and price. Check Out with a
subscribed line goes through a Storefront API cart (a permalink cannot carry a plan), and falls
back to the one-time permalink, with a note on the cart, when that cannot be set up.

`?preview=1` is the merchant previewing from the dashboard: the same page, marked, recording no
cart events, writing no snoozes and adding no attribution to the checkout link.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import reflex as rx

from repeatcart_app.routes import checkout_preview_url
from repeatcart_app.state.cart_lines import (
    CartLine,
    make_line,
    short_date,
    snooze_weeks,
    variant_id_of,
)
from services.cart.events import CartEventKind
from services.cart.featured import CHANNEL_PARAM, QUANTITY_PARAM, VARIANT_PARAM, new_visit
from services.cart.links import (
    MOMENT_PARAM,
    PICK_PARAM,
    PREVIEW_PARAM,
    SUBSCRIPTION_PARAM,
    checkout_attributes,
    checkout_permalink,
    clamp_quantity,
    is_subscription_link,
    normalize_channel,
    normalize_moment,
    picked_product,
)
from services.cart.page import CartView
from services.cart.shopper import (
    Visit,
    change_snooze,
    open_cart,
    open_featured,
    record_action,
    save_actions,
    shop_for_expired_link,
)
from services.cart.subscriptions import (
    StorefrontLine,
    subscription_checkout,
    subscription_price,
    variant_gid,
)
from services.core.clock import utcnow
from services.core.money import format_money
from services.engine import CartItem

logger = logging.getLogger(__name__)

SNOOZABLE_SECTIONS = ("due", "previous")


class CartState(rx.State):
    """State of `/cart/[token]`; `status` is loading, ready, expired or error."""

    status: str = "loading"  # loading | ready | expired | unavailable | error
    featured: bool = False
    shop_name: str = ""
    store_url: str = ""
    logo_url: str = ""
    banner_text: str = ""
    discount_code: str = ""
    currency: str = "USD"
    first_name: str = ""
    due_lines: list[CartLine] = []
    previous_lines: list[CartLine] = []
    ymal_lines: list[CartLine] = []
    quantities: dict[str, int] = {}
    cart_snoozed_until: str = ""
    accent_color: str = "grass"
    preview: bool = False
    checkout_available: bool = True
    min_checkout_quantity: int = 0
    subscription: bool = False  # the `?sub=1` cart, with a product that has a selling plan
    subscribe: bool = True  # "Subscribe & save" (else "One-time purchase") chosen
    subscription_note: str = ""  # the subscription could not be set up at the last Check Out
    checking_out: bool = False

    _link_id: int = 0
    _customer_id: int = 0
    _channel: str = "direct"
    _moment: str | None = None
    _checkout_host: str = ""
    _featured_visit: str = ""
    _checkout_preview: bool = False
    _shopify_variant_ids: dict[str, int] = {}
    _prices: dict[str, int] = {}  # purchasable lines only: the totals' and checks' lookup
    _once_prices: dict[str, int] = {}  # the one-time prices; `_prices` follows the choice
    _sub_prices: dict[str, int] = {}  # lines with a plan: the subscription price
    _plan_gids: dict[str, str] = {}  # lines with a plan: the plan's GID
    _subscription_only: list[str] = []  # lines sold only as a subscription
    _variant_gids: dict[str, str] = {}
    _subscription_link: bool = False  # opened with `?sub=1`: a reload reads the plans again

    @rx.event
    async def load(self):
        """Load the cart behind the URL's token; any bad token ends on the same expired view."""
        self._channel = normalize_channel(self.router.url.query_parameters.get("ch"))
        self._moment = normalize_moment(self.router.url.query_parameters.get(MOMENT_PARAM))
        self.preview = self.router.url.query_parameters.get(PREVIEW_PARAM) == "1"
        self.featured, self._featured_visit = False, ""
        subscription = is_subscription_link(
            self.router.url.query_parameters.get(SUBSCRIPTION_PARAM)
        )
        self._subscription_link = subscription
        self.subscribe, self.subscription_note, self.checking_out = True, "", False
        now = utcnow()
        try:
            view = await asyncio.to_thread(
                open_cart,
                self.token,  # type: ignore[attr-defined]  # Reflex adds the route's [token] var
                self._channel,
                moment=self._moment,
                preview=self.preview,
                now=now,
                pick=picked_product(self.router.url.query_parameters.get(PICK_PARAM)),
                subscription=subscription,
            )
        except Exception:
            logger.exception("cart could not be loaded")
            self._reset_cart()
            self.status = "error"
            return
        if view is None:
            await self._show_expired()
        else:
            self._apply(view, now)

    @rx.event
    async def load_featured(self):
        """Load a featured link's cart; any link that cannot open one ends on one view."""
        query = self.router.url.query_parameters
        self._channel = normalize_channel(query.get(CHANNEL_PARAM))
        self._moment = None  # a featured link is no Moment's message
        self.preview = query.get(PREVIEW_PARAM) == "1"
        self.featured, self._featured_visit = True, new_visit()
        self.subscribe, self.subscription_note, self.checking_out = True, "", False
        self._subscription_link = False
        now = utcnow()
        try:
            view = await asyncio.to_thread(
                open_featured,
                query.get(VARIANT_PARAM),
                query.get(QUANTITY_PARAM),
                self._channel,
                self._featured_visit,
                preview=self.preview,
                now=now,
            )
        except Exception:
            logger.exception("featured cart could not be loaded")
            self._reset_cart()
            self.status = "error"
            return
        if view is None:
            shop = await asyncio.to_thread(shop_for_expired_link)
            self._reset_cart()
            self.store_url, self.shop_name, self.status = shop.store_url, shop.name, "unavailable"
        else:
            self._apply(view, now)

    @rx.event
    def retry(self):
        """The error view's Try again: the same kind of load that failed."""
        return CartState.load_featured if self.featured else CartState.load

    @rx.event
    async def show_expired(self):
        """The expired view with the store link, for paths that never reach `load`."""
        await self._show_expired()

    async def _show_expired(self) -> None:
        shop = await asyncio.to_thread(shop_for_expired_link)
        self._reset_cart()
        self.store_url, self.shop_name, self.status = shop.store_url, shop.name, "expired"

    def _apply(self, view: CartView, now: datetime) -> None:
        currency = view.shop.currency
        self.shop_name = view.shop.name
        self.store_url = view.shop.store_url
        self.logo_url = view.shop.logo_url
        self.banner_text = view.shop.banner_text
        self.discount_code = view.shop.discount_code
        self.accent_color = view.shop.accent_color or "grass"
        self.currency = currency
        self.first_name = view.first_name
        self._link_id = view.link_id
        self._customer_id = view.customer_id
        self._checkout_host = view.shop.checkout_host
        self._checkout_preview = view.shop.checkout_preview
        self.checkout_available = bool(view.shop.checkout_host)
        self.min_checkout_quantity = view.shop.min_checkout_quantity
        if not self.checkout_available:
            logger.error(
                "cart %s cannot check out: the shop is unknown (%r); connect it on the Store page",
                view.link_id,
                view.shop.domain,
            )
        self._shopify_variant_ids = {str(k): v for k, v in view.shopify_variant_ids.items()}
        composition = view.composition
        items = (*composition.due, *composition.previous, *composition.ymal)
        plans = view.plans
        self.due_lines, self.previous_lines, self.ymal_lines = (
            [
                make_line(
                    item,
                    currency,
                    now,
                    view.snoozed_until.get(item.product_id),
                    plans.get(item.product_id),
                )
                for item in part
            ]
            for part in (composition.due, composition.previous, composition.ymal)
        )
        lines = self._all_lines()
        self.quantities = {
            line.key: line.suggested_quantity
            for item, line in zip(items, lines, strict=True)
            if item.selected and line.available
        }
        self._apply_plans(view, items, lines)
        self.cart_snoozed_until = short_date(view.cart_snoozed_until)
        self.status = "ready"

    def _apply_plans(
        self, view: CartView, items: tuple[CartItem, ...], lines: list[CartLine]
    ) -> None:
        """The subscription cart's plans by line; `_prices` then follows the shopper's choice."""
        self._once_prices = {line.key: line.price_cents for line in lines if line.available}
        offers = {
            line.key: view.plans[item.product_id]
            for item, line in zip(items, lines, strict=True)
            if line.available and item.product_id in view.plans
        }
        self._plan_gids = {key: offer.gid for key, offer in offers.items()}
        self._sub_prices = {
            key: subscription_price(self._once_prices[key], offer) for key, offer in offers.items()
        }
        self._subscription_only = [key for key, offer in offers.items() if offer.subscription_only]
        self._variant_gids = {
            str(variant): variant_gid(view.variant_gids.get(variant), numeric)
            for variant, numeric in view.shopify_variant_ids.items()
            if numeric
        }
        self.subscription = bool(offers)
        self._follow_choice()

    def _subscribes(self, key: str) -> bool:
        """Whether this line checks out on its plan: chosen, or sold only that way."""
        return key in self._plan_gids and (self.subscribe or key in self._subscription_only)

    def _follow_choice(self) -> None:
        self._prices = {
            key: self._sub_prices[key] if self._subscribes(key) else price
            for key, price in self._once_prices.items()
        }

    @rx.event
    def set_purchase_option(self, value: str | list[str]):
        """ "subscribe" or "once": the cart's prices and Check Out follow it."""
        if not self.subscription or value not in ("subscribe", "once"):
            return
        self.subscribe = value == "subscribe"
        self._follow_choice()

    def _reset_cart(self) -> None:
        self._prices = {}
        self._once_prices, self._sub_prices, self._plan_gids = {}, {}, {}
        self._subscription_only, self._variant_gids = [], {}
        self.subscription = False
        self.due_lines, self.previous_lines, self.ymal_lines = [], [], []
        self.quantities = {}
        self.cart_snoozed_until = ""
        self._link_id = 0
        self._customer_id = 0
        self.banner_text = ""
        self.first_name = ""

    def _all_lines(self) -> list[CartLine]:
        """Every line the page shows, in page order (the sections are the one copy kept)."""
        return [*self.due_lines, *self.previous_lines, *self.ymal_lines]

    def _visit(self) -> Visit:
        return Visit(
            self._link_id,
            self._customer_id,
            self._channel,
            self.currency,
            moment=self._moment,
            featured_visit=self._featured_visit or None,
        )

    def _log(
        self,
        kind: CartEventKind,
        key: str = "",
        quantity: int | None = None,
        value_cents: int | None = None,
    ) -> None:
        """Queue a shopper action (no database call); the merchant's preview records nothing."""
        if not (self._link_id or self._featured_visit) or self.preview:
            return
        record_action(
            self._visit(),
            kind,
            variant_id=variant_id_of(key),
            quantity=quantity,
            value_cents=value_cents,
        )

    def _purchasable(self, key: str) -> bool:
        return key in self._prices

    @rx.event
    def add(self, key: str):
        if self.status != "ready" or not self._purchasable(key) or key in self.quantities:
            return
        suggested = next(line.suggested_quantity for line in self._all_lines() if line.key == key)
        self.quantities = {**self.quantities, key: suggested}
        self._log("add", key, suggested)

    @rx.event
    def remove(self, key: str):
        if key not in self.quantities:
            return
        self.quantities = {k: v for k, v in self.quantities.items() if k != key}
        self._log("remove", key, 0)

    @rx.event
    def set_quantity(self, key: str, quantity: int | str):
        self._set_quantity(key, quantity)

    @rx.event
    def increase(self, key: str):
        if key in self.quantities:
            self._set_quantity(key, self.quantities[key] + 1)

    @rx.event
    def decrease(self, key: str):
        if key in self.quantities:
            self._set_quantity(key, self.quantities[key] - 1)

    def _set_quantity(self, key: str, quantity: int | str) -> None:
        """Plain, not async: it only changes state and queues the analytics row."""
        if key not in self.quantities:
            return
        value = clamp_quantity(quantity)
        if value != self.quantities[key]:
            self.quantities = {**self.quantities, key: value}
            self._log("quantity", key, value)

    @rx.event
    async def checkout(self):
        """Send the shopper to Shopify checkout with the selection, discount and attribution:
        a permalink, or with a subscribed line a Storefront cart (the permalink when that fails)."""
        selected = [
            (key, self._shopify_variant_ids[key], qty)
            for key, qty in self.quantities.items()
            if key in self._shopify_variant_ids
        ]
        if not self.can_checkout or not selected or self.checking_out:
            return
        cart_id = None if self.preview or not self._link_id else self._link_id
        channel = None if self.preview else self._channel
        moment = None if self.preview else self._moment
        permalink = checkout_permalink(
            self._checkout_host,
            [(variant, qty) for _key, variant, qty in selected],
            discount_code=self.discount_code,
            cart_id=cart_id,
            channel=channel,
            moment=moment,
        )
        target = permalink
        if any(self._subscribes(key) for key, _variant, _qty in selected):
            self.checking_out = True
            yield
            lines = [
                StorefrontLine(
                    variant_gid(self._variant_gids.get(key), variant),
                    qty,
                    self._plan_gids[key] if self._subscribes(key) else None,
                )
                for key, variant, qty in selected
            ]
            result = await asyncio.to_thread(
                subscription_checkout,
                lines,
                permalink,
                discount_code=self.discount_code,
                attributes=checkout_attributes(cart_id, channel, moment),
            )
            self.checking_out = False
            target = result.url
            if not result.subscribed:
                # the shopper stays to see the one-time prices before paying them; their next
                # Check Out takes the permalink
                self.subscription_note = result.note
                self.subscribe = False
                self._follow_choice()
                return
        value = sum(self._prices.get(key, 0) * qty for key, _variant, qty in selected)
        self._log("checkout", value_cents=value)
        try:
            await asyncio.to_thread(save_actions)  # the checkout row is stored before they leave
        except Exception:
            logger.exception("cart events not written before checkout; they stay queued")
        if self._checkout_preview and target == permalink:
            yield rx.redirect(checkout_preview_url(permalink))
        else:
            yield rx.redirect(target)

    def _snoozable(self, product_id: object) -> CartLine | None:
        """The Due or Previously Purchased line of this product, if this cart shows one."""
        if self.status != "ready" or not self._customer_id or isinstance(product_id, bool):
            return None
        return next(
            (
                line
                for line in self._all_lines()
                if line.product_id == product_id and line.section in SNOOZABLE_SECTIONS
            ),
            None,
        )

    async def _change_snooze(self, line: CartLine | None, weeks: int | None) -> None:
        """Snooze (weeks given) or resume (None) one product or, without a line, the whole cart."""
        if self.preview:
            return  # the merchant's preview never changes the customer's reminders
        now = utcnow()
        try:
            view = await asyncio.to_thread(
                change_snooze,
                self.token,  # type: ignore[attr-defined]  # Reflex adds the route's [token] var
                self._visit(),
                line.product_id if line is not None else None,
                weeks,
                variant_id=variant_id_of(line.key if line is not None else ""),
                now=now,
                subscription=self._subscription_link,
            )
        except Exception:
            logger.exception("snooze could not be saved")
            return  # the page keeps showing what is still true
        if view is None:
            await self._show_expired()
            return
        kept, subscribe = self.quantities, self.subscribe
        self._apply(view, now)
        if self.subscription and not subscribe:  # the shopper's choice survives the reload
            self.subscribe = False
            self._follow_choice()
        fresh = self.quantities
        changed = line.key if line is not None else None
        quantities = {k: v for k, v in kept.items() if k != changed and self._purchasable(k)}
        if changed in fresh:
            quantities[changed] = fresh[changed]
        self.quantities = quantities

    @rx.event
    async def snooze_product(self, product_id: int, weeks: int):
        """Remind me later about one product: 1, 2 or 4 weeks, and only this cart's products."""
        line, length = self._snoozable(product_id), snooze_weeks(weeks)
        if line is not None and length is not None:
            await self._change_snooze(line, length)

    @rx.event
    async def clear_product_snooze(self, product_id: int):
        line = self._snoozable(product_id)
        if line is not None and line.snoozed_until:
            await self._change_snooze(line, None)

    @rx.event
    async def snooze_cart(self, weeks: int):
        length = snooze_weeks(weeks)
        if self.status == "ready" and self._customer_id and length is not None:
            await self._change_snooze(None, length)

    @rx.event
    async def clear_cart_snooze(self):
        if self.status == "ready" and self._customer_id and self.cart_snoozed_until:
            await self._change_snooze(None, None)

    @rx.var
    def subtotal_cents(self) -> int:
        return sum(self._prices.get(key, 0) * qty for key, qty in self.quantities.items())

    @rx.var
    def subtotal_label(self) -> str:
        return format_money(self.subtotal_cents, self.currency)

    @rx.var
    def line_totals(self) -> dict[str, str]:
        """Each selected line's total, by key: the only per-line figure a press changes."""
        return {
            key: format_money(self._prices.get(key, 0) * qty, self.currency)
            for key, qty in self.quantities.items()
        }

    @rx.var
    def item_count(self) -> int:
        return sum(self.quantities.values())

    @rx.var
    def cart_label(self) -> str:
        count = self.item_count
        return f"Cart, {count} item{'s' if count != 1 else ''}"

    @rx.var
    def can_checkout(self) -> bool:
        """Ready, something selected, the shop's minimum reached (the page words the shortfall
        from `min_checkout_quantity` itself, so a press sends no extra var) and a shop to go to."""
        count = self.item_count
        return (
            self.status == "ready"
            and count > 0
            and count >= self.min_checkout_quantity
            and self.checkout_available
        )
