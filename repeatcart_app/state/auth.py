"""Who is signed in to the dashboard: the app-wide auth state every admin state derives from.

The browser keeps only a random session token, in a cookie (`rx.Cookie` cannot be HttpOnly:
Reflex sets it from the page's script). The server keeps its hash and expiry, so every check
asks the database: an expired or signed-out session is refused at once, in every process.

Each handler is a remote call from a browser, so every admin handler is declared with
`@admin_event`: it checks the session on each call, and runs the handler's work in a thread, so
the database and the providers never hold up the event loop that serves every other tab.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from reflex.state import BaseState

from repeatcart_app import routes
from services.auth import admins as auth
from services.core.config import get_settings

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

    @rx.event
    async def check_login(self):
        """on_load of an admin page that loads nothing else."""
        return _admit(self, await _session_user(self))

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


def _descendants(state: type[BaseState]) -> list[type[BaseState]]:
    found, pending = [], list(state.get_substates())
    while pending:
        substate = pending.pop()
        found.append(substate)
        pending.extend(substate.get_substates())
    return found


def _admit(state: AuthState, user: auth.SignedIn | None) -> EventSpec | None:
    """None while the session is live (`user`). Otherwise the page forgets what it showed and
    the browser goes to sign in. A plain function, not a method, so no browser can call it."""
    if user is None:
        state.reset()  # this page's data, never the cookie (it belongs to AuthState)
        state.current_email = ""
        return rx.redirect(routes.ADMIN_LOGIN, replace=True)
    state.current_email = user.email
    return None


async def _session_user(state: AuthState) -> auth.SignedIn | None:
    return await asyncio.to_thread(auth.signed_in_user, state.session_token)


ADMIN_ONLY = "_repeatcart_admin_only"  # set on every handler `admin_event` made


def admin_event(work: Callable[..., Any] | None = None, *, background: bool = False) -> Any:
    """Declare a handler of an admin state: `@admin_event` or `@admin_event(background=True)`.

    Every call checks the session first (a refused one resets the page and redirects to sign
    in), then runs `work`: a plain function in a thread, off the event loop; a coroutine as it
    is (it awaits its own slow parts). A background handler checks before it locks the state,
    so its `async with self:` blocks stay short.
    """

    def decorate(work: Callable[..., Any]) -> Any:
        if background and not inspect.iscoroutinefunction(work):
            raise TypeError(f"{work.__qualname__}: a background admin handler must be async")

        @functools.wraps(work)
        async def handler(self: AuthState, *args: Any, **kwargs: Any) -> Any:
            user = await _session_user(self)
            if background:  # a background handler writes its state under the lock
                async with self:
                    denied = _admit(self, user)
            else:
                denied = _admit(self, user)
            if denied is not None:
                return denied
            if inspect.iscoroutinefunction(work):
                return await work(self, *args, **kwargs)
            return await asyncio.to_thread(work, self, *args, **kwargs)

        setattr(handler, ADMIN_ONLY, True)
        return rx.event(handler, background=background)

    return decorate(work) if work is not None else decorate


class LoginState(AuthState):
    """The sign-in form."""

    error: str = ""
    ready: bool = False

    @rx.event
    async def load(self):
        self.error = ""
        self.ready = True
        if await _session_user(self) is not None:
            return rx.redirect(routes.ADMIN_HOME, replace=True)
        return None

    @rx.event
    async def sign_in(self, form_data: dict):
        attempt = await asyncio.to_thread(
            auth.attempt_sign_in,
            str(form_data.get("email", "")),
            str(form_data.get("password", "")),
            self.router.session.client_ip,
            timedelta(hours=get_settings().admin_session_hours),
        )
        if attempt.refusal:
            self.error = attempt.refusal
            return None
        self.error = ""
        self.session_token = attempt.token
        self.current_email = attempt.email
        home = rx.redirect(routes.ADMIN_HOME, replace=True)
        return [_secure_cookie(attempt.token), home] if attempt.secure else home


def _secure_cookie(token: str) -> EventSpec:
    """Mark the session cookie Secure when the effective public URL is https.

    `rx.Cookie(secure=...)` is fixed when the frontend is built, from the environment; a public
    URL saved on the Store page later must count too, so the cookie is written again with the
    flag. The token is a URL-safe random string, safe inside the script.
    """
    attributes = f"Path=/; Max-Age={_SESSION_SECONDS}; SameSite=Strict; Secure"
    return rx.call_script(f"document.cookie = '{SESSION_COOKIE}={token}; {attributes}'")
