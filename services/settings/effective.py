"""Settings a merchant saves in the dashboard, layered over the environment.

Every `REPEATCART_*` variable is a default; a value saved in the dashboard (an `AppSetting`
row of the same name) wins. Jobs, webhooks and the CLI read `effective_settings()` at the
start of each piece of work, so a change applies on the next run without a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from services.core.clock import utcnow
from services.core.config import Settings, get_settings
from services.core.db import get_engine
from services.core.secrets import SecretError, decrypt, encrypt, last4, reencrypt
from services.core.tables import AppSetting
from services.messaging import PROVIDERS

SECRET_SETTINGS = frozenset(
    {
        "shopify_token",
        "shopify_storefront_token",
        "shopify_webhook_secret",
        *(p.key_setting for p in PROVIDERS),
    }
)
PLAIN_SETTINGS = frozenset(
    {
        "shopify_shop",
        "shopify_api_version",
        "public_url",
        "lapse_factor",
        "cross_sell_days",
        "cross_sell_min_support",
        "min_checkout_quantity",
        "unique_codes",
        "unique_code_kind",
        "unique_code_value",
        "unique_code_prefix",
        "unique_code_days",
        *(p.enabled_setting for p in PROVIDERS),
        *(p.moments_setting for p in PROVIDERS),
    }
)
EDITABLE_SETTINGS = SECRET_SETTINGS | PLAIN_SETTINGS


@dataclass(frozen=True, slots=True)
class StoredSetting:
    """What the dashboard may know of a saved setting: secrets only by their last characters."""

    name: str
    shown: str  # the value, or for a secret its last 4 characters
    secret: bool
    updated_at: datetime
    readable: bool = True  # False: a secret the current encryption key cannot decrypt


def effective_settings(session: Session, base: Settings | None = None) -> Settings:
    """The environment's settings with the dashboard's saved values applied.

    A secret that no longer decrypts (the key changed) is treated as unset and logged by the
    caller's failure, rather than crashing every job: the dashboard shows it must be re-entered.
    """
    base = base or get_settings()
    rows = session.exec(select(AppSetting)).all()
    if not rows:
        return base
    raw: dict[str, object] = {}
    for row in rows:
        if row.name not in EDITABLE_SETTINGS:
            continue
        if row.encrypted:
            try:
                raw[row.name] = decrypt(row.value, base)
            except SecretError:
                raw[row.name] = ""
        else:
            raw[row.name] = row.value
    # validate through the model so "0"/"false" become booleans, as from the environment
    return Settings.model_validate({**base.model_dump(), **raw})


def save_settings(
    session: Session,
    values: Mapping[str, str | bool],
    *,
    by: str = "",
    now: datetime | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """Store the given settings; a secret given as "" keeps its stored value (a blank key field
    means "unchanged"). Returns the names that changed. The caller validates and commits."""
    now = now or utcnow()
    changed: list[str] = []
    for name, value in values.items():
        if name not in EDITABLE_SETTINGS:
            raise KeyError(f"{name} is not a setting the dashboard can change")
        secret = name in SECRET_SETTINGS
        text = str(value).strip() if not isinstance(value, bool) else ("1" if value else "0")
        if secret and text == "":
            continue
        stored = session.get(AppSetting, name)
        row = stored or AppSetting(name=name)
        if secret:
            if row.encrypted and row.value and _same_secret(row.value, text, settings):
                # unchanged, but re-encrypted under the newest key (how rotation completes)
                row.value = reencrypt(row.value, settings)
                session.add(row)
                continue
            row.value, row.encrypted, row.last4 = encrypt(text, settings), True, last4(text)
        else:
            if stored is not None and row.value == text:
                continue
            row.value, row.encrypted, row.last4 = text, False, ""
        row.updated_at, row.updated_by = now, by
        session.add(row)
        changed.append(name)
    return changed


def clear_setting(session: Session, name: str) -> None:
    """Forget a saved value, so the environment's applies again (e.g. remove an API key)."""
    row = session.get(AppSetting, name)
    if row is not None:
        session.delete(row)


def stored_settings(session: Session, settings: Settings | None = None) -> dict[str, StoredSetting]:
    """Saved settings as the dashboard may show them: secret values never leave this module.

    A secret is decrypted only to learn whether it still can be (`readable`), so the dashboard
    can ask for it again after the encryption key changed instead of failing later in a job.
    """
    return {
        row.name: StoredSetting(
            row.name,
            row.last4 if row.encrypted else row.value,
            row.encrypted,
            row.updated_at,
            _readable(row.value, settings) if row.encrypted else True,
        )
        for row in session.exec(select(AppSetting)).all()
    }


def secret_display(
    stored: dict[str, StoredSetting], name: str, base: Settings | None = None
) -> tuple[str, str]:
    """(last 4 characters, source) of a secret for the dashboard; source is `saved`,
    `unreadable` (saved, but the encryption key changed), `environment` or `none`."""
    row = stored.get(name)
    if row is not None and row.secret:
        return (row.shown, "saved") if row.readable else ("", "unreadable")
    value = (base or get_settings()).secret(name)
    return (last4(value), "environment") if value else ("", "none")


def _readable(stored: str, settings: Settings | None) -> bool:
    try:
        decrypt(stored, settings)
    except SecretError:
        return False
    return True


def _same_secret(stored: str, text: str, settings: Settings | None) -> bool:
    try:
        return decrypt(stored, settings) == text
    except SecretError:
        return False


def load_effective_settings(base: Settings | None = None) -> Settings:
    """`effective_settings` in a session of its own, for the start of a job or command."""
    base = base or get_settings()
    with Session(get_engine(base.database_url)) as session:
        return effective_settings(session, base)
