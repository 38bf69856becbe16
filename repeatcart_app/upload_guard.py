"""The gate in front of Reflex's upload endpoint (`POST /_upload`).

Reflex reads the whole request body, and spools a buffered handler's files to the temporary
directory, before the handler runs and can check the session: an anonymous 300 MB upload
reached the disk in full. This guard answers before the body is read: 401 without a live admin
session (the `repeatcart_admin` cookie, which the page's same-origin upload request carries),
400 for a handler that takes no uploads, 413 past that handler's cap, from `Content-Length`
when it is declared, else by counting the streamed bytes, and then it reads no further.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping

from reflex.config import get_config
from reflex.constants import Endpoint
from reflex.utils.format import format_event_handler
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repeatcart_app.state.admin_products import AdminProductsState
from repeatcart_app.state.admin_sync import AdminSyncState
from repeatcart_app.state.auth import SESSION_COOKIE
from services.auth import admins as auth
from services.products import bulk_overrides
from services.sync import uploads as sync_uploads

MULTIPART_FRAMING = 64 * 1024
"""Room beside the file for the multipart boundaries and part headers."""

SessionCheck = Callable[[str], Awaitable[bool]]


def upload_limits() -> dict[str, int]:
    """The largest request each upload handler accepts, by the name the page sends in the
    `Reflex-Event-Handler` header; a handler not named here takes no uploads."""
    return {
        format_event_handler(AdminProductsState.upload_bulk): (
            bulk_overrides.MAX_CSV_BYTES + MULTIPART_FRAMING
        ),
        format_event_handler(AdminSyncState.upload_export): (
            sync_uploads.MAX_UPLOAD_BYTES + MULTIPART_FRAMING
        ),
    }


async def admin_signed_in(token: str) -> bool:
    """Whether `token` is a live admin session (looked up in a thread: it asks the database)."""

    return await asyncio.to_thread(auth.is_signed_in, token)


def upload_guard(
    limits: Mapping[str, int], signed_in: SessionCheck = admin_signed_in, path: str = ""
) -> Callable[[ASGIApp], ASGIApp]:
    """An `api_transformer` that refuses uploads to `path` (Reflex's upload endpoint by
    default) unless signed in, addressed to a handler of `limits` and within its limit."""

    def transform(app: ASGIApp) -> ASGIApp:
        upload_path = path or get_config().prepend_backend_path(str(Endpoint.UPLOAD))

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if (
                scope["type"] != "http"
                or scope.get("method") in ("GET", "HEAD")  # downloads; they carry no body
                or scope.get("path", "").rstrip("/") != upload_path
            ):
                await app(scope, receive, send)
                return
            headers = Headers(scope=scope)
            token = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE, "")
            if not token or not await signed_in(token):
                await _refuse(send, 401, "Sign in to the dashboard to upload.")
                return
            limit = limits.get(headers.get("reflex-event-handler", ""))
            if limit is None:
                await _refuse(send, 400, "This handler takes no uploads.")
                return
            declared = headers.get("content-length")
            if declared is not None and not declared.isdigit():
                await _refuse(send, 400, "Content-Length is not a number.")
                return
            if declared is not None and int(declared) > limit:
                await _refuse(send, 413, _too_large(limit))
                return
            body = _CappedBody(receive, send, limit)
            await app(scope, body.receive, body.send)

        return guarded

    return transform


class _CappedBody:
    """Counts the body as the app reads it; past the limit it answers 413 itself and tells the
    app the client went away, so the app stops reading and its own answer is dropped."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self._limit = limit
        self._received = 0
        self._refused = False
        self._started = False

    async def receive(self) -> Message:
        if self._refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                self._refused = True
                if not self._started:
                    await _refuse(self._send, 413, _too_large(self._limit))
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._refused:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


def _too_large(limit: int) -> str:
    return f"The upload is larger than {limit:,} bytes."


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # the body was not read: the connection cannot carry another request
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
