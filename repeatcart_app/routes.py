"""Route constants and URL builders: the one place that knows the app's paths."""

from urllib.parse import urlencode

HOME = "/"
CART = "/cart/[token]"
CART_WITHOUT_TOKEN = "/cart"
FEATURED = "/replenish"  # services.cart.featured.FEATURED_PATH
NOT_FOUND = "404"
CHECKOUT_PREVIEW = "/checkout-preview"
DEMO_IMAGES = "/demo-images/{name}"
HEALTH = "/healthz"
SHOPIFY_WEBHOOKS = "/webhooks/shopify"


def checkout_preview_url(permalink: str) -> str:
    return f"{CHECKOUT_PREVIEW}?{urlencode({'permalink': permalink})}"


ADMIN_HOME = "/admin"
ADMIN_LOGIN = "/admin/login"
ADMIN_STORE = "/admin/store"
ADMIN_CART = "/admin/cart"
ADMIN_PRODUCTS = "/admin/products"
ADMIN_CUSTOMERS = "/admin/customers"
ADMIN_INTEGRATIONS = "/admin/integrations"
ADMIN_SYNC = "/admin/sync"
ADMIN_ANALYTICS = "/admin/analytics"
ADMIN_INSIGHTS = "/admin/insights"
