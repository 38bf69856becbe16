"""Who is signed in to the dashboard: the app-wide auth state every admin state derives from.

The browser keeps only a random session token, in a cookie (`rx.Cookie` cannot be HttpOnly:
Reflex sets it from the page's script). The server keeps its hash and expiry, so every check
asks the database: an expired or signed-out session is refused at once, in every process.

Each handler is a remote call from a browser, so admin handlers check the session themselves:
they start with `denied = require_admin(self)` and `return denied` when it is not None.

Signing in and out touch the database and argon2, so their work runs in a thread: while it
runs, the event loop keeps serving every other tab.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import reflex as rx

from repeatcart_app import routes
from services import auth
from services.config import get_settings
from services.db import session_scope
from services.models import utcnow
from services.store_settings import effective_settings

SESSION_COOKIE = "repeatcart_admin"
_SESSION_SECONDS = int(get_settings().admin_session_hours * 3600)


class AuthState(rx.State):
    session_token: str = rx.Cookie(
        "",
        name=SESSION_COOKIE,
        max_age=_SESSION_SECONDS,
        same_site="strict",
        secure=get_settings().public_url.startswith("https://"),
    )
    current_email: str = ""

    def _signed_in(self) -> auth.SignedIn | None:
        with session_scope() as session:
            return auth.session_user(session, self.session_token, utcnow())

    @rx.event
    def check_login(self):
        """on_load of an admin page that loads nothing else."""
        return require_admin(self)

    @rx.event
    async def sign_out(self):
        """End the session and forget every admin page's data in this tab, so neither a
        reload nor Back shows (or sends the browser) anything from before."""
        if self.session_token:
            await asyncio.to_thread(auth.end_session, self.session_token)
        for state in _descendants(AuthState):
            (await self.get_state(state)).reset()
        self.reset()
        return rx.redirect(routes.ADMIN_LOGIN, replace=True)


def _descendants(state: type[rx.State]) -> list[type[rx.State]]:
    found, pending = [], list(state.get_substates())
    while pending:
        substate = pending.pop()
        found.append(substate)
        pending.extend(substate.get_substates())
    return found


def require_admin(state: AuthState) -> rx.event.EventSpec | None:
    """None while `state`'s session is live; otherwise forget the user and send them to sign in.

    A plain function, not a method, so the browser cannot call it as an event.
    """
    user = state._signed_in()
    if user is None:
        state.current_email = ""
        return rx.redirect(routes.ADMIN_LOGIN, replace=True)
    state.current_email = user.email
    return None


class LoginState(AuthState):
    """The sign-in form."""

    error: str = ""
    ready: bool = False

    @rx.event
    def load(self):
        self.error = ""
        self.ready = True
        if self._signed_in() is not None:
            return rx.redirect(routes.ADMIN_HOME, replace=True)
        return None

    @rx.event
    async def sign_in(self, form_data: dict):
        email = str(form_data.get("email", ""))
        password = str(form_data.get("password", ""))
        attempt = await asyncio.to_thread(
            _attempt_sign_in, email, password, self.router.session.client_ip
        )
        if attempt.refusal:
            self.error = attempt.refusal
            return None
        self.error = ""
        self.session_token = attempt.token
        self.current_email = auth.normalize_email(email)
        home = rx.redirect(routes.ADMIN_HOME, replace=True)
        return [_secure_cookie(attempt.token), home] if attempt.secure else home


@dataclass(frozen=True, slots=True)
class _Attempt:
    token: str = ""
    secure: bool = False
    refusal: str = ""


def _attempt_sign_in(email: str, password: str, client: str) -> _Attempt:
    """The database and argon2 part of signing in (run in a thread)."""
    with session_scope() as session:
        secure = effective_settings(session).public_url.startswith("https://")
        try:
            token = auth.sign_in(
                session,
                email,
                password,
                utcnow(),
                client=client,
                session_length=timedelta(hours=get_settings().admin_session_hours),
            )
        except auth.AuthError as refusal:
            # a normal return from the block commits, so the failure is counted
            return _Attempt(refusal=str(refusal))
    return _Attempt(token=token, secure=secure)


def _secure_cookie(token: str) -> rx.event.EventSpec:
    """Mark the session cookie Secure when the effective public URL is https.

    `rx.Cookie(secure=...)` is fixed when the frontend is built, from the environment; a public
    URL saved on the Store page later must count too, so the cookie is written again with the
    flag. The token is a URL-safe random string, safe inside the script.
    """
    attributes = f"Path=/; Max-Age={_SESSION_SECONDS}; SameSite=Strict; Secure"
    return rx.call_script(f"document.cookie = '{SESSION_COOKIE}={token}; {attributes}'")
