"""The dashboard's Store page state: the Shopify connection and the carts' public address.

Secrets never enter this state: the form's password fields go straight from the submitted form
to `services.settings.store`, and the page shows only "ends in ••••1234". The form is remounted
(`form_key`) after a successful save, which empties the password fields; after a refused save
it is left as typed, so nothing the merchant entered is lost.
"""

from __future__ import annotations

import asyncio

from repeatcart_app.state.auth import AuthState, admin_event
from services.settings.store import (
    STORE_SECRETS,
    ConnectedShop,
    StoreView,
    check_saved_connection,
    load_store_view,
    remove_saved_secret,
    save_store_form,
)

_SECRET_NAMES = {
    "shopify_token": "Admin API token",
    "shopify_storefront_token": "Storefront API token",
    "shopify_webhook_secret": "Webhook secret",
}
_FIELDS = ("shopify_shop", "shopify_api_version", "public_url", *STORE_SECRETS)


class AdminStoreState(AuthState):
    loaded: bool = False
    shop: str = ""
    api_version: str = ""
    public_url: str = ""
    token_note: str = ""
    token_saved: bool = False
    token_unreadable: bool = False
    storefront_note: str = ""
    storefront_saved: bool = False
    storefront_unreadable: bool = False
    webhook_note: str = ""
    webhook_saved: bool = False
    webhook_unreadable: bool = False
    errors: dict[str, str] = {}
    form_message: str = ""
    form_ok: bool = False
    form_key: int = 0
    testing: bool = False
    connection_message: str = ""
    connection_ok: bool = False
    _connection_run: int = 0  # the latest test's number: an older test's answer is dropped
    switch_from: str = ""  # a save to another shop was refused: the shop whose data it holds
    connected_name: str = ""
    connected_domain: str = ""
    connected_details: str = ""  # primary domain · currency · time zone · when Shopify said so

    def _show(self, view: StoreView) -> None:
        self.shop = view.shop
        self.api_version = view.api_version
        self.public_url = view.public_url
        self.token_note = view.token.note
        self.token_saved = view.token.source == "saved"
        self.token_unreadable = view.token.source == "unreadable"
        self.storefront_note = view.storefront_token.note
        self.storefront_saved = view.storefront_token.source == "saved"
        self.storefront_unreadable = view.storefront_token.source == "unreadable"
        self.webhook_note = view.webhook_secret.note
        self.webhook_saved = view.webhook_secret.source == "saved"
        self.webhook_unreadable = view.webhook_secret.source == "unreadable"
        shop = view.connected
        self.connected_domain = shop.domain if shop else ""
        self.connected_name = (shop.name or shop.domain) if shop else ""
        self.connected_details = _details(shop) if shop else ""

    def _saved(self, view: StoreView, message: str) -> None:
        """After a change was stored: show what is saved now, in fresh (empty) secret fields."""
        self._show(view)
        self.form_key += 1  # remounts the form: password fields are empty again
        self.form_ok = True
        self.form_message = message
        self.connection_message = ""  # it tested the settings before the change

    @admin_event
    def load(self):
        self._show(load_store_view())
        self.errors = {}
        self.form_message = ""
        self.connection_message = ""
        self.testing = False
        self._connection_run += 1  # a test still running from before the reload shows nothing
        self.switch_from = ""
        self.loaded = True

    @admin_event
    def save(self, form_data: dict):
        values = {name: str(form_data.get(name, "") or "") for name in _FIELDS}
        replace_data = bool(self.switch_from) and form_data.get("replace_data") in ("on", True)
        result = save_store_form(values, by=self.current_email, replace_data=replace_data)
        self.switch_from = result.switch_from
        if result.view is None:
            self.errors = result.errors
            self.form_ok = False
            self.form_message = (
                "Nothing was saved: confirm the change of shop above, or set it back."
                if self.switch_from
                else "Nothing was saved: correct the fields marked in red."
            )
            return None
        self.errors = {}
        self._saved(result.view, "Saved." if result.changed else "No changes to save.")
        # what Shopify says about the saved shop (name, currency, a refused token) shows at once
        return AdminStoreState.test_connection if self.token_note != "Not set." else None

    @admin_event
    def remove_secret(self, name: str):
        if name not in STORE_SECRETS:
            return
        what = _SECRET_NAMES[name]
        self._saved(remove_saved_secret(name), f"{what} removed.")

    @admin_event(background=True)
    async def test_connection(self):
        async with self:
            if self.testing:
                return
            self.testing = True
            self.connection_message = ""
            self._connection_run += 1
            run = self._connection_run
        result = await asyncio.to_thread(check_saved_connection)
        async with self:
            if run != self._connection_run:
                return  # the page was loaded again meanwhile, or a newer test answers instead
            self.testing = False
            self.connection_ok = result.ok
            self.connection_message = result.message
            if result.view is not None:  # Shopify's answer was recorded: show the shop as it is
                self._show(result.view)


def _details(shop: ConnectedShop) -> str:
    parts = [
        shop.primary_domain if shop.primary_domain != shop.domain else "",
        shop.currency,
        shop.timezone,
        f"checked {shop.checked_at:%Y-%m-%d %H:%M} UTC" if shop.checked_at else "not checked yet",
    ]
    return " · ".join(part for part in parts if part)
