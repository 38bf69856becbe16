"""The Reflex app: every page and its loader in one place, plus the plain HTTP routes."""

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.api import api, cart_path_guard
from repeatcart_app.background import cart_events_saved_on_stop, embedded_worker
from repeatcart_app.pages.admin_analytics import admin_analytics_page
from repeatcart_app.pages.admin_cart import admin_cart_page
from repeatcart_app.pages.admin_customers import admin_customers_page
from repeatcart_app.pages.admin_home import admin_home_page
from repeatcart_app.pages.admin_insights import admin_insights_page
from repeatcart_app.pages.admin_integrations import admin_integrations_page
from repeatcart_app.pages.admin_login import admin_login_page
from repeatcart_app.pages.admin_products import admin_products_page
from repeatcart_app.pages.admin_store import admin_store_page
from repeatcart_app.pages.admin_sync import admin_sync_page
from repeatcart_app.pages.cart import cart_page
from repeatcart_app.pages.checkout_preview import checkout_preview_page
from repeatcart_app.pages.home import home_page
from repeatcart_app.pages.not_found import NotFoundState, not_found_page
from repeatcart_app.state.admin_analytics import AdminAnalyticsState
from repeatcart_app.state.admin_cart import AdminCartState
from repeatcart_app.state.admin_customers import AdminCustomersState
from repeatcart_app.state.admin_home import AdminHomeState
from repeatcart_app.state.admin_insights import AdminInsightsState
from repeatcart_app.state.admin_integrations import AdminIntegrationsState
from repeatcart_app.state.admin_products import AdminProductsState
from repeatcart_app.state.admin_store import AdminStoreState
from repeatcart_app.state.admin_sync import AdminSyncState
from repeatcart_app.state.auth import LoginState
from repeatcart_app.state.cart import CartState
from repeatcart_app.state.checkout_preview import CheckoutPreviewState
from repeatcart_app.state.home import HomeState
from repeatcart_app.upload_guard import upload_guard, upload_limits

app = rx.App(
    api_transformer=[api, cart_path_guard, upload_guard(upload_limits())],
    head_components=[rx.el.meta(name="theme-color", content="#ffffff")],
)
app.register_lifespan_task(embedded_worker)
app.register_lifespan_task(cart_events_saved_on_stop)
app.add_page(home_page, route=routes.HOME, title="RepeatCart", on_load=HomeState.load)
app.add_page(cart_page, route=routes.CART, title="Your cart", on_load=CartState.load)
app.add_page(cart_page, route=routes.CART_WITHOUT_TOKEN, title="Your cart", on_load=CartState.load)
app.add_page(cart_page, route=routes.FEATURED, title="Your cart", on_load=CartState.load_featured)
app.add_page(not_found_page, route=routes.NOT_FOUND, title="Not found", on_load=NotFoundState.load)
app.add_page(
    checkout_preview_page,
    route=routes.CHECKOUT_PREVIEW,
    title="Checkout preview",
    on_load=CheckoutPreviewState.load,
)
app.add_page(
    admin_login_page,
    route=routes.ADMIN_LOGIN,
    title="Sign in · RepeatCart",
    on_load=LoginState.load,
)
app.add_page(
    admin_home_page,
    route=routes.ADMIN_HOME,
    title="Overview · RepeatCart",
    on_load=AdminHomeState.load,
)
app.add_page(
    admin_store_page,
    route=routes.ADMIN_STORE,
    title="Store · RepeatCart",
    on_load=AdminStoreState.load,
)
app.add_page(
    admin_cart_page,
    route=routes.ADMIN_CART,
    title="Cart · RepeatCart",
    on_load=AdminCartState.load,
)
app.add_page(
    admin_products_page,
    route=routes.ADMIN_PRODUCTS,
    title="Products · RepeatCart",
    on_load=AdminProductsState.load,
)
app.add_page(
    admin_customers_page,
    route=routes.ADMIN_CUSTOMERS,
    title="Customers · RepeatCart",
    on_load=AdminCustomersState.load,
)
app.add_page(
    admin_integrations_page,
    route=routes.ADMIN_INTEGRATIONS,
    title="Integrations · RepeatCart",
    on_load=AdminIntegrationsState.load,
)
app.add_page(
    admin_sync_page,
    route=routes.ADMIN_SYNC,
    title="Sync · RepeatCart",
    on_load=AdminSyncState.load,
)
app.add_page(
    admin_analytics_page,
    route=routes.ADMIN_ANALYTICS,
    title="Analytics · RepeatCart",
    on_load=AdminAnalyticsState.load,
)
app.add_page(
    admin_insights_page,
    route=routes.ADMIN_INSIGHTS,
    title="Insights · RepeatCart",
    on_load=AdminInsightsState.load,
)
