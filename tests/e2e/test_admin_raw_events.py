"""Admin handlers called by a crafted websocket client, not the page: without a live session
every one refuses and changes nothing; with one, a saved API key never travels to the client."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from repeatcart_app.state.admin_home import AdminHomeState
from repeatcart_app.state.auth import AuthState, LoginState
from services.auth import admins as auth
from services.core.clock import utcnow
from services.core.config import Settings
from services.core.db import get_engine
from services.settings.effective import save_settings
from tests.e2e.app_process import SECRET_KEY, RunningApp
from tests.e2e.raw_events import RawEventClient, dummy_arguments, handler_name, redirects_to
from tests.unit.test_admin_guard import OPEN_TO_ANYONE, _admin_states

pytestmark = pytest.mark.e2e

# what an admin handler could change; each is read whole before and after the crafted calls
WATCHED_TABLES = (
    "shop",
    "app_setting",
    "ymal_item",
    "product",
    "cart_link",
    "outbox_message",
    "import_run",
    "sync_state",
    "admin_session",
    "snooze",
)


def _snapshot(database_url: str) -> dict[str, list[tuple]]:
    with get_engine(database_url).connect() as connection:
        return {
            table: sorted(
                map(tuple, connection.execute(text(f"SELECT * FROM {table}")).all()), key=repr
            )
            for table in WATCHED_TABLES
        }


def _admin_handlers() -> list[tuple[type, str]]:
    return sorted(
        (
            (state, name)
            for state in _admin_states()
            for name in state.event_handlers
            if name not in OPEN_TO_ANYONE and not name.startswith("set_")
        ),
        key=lambda pair: (pair[0].__name__, pair[1]),
    )


def _signed_in_token(running_app: RunningApp) -> str:
    with Session(get_engine(running_app.database_url)) as session:
        token = auth.sign_in(
            session,
            running_app.demo.admin_email,
            running_app.demo.admin_password,
            utcnow(),
            session_length=timedelta(hours=1),
        )
        session.commit()
    return token


def test_every_admin_handler_refuses_a_crafted_event_without_a_session(
    running_app: RunningApp,
) -> None:
    handlers = _admin_handlers()
    assert len(handlers) >= 9, "every dashboard page's state should be found"
    before = _snapshot(running_app.database_url)
    client = RawEventClient(running_app.base_url)
    try:
        client.hydrate("/admin")
        for state, name in handlers:
            client.send(handler_name(state, name), dummy_arguments(state, name), "/admin")
            # each refusal is a redirect to the sign-in page; none may be skipped silently
            client.wait_for(lambda update: redirects_to(update, "/admin/login"))
    finally:
        client.close()
    assert _snapshot(running_app.database_url) == before
    sent = json.dumps(client.received)
    assert running_app.demo.admin_email not in sent  # no admin data reached the caller


def test_a_forged_session_cookie_is_refused_like_none(running_app: RunningApp) -> None:
    client = RawEventClient(running_app.base_url)
    try:
        client.hydrate("/admin", {"session_token": "forged-" + "x" * 40})
        client.send(handler_name(AdminHomeState, "load"), {}, "/admin")
        client.wait_for(lambda update: redirects_to(update, "/admin/login"))
    finally:
        client.close()


def test_a_live_session_is_served_and_a_saved_key_never_reaches_the_client(
    running_app: RunningApp,
) -> None:
    key = "pk_live_e2e_" + "9f3a" * 8 + "WXYZ"
    with Session(get_engine(running_app.database_url)) as session:
        save_settings(session, {"klaviyo_api_key": key}, by="test", settings=_settings(running_app))
        session.commit()
    token = _signed_in_token(running_app)
    client = RawEventClient(running_app.base_url)
    try:
        client.hydrate("/admin", {"session_token": token})
        # the harness works: with the cookie, a handler runs instead of redirecting
        client.send(handler_name(AdminHomeState, "load"), {}, "/admin")
        client.wait_for(lambda update: _delta_sets(update, "loaded", True))
        for state in _admin_states():
            if state in (AuthState, LoginState) or "load" not in state.event_handlers:
                continue
            client.send(handler_name(state, "load"), {}, "/admin")
            client.wait_for(lambda update: _delta_sets(update, "loaded", True))
    finally:
        client.close()
    sent = json.dumps(client.received)
    assert not any(redirects_to(update, "/admin/login") for update in client.received)
    assert key not in sent and key[4:-4] not in sent
    assert key not in running_app.log.read_text()


def _settings(running_app: RunningApp) -> Settings:
    return Settings(database_url=running_app.database_url, secret_key=SECRET_KEY)


def _delta_sets(update: dict, var: str, value: object) -> bool:
    return any(
        state_delta.get(f"{var}_rx_state_", state_delta.get(var)) == value
        for state_delta in update.get("delta", {}).values()
    )
