"""One settings object for the whole project, read from `REPEATCART_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.moments import parse_moments

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_SHOP_DOMAIN = "demo-repeatcart.myshopify.com"


class Settings(BaseSettings):
    """Every setting RepeatCart reads; the README lists them with these defaults."""

    model_config = SettingsConfigDict(env_prefix="REPEATCART_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'data' / 'repeatcart.db'}",
        description="SQLAlchemy URL; a SQLite file by default, postgresql+psycopg://... to scale.",
    )
    public_url: str = Field(
        default="http://localhost:3000",
        description="Where shoppers reach the app; cart links start with it.",
    )
    port: int = Field(default=3000, description="Port the app serves pages on.")
    backend_port: int = Field(default=8000, description="Port of the backend in dev mode.")
    checkout_preview: bool | None = Field(
        default=None,
        description="Show a local page with the checkout permalink instead of leaving the app. "
        "Unset: on for the demo shop, off for a real one.",
    )
    shopify_shop: str = Field(default=DEMO_SHOP_DOMAIN, description="The shop's myshopify domain.")
    shopify_token: SecretStr = Field(
        default=SecretStr(""), description="Admin API access token (shpat_...)."
    )
    shopify_api_version: str = Field(default="2026-10", description="Admin API version YYYY-MM.")
    shopify_base_url: str = Field(
        default="", description="Overrides https://{shop} for the Admin API (tests use a fake)."
    )
    shopify_storefront_token: SecretStr = Field(
        default=SecretStr(""),
        description="Storefront API access token: subscription carts check out through it.",
    )
    shopify_storefront_base_url: str = Field(
        default="",
        description="Overrides https://{shop} for the Storefront API (tests use a fake).",
    )
    shopify_webhook_secret: SecretStr = Field(
        default=SecretStr(""), description="Secret that signs webhooks."
    )
    order_sync_minutes: float = Field(
        default=5, description="Minutes between incremental order syncs in the worker."
    )
    catalog_sync_minutes: float = Field(
        default=60, description="Minutes between catalog (products, variants) syncs."
    )
    nightly_recompute_hour: int = Field(
        default=3, ge=0, le=23, description="UTC hour of the full interval and due recompute."
    )
    sync_overlap_minutes: float = Field(
        default=10,
        description="Orders updated this long before the stored cursor are fetched again, so "
        "one changed while the last sync ran is not missed.",
    )
    klaviyo_api_key: SecretStr = Field(
        default=SecretStr(""), description="Klaviyo private API key (pk_...)."
    )
    klaviyo_enabled: bool = Field(default=True, description="Send to Klaviyo when a key is set.")
    klaviyo_moments_off: str = Field(
        default="",
        description="Moments not sent to Klaviyo, comma-separated (due, late, lapse, "
        "cross_sell, subscription); empty sends them all. Late follows a sent Due event, so it "
        "stops with Due.",
    )
    klaviyo_base_url: str = Field(default="https://a.klaviyo.com", description="Klaviyo API.")
    klaviyo_revision: str = Field(default="2026-07-15", description="Klaviyo API revision.")
    postscript_api_key: SecretStr = Field(
        default=SecretStr(""), description="Postscript API key (sk_...)."
    )
    postscript_enabled: bool = Field(
        default=True, description="Send to Postscript when a key is set."
    )
    postscript_moments_off: str = Field(
        default="",
        description="Moments not sent to Postscript, comma-separated (due, late, lapse, "
        "cross_sell, subscription); empty sends them all. Late follows a sent Due event, so it "
        "stops with Due.",
    )
    postscript_base_url: str = Field(
        default="https://api.postscript.io", description="Postscript API."
    )
    attentive_api_key: SecretStr = Field(default=SecretStr(""), description="Attentive API key.")
    attentive_enabled: bool = Field(
        default=True, description="Send to Attentive when a key is set."
    )
    attentive_moments_off: str = Field(
        default="",
        description="Moments not sent to Attentive, comma-separated (due, late, lapse, "
        "cross_sell, subscription); empty sends them all. Late follows a sent Due event, so it "
        "stops with Due.",
    )
    attentive_base_url: str = Field(
        default="https://api.attentivemobile.com", description="Attentive API."
    )
    relearn_minutes: float = Field(
        default=5,
        gt=0,
        description="Minutes between the worker's relearn runs: the intervals of products "
        "ordered since the last run are relearned and their buyers re-dated, once per run "
        "however many orders came in.",
    )
    due_scan_minutes: float = Field(
        default=15, description="Minutes between due scans (who is due → the outbox)."
    )
    due_lookback_days: float = Field(
        default=7,
        description="A customer who became due (or late) longer ago than this is not messaged "
        "by a scan; covers downtime without reminding long-lapsed customers.",
    )
    lapse_factor: float = Field(
        default=2,
        ge=1,
        le=10,
        description="About To Lapse: a repeat customer is lapsing once their last order is "
        "older than this many times the late interval (P75 × quantity) of the product they "
        "reorder most. Set on the dashboard's Cart page.",
    )
    cross_sell_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="Primed For Cross-sell: days after an order that the customer is offered "
        "the product most bought with what they buy. Set on the dashboard's Cart page.",
    )
    cross_sell_min_support: int = Field(
        default=5,
        ge=1,
        le=10000,
        description="Primed For Cross-sell: customers who must have bought both products "
        "before a pair is learned. Set on the dashboard's Cart page.",
    )
    min_checkout_quantity: int = Field(
        default=0,
        ge=0,
        le=999,
        description="Items a cart must hold before Check Out is enabled; 0 means no minimum. "
        "Set on the dashboard's Cart page.",
    )
    unique_codes: bool = Field(
        default=False,
        description="One discount code per customer: each Due event gets its own single-use "
        "code (created in Shopify), shown on the cart and sent as `discount_code`. Set on the "
        "dashboard's Cart page.",
    )
    unique_code_kind: Literal["percentage", "fixed"] = Field(
        default="percentage", description="A unique code takes a percentage or a fixed amount off."
    )
    unique_code_value: int = Field(
        default=10,
        ge=1,
        le=100_000_00,
        description="The unique code's value: a percentage (1 to 100) or an amount in cents.",
    )
    unique_code_prefix: str = Field(
        default="RC-", max_length=20, description="What every unique code starts with."
    )
    unique_code_days: int = Field(
        default=14, ge=1, le=365, description="Days a unique code stays valid, at least."
    )
    unique_code_seconds: float = Field(
        default=60, gt=0, description="Seconds between the worker's unique-code creation runs."
    )
    delivery_seconds: float = Field(
        default=60, description="Seconds between outbox delivery passes in the worker."
    )
    delivery_attempts: int = Field(
        default=8,
        ge=1,
        description="Delivery passes a message may fail transiently before it is kept as failed.",
    )
    delivery_backoff_seconds: float = Field(
        default=60,
        description="Wait before a message's second delivery pass; doubles each pass (6 h cap).",
    )
    delivery_claim_seconds: float = Field(
        default=900,
        description="How long a delivering worker owns a message; longer than one send with all "
        "its retries. A crashed worker's messages are taken over after it.",
    )
    admin_session_hours: float = Field(
        default=12, gt=0, description="Hours a dashboard sign-in lasts before it must be repeated."
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Fernet key(s) that encrypt tokens and API keys saved in the dashboard; "
        "comma-separated, the first encrypts (rotation). Unset: a key file is used.",
    )
    secret_key_file: str = Field(
        default=str(PROJECT_ROOT / "data" / "secret.key"),
        description="Where the generated encryption key is kept when REPEATCART_SECRET_KEY is "
        "unset; created (mode 600) on first use. Every process must read the same key.",
    )
    trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        description="Reverse proxies in front of the app that append to X-Forwarded-For; the "
        "client address (sign-in throttling) is read that many hops from the end. 0 ignores "
        "the header.",
    )
    embedded_worker: bool = Field(
        default=False,
        description="Run the background jobs inside the web process (demo); with several web "
        "workers one process at a time schedules them (a database lease).",
    )
    redis_url: SecretStr = Field(
        default=SecretStr(""),
        description="redis://host:6379/0 keeps Reflex's shopper state in Redis, which several "
        "web workers need; empty keeps it in the web process (one worker). Secret: the URL "
        "may carry a password.",
    )
    web_workers: int = Field(
        default=1,
        ge=1,
        description="Backend worker processes the web server starts; more than 1 needs "
        "REPEATCART_REDIS_URL.",
    )

    @field_validator(
        "klaviyo_moments_off", "postscript_moments_off", "attentive_moments_off", mode="after"
    )
    @classmethod
    def _known_moments(cls, value: str) -> str:
        """Only Moment names, written one way (`late,lapse`), so a typo fails at start-up."""
        return ",".join(sorted(parse_moments(value)))

    @model_validator(mode="after")
    def _several_web_workers_share_state_in_redis(self) -> Settings:
        """Each worker process would otherwise keep its own copy of every shopper's state."""
        if self.web_workers > 1 and not self.secret("redis_url"):
            raise ValueError("REPEATCART_WEB_WORKERS above 1 needs REPEATCART_REDIS_URL")
        return self

    @model_validator(mode="after")
    def _percentages_up_to_100(self) -> Settings:
        if self.unique_code_kind == "percentage" and self.unique_code_value > 100:
            raise ValueError("REPEATCART_UNIQUE_CODE_VALUE is a percentage: 1 to 100")
        return self

    @property
    def checkout_preview_enabled(self) -> bool:
        """The demo shop does not exist: its carts preview checkout locally unless told not to."""
        if self.checkout_preview is not None:
            return self.checkout_preview
        return self.shopify_shop == DEMO_SHOP_DOMAIN

    def secret(self, name: str) -> str:
        """The plain value of a secret setting, read where it is used (a header, a signature).

        Secrets are `SecretStr`, so a repr or a log line of the settings never shows them.
        """
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")

    def environment(self) -> dict[str, str]:
        """These settings as `REPEATCART_*` variables, secrets included: for a process started
        with the same configuration (tests, benchmarks)."""
        return {
            f"REPEATCART_{name.upper()}": self.secret(name)
            if isinstance(value, SecretStr)
            else str(value)
            for name, value in self
            if value is not None
        }

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def parse_flag(raw: object) -> bool:
    """A switch as the dashboard stores or a form sends it: a bool, or "on", "true", "1" or
    "yes" (browsers send "on" for a ticked checkbox and nothing when not)."""
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in ("on", "true", "1", "yes")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env."""
    return Settings()
