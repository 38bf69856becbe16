"""Settings saved in the dashboard: encrypted at rest, shown by their last 4 characters only."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlmodel import Session

from services.cli import main as cli_main
from services.core.config import Settings
from services.core.secrets import new_key
from services.settings.effective import (
    effective_settings,
    save_settings,
    secret_display,
    stored_settings,
)

TOKEN = "shpat_0123456789abcdefWXYZ"


@pytest.fixture
def base(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key=Fernet.generate_key().decode())


def _raw_rows(session: Session) -> dict[str, tuple[str, bool, str]]:
    rows = session.execute(text("SELECT name, value, encrypted, last4 FROM app_setting"))
    return {name: (value, bool(encrypted), last4) for name, value, encrypted, last4 in rows}


def test_a_secret_is_stored_encrypted_with_only_its_last4_in_clear(session, base) -> None:
    save_settings(session, {"shopify_token": TOKEN}, settings=base)
    session.commit()
    value, encrypted, last4 = _raw_rows(session)["shopify_token"]
    assert encrypted and TOKEN not in value and "0123456789" not in value
    assert last4 == "WXYZ"
    assert effective_settings(session, base).secret("shopify_token") == TOKEN


def test_a_blank_secret_keeps_the_stored_one(session, base) -> None:
    save_settings(session, {"klaviyo_api_key": "pk_first_key_0001"}, settings=base)
    session.commit()
    changed = save_settings(
        session, {"klaviyo_api_key": "", "klaviyo_enabled": False}, settings=base
    )
    session.commit()
    assert changed == ["klaviyo_enabled"]
    settings = effective_settings(session, base)
    assert settings.secret("klaviyo_api_key") == "pk_first_key_0001"
    assert settings.klaviyo_enabled is False


def test_stored_settings_expose_last4_and_never_the_secret(session, base) -> None:
    save_settings(session, {"attentive_api_key": "att_secret_value_9876"}, settings=base)
    session.commit()
    shown = stored_settings(session, base)["attentive_api_key"]
    assert shown.shown == "9876" and shown.readable
    assert "att_secret" not in repr(stored_settings(session, base))
    assert secret_display(stored_settings(session, base), "attentive_api_key", base) == (
        "9876",
        "saved",
    )


def test_a_changed_encryption_key_asks_for_the_secret_again(session, base) -> None:
    save_settings(session, {"postscript_api_key": "sk_live_abcdefgh1234"}, settings=base)
    session.commit()
    other = base.model_copy(update={"secret_key": Fernet.generate_key().decode()})
    shown = stored_settings(session, other)["postscript_api_key"]
    assert not shown.readable
    assert secret_display(stored_settings(session, other), "postscript_api_key", other) == (
        "",
        "unreadable",
    )
    # jobs see it as unset instead of crashing
    assert effective_settings(session, other).secret("postscript_api_key") == ""
    # saving it again under the new key makes it readable
    save_settings(session, {"postscript_api_key": "sk_live_abcdefgh1234"}, settings=other)
    session.commit()
    assert effective_settings(session, other).secret("postscript_api_key") == "sk_live_abcdefgh1234"


def test_an_environment_secret_shows_its_source(session, base) -> None:
    env = base.model_copy(update={"klaviyo_api_key": "pk_from_environment_5555"})
    assert secret_display(stored_settings(session, env), "klaviyo_api_key", env) == (
        "5555",
        "environment",
    )
    assert secret_display({}, "attentive_api_key", env) == ("", "none")


def test_secret_key_command_prints_a_fernet_key(capsys) -> None:
    assert cli_main(["secret-key"]) == 0
    key = capsys.readouterr().out.strip()
    Fernet(key.encode())  # raises if it is not a Fernet key
    assert key != new_key()


def test_saving_a_secret_again_moves_it_to_the_newest_key(session, base) -> None:
    old_key = base.secret("secret_key")
    save_settings(session, {"shopify_token": TOKEN}, settings=base)
    session.commit()
    new = Fernet.generate_key().decode()
    rotating = base.model_copy(update={"secret_key": f"{new},{old_key}"})
    assert (
        effective_settings(session, rotating).secret("shopify_token") == TOKEN
    )  # old still decrypts
    assert save_settings(session, {"shopify_token": TOKEN}, settings=rotating) == []
    session.commit()
    only_new = base.model_copy(update={"secret_key": new})
    assert effective_settings(session, only_new).secret("shopify_token") == TOKEN
