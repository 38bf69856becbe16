"""The dashboard's overview: the shop and a few counts, loaded after the session check."""

from __future__ import annotations

import reflex as rx

from repeatcart_app.state.auth import AuthState, require_admin
from services.db import session_scope
from services.models import utcnow
from services.overview import store_overview


class AdminHomeState(AuthState):
    shop_name: str = ""
    shop_domain: str = ""
    customers: str = "0"  # counts as shown: "1,495"
    orders: str = "0"
    due_customers: str = "0"
    loaded: bool = False

    @rx.event
    def load(self):
        denied = require_admin(self)
        if denied is not None:
            self.loaded = False
            return denied
        with session_scope() as session:
            overview = store_overview(session, utcnow())
        self.shop_name = overview.shop_name
        self.shop_domain = overview.shop_domain
        self.customers = f"{overview.customers:,}"
        self.orders = f"{overview.orders:,}"
        self.due_customers = f"{overview.due_customers:,}"
        self.loaded = True
        return None
