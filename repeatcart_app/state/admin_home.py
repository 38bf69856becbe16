"""The dashboard's overview: the shop and a few counts, loaded after the session check."""

from __future__ import annotations

from repeatcart_app.state.auth import AuthState, admin_event
from services.reporting.overview import load_overview


class AdminHomeState(AuthState):
    shop_name: str = ""
    shop_domain: str = ""
    customers: str = "0"  # counts as shown: "1,495"
    orders: str = "0"
    due_customers: str = "0"
    loaded: bool = False

    @admin_event
    def load(self):
        overview = load_overview()
        self.shop_name = overview.shop_name
        self.shop_domain = overview.shop_domain
        self.customers = f"{overview.customers:,}"
        self.orders = f"{overview.orders:,}"
        self.due_customers = f"{overview.due_customers:,}"
        self.loaded = True
