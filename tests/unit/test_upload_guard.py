"""The upload guard in front of Reflex's `/_upload`, driven as a plain ASGI app: what it refuses,
and that it refuses before reading the body (or, for a body of unknown length, stops reading
as soon as it passes the cap)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from reflex.utils.format import format_event_handler
from reflex_base.event import resolve_upload_chunk_handler_param, resolve_upload_handler_param
from reflex_base.utils.exceptions import UploadValueError

import repeatcart_app.repeatcart_app  # noqa: F401  (imports every page and its state)
from repeatcart_app.state.auth import SESSION_COOKIE, AuthState
from repeatcart_app.upload_guard import upload_guard, upload_limits
from services.products import bulk_overrides
from services.sync import uploads as sync_uploads

HANDLER = "state.upload_handler"
LIMIT = 1_000
LIVE = "live-token"
CHUNK = 100


@dataclass
class Exchange:
    """One request through the guard into a stand-in for Reflex's upload route."""

    chunks: Iterator[bytes]
    pulled: int = 0  # body bytes the guard (or the app through it) took from the client
    app_saw: int = 0  # body bytes the app behind the guard received
    app_called: bool = False
    app_saw_disconnect: bool = False
    sent: list[dict[str, Any]] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    async def receive(self) -> dict[str, Any]:
        chunk = next(self.chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def app(self, scope, receive, send) -> None:  # noqa: ANN001 - the ASGI signature
        self.app_called = True
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.app_saw_disconnect = True
                break
            self.app_saw += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = json.dumps({"received": self.app_saw}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async def signed_in(self, token: str) -> bool:
        self.checked.append(token)
        return token == LIVE

    @property
    def status(self) -> int:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(starts) == 1, self.sent  # one answer, never two
        return starts[0]["status"]


def _body(size: int) -> Iterator[bytes]:
    while size > 0:
        yield b"x" * min(CHUNK, size)
        size -= CHUNK


def _run(
    size: int,
    *,
    cookie: str | None = LIVE,
    handler: str = HANDLER,
    declare: bool = True,
    method: str = "POST",
    path: str = "/_upload",
    scope_type: str = "http",
) -> Exchange:
    exchange = Exchange(_body(size))
    headers = [(b"reflex-event-handler", handler.encode())]
    if cookie is not None:
        headers.append((b"cookie", f"other=1; {SESSION_COOKIE}={cookie}".encode()))
    if declare:
        headers.append((b"content-length", str(size).encode()))
    scope = {"type": scope_type, "method": method, "path": path, "headers": headers}
    guard = upload_guard({HANDLER: LIMIT}, exchange.signed_in, "/_upload")(exchange.app)
    asyncio.run(guard(scope, exchange.receive, exchange.send))
    return exchange


def test_a_signed_in_upload_within_the_limit_reaches_the_handler_whole() -> None:
    for declare in (True, False):
        exchange = _run(LIMIT, declare=declare)
        assert exchange.status == 200
        assert exchange.app_saw == exchange.pulled == LIMIT
        assert exchange.checked == [LIVE]


def test_an_anonymous_upload_is_refused_before_its_body_is_read() -> None:
    for cookie in (None, "", "forged-token"):
        exchange = _run(300 * LIMIT, cookie=cookie)
        assert exchange.status == 401
        assert exchange.pulled == 0 and not exchange.app_called


def test_an_upload_to_a_handler_that_takes_none_is_refused() -> None:
    for handler in ("", "state.some_other_handler"):
        exchange = _run(10, handler=handler)
        assert exchange.status == 400
        assert exchange.pulled == 0 and not exchange.app_called


def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_read() -> None:
    exchange = _run(LIMIT + 1)
    assert exchange.status == 413
    assert exchange.pulled == 0 and not exchange.app_called
    assert json.loads(exchange.sent[-1]["body"])["detail"].startswith("The upload is larger")


def test_a_streamed_body_past_the_limit_stops_being_read_and_is_refused() -> None:
    exchange = _run(300 * LIMIT, declare=False)
    assert exchange.status == 413  # the guard's answer; the app's own is dropped
    assert exchange.pulled <= LIMIT + CHUNK
    assert exchange.app_saw_disconnect and exchange.app_saw <= LIMIT


def test_other_requests_pass_untouched() -> None:
    cases = [
        {"path": "/_upload/some-file.csv", "method": "GET"},
        {"path": "/webhooks/shopify"},
        {"path": "/_event", "scope_type": "websocket"},
    ]
    for case in cases:
        exchange = _run(300 * LIMIT, cookie=None, handler="", declare=False, **case)
        assert exchange.app_called and exchange.checked == []


def test_every_upload_handler_of_the_app_has_a_limit() -> None:
    """A new upload handler without a cap here would be refused (400): this keeps them in step."""
    limits = upload_limits()
    found = set()
    pending = list(AuthState.get_root_state().get_substates())
    while pending:
        state = pending.pop()
        pending.extend(state.get_substates())
        for handler in state.event_handlers.values():
            if _takes_upload(handler):
                found.add(format_event_handler(handler))
    assert found == set(limits)
    caps = sorted(limits.values())
    assert bulk_overrides.MAX_CSV_BYTES < caps[0] < 4 * 1024 * 1024
    assert sync_uploads.MAX_UPLOAD_BYTES < caps[1] < sync_uploads.MAX_UPLOAD_BYTES + 1024 * 1024


def _takes_upload(handler: Any) -> bool:
    for resolve in (resolve_upload_handler_param, resolve_upload_chunk_handler_param):
        try:
            resolve(handler)
        except (UploadValueError, TypeError, ValueError):
            continue
        return True
    return False


@pytest.mark.parametrize("value", ["12x", "-1"])
def test_a_malformed_content_length_is_refused(value: str) -> None:
    exchange = Exchange(_body(10))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/_upload",
        "headers": [
            (b"reflex-event-handler", HANDLER.encode()),
            (b"cookie", f"{SESSION_COOKIE}={LIVE}".encode()),
            (b"content-length", value.encode()),
        ],
    }
    guard = upload_guard({HANDLER: LIMIT}, exchange.signed_in, "/_upload")(exchange.app)
    asyncio.run(guard(scope, exchange.receive, exchange.send))
    assert exchange.status == 400 and not exchange.app_called
