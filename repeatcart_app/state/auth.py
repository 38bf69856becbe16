"""Who is signed in to the dashboard: the app-wide auth state every admin state derives from.

The browser keeps only a random session token, in a cookie (`rx.Cookie` cannot be HttpOnly:
Reflex sets it from the page's script). The server keeps its hash and expiry, so every check
asks the database: an expired or signed-out session is refused at once, in every process.

Each handler is a remote call from a browser, so admin handlers check the session themselves:
they start with `denied = require_admin(self)` and `return denied` when it is not None.
"""

from __future__ import annotations

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
    def sign_out(self):
        if self.session_token:
            with session_scope() as session:
                auth.sign_out(session, self.session_token, utcnow())
        self.session_token = ""
        self.current_email = ""
        return rx.redirect(routes.ADMIN_LOGIN, replace=True)


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
    def sign_in(self, form_data: dict):
        email = str(form_data.get("email", ""))
        password = str(form_data.get("password", ""))
        with session_scope() as session:
            secure = effective_settings(session).public_url.startswith("https://")
            try:
                token = auth.sign_in(
                    session,
                    email,
                    password,
                    utcnow(),
                    client=self.router.session.client_ip,
                    session_length=timedelta(hours=get_settings().admin_session_hours),
                )
            except auth.AuthError as refusal:
                # a normal return from the block commits, so the failure is counted
                self.error = str(refusal)
                return None
        self.error = ""
        self.session_token = token
        self.current_email = auth.normalize_email(email)
        home = rx.redirect(routes.ADMIN_HOME, replace=True)
        return [_secure_cookie(token), home] if secure else home


def _secure_cookie(token: str) -> rx.event.EventSpec:
    """Mark the session cookie Secure when the effective public URL is https.

    `rx.Cookie(secure=...)` is fixed when the frontend is built, from the environment; a public
    URL saved on the Store page later must count too, so the cookie is written again with the
    flag. The token is a URL-safe random string, safe inside the script.
    """
    attributes = f"Path=/; Max-Age={_SESSION_SECONDS}; SameSite=Strict; Secure"
    return rx.call_script(f"document.cookie = '{SESSION_COOKIE}={token}; {attributes}'")
