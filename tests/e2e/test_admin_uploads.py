"""Uploads to the running app's `/_upload`, sent as a crafted client would: anonymous or too large,
they are refused before the body reaches the disk.

What the server writes is watched where it would land: the files its processes hold open
(a spooled upload is an unlinked temporary file, seen only through `/proc/<pid>/fd`) and the
upload directories. Linux only, as the servers this app is deployed on.
"""

from __future__ import annotations

import os
import select
import socket
import stat
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from reflex.utils.format import format_event_handler

from repeatcart_app.state.admin_products import AdminProductsState
from repeatcart_app.state.admin_sync import AdminSyncState
from repeatcart_app.state.auth import SESSION_COOKIE
from services.core.config import PROJECT_ROOT
from tests.e2e.app_process import RunningApp
from tests.e2e.test_admin_raw_events import _signed_in_token

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="watches /proc (Linux)"),
]

MB = 1024 * 1024
HUGE = 300 * MB
A_FEW_MB = 4 * MB
PRODUCTS_CSV = format_event_handler(AdminProductsState.upload_bulk)
ORDER_EXPORT = format_event_handler(AdminSyncState.upload_export)


class DiskWatch:
    """The most the app's processes wrote while watched: growth of every regular file they hold
    open (deleted ones too) and of the upload directories, sampled every few milliseconds."""

    def __init__(self, running_app: RunningApp) -> None:
        self._marker = f"REPEATCART_DATABASE_URL={running_app.database_url}\0".encode()
        self._dirs = [Path(running_app.database_url.removeprefix("sqlite:///")).parent]
        self._dirs.append(PROJECT_ROOT / "uploaded_files")
        self._pids = self._app_pids()
        assert self._pids, "the app's processes should be found"
        self._before = self._sizes()
        self._peak = dict(self._before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _app_pids(self) -> list[str]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and entry.name != str(os.getpid()):
                try:
                    if self._marker in (entry / "environ").read_bytes():
                        pids.append(entry.name)
                except OSError:
                    continue
        return pids

    def _sizes(self) -> dict[tuple[int, int], int]:
        sizes: dict[tuple[int, int], int] = {}
        paths = [fd for pid in self._pids for fd in _listing(Path("/proc") / pid / "fd")] + [
            path for directory in self._dirs for path in directory.rglob("*")
        ]
        for path in paths:
            try:
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                sizes[(info.st_dev, info.st_ino)] = info.st_size
        return sizes

    def _watch(self) -> None:
        while not self._stop.is_set():
            for key, size in self._sizes().items():
                self._peak[key] = max(size, self._peak.get(key, 0))
            self._stop.wait(0.005)

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def written(self) -> int:
        return sum(max(0, size - self._before.get(key, 0)) for key, size in self._peak.items())


def _listing(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except OSError:
        return []


@dataclass(frozen=True)
class Answer:
    status: int
    sent: int  # body bytes the client got to send before the answer (or the close)
    body: bytes


def post_upload(
    running_app: RunningApp,
    handler: str,
    size: int,
    *,
    token: str = "",
    chunked: bool = False,
    timeout: float = 180,
) -> Answer:
    """POST a one-file upload of `size` bytes to `/_upload` over a raw socket, reading while
    sending, and stop sending once the server answers or closes."""
    url = urlsplit(running_app.base_url)
    boundary = "repeatcart-e2e-" + uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="files"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    total = len(head) + size + len(tail)
    lines = [
        "POST /_upload HTTP/1.1",
        f"Host: {url.netloc}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
        f"Reflex-Client-Token: {uuid.uuid4()}",
        f"Reflex-Event-Handler: {handler}",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}",
    ]
    if token:
        lines.append(f"Cookie: {SESSION_COOKIE}={token}")
    piece = b"sku,days\n" + b"x" * (MB - 9)

    def body():
        yield head
        left = size
        while left > 0:
            yield piece[: min(len(piece), left)]
            left -= len(piece)
        yield tail

    def framed():
        for data in body():
            yield (f"{len(data):x}\r\n".encode() + data + b"\r\n") if chunked else data
        if chunked:
            yield b"0\r\n\r\n"

    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sock.setblocking(False)
    pieces = framed()
    pending = memoryview(next(pieces))
    sending, sent, response = True, 0, b""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sending else [], [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                response += data
                quiet_since = time.monotonic()
                if _complete(response):
                    break
            if writable and sending:
                try:
                    count = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    sending = False
                    continue
                sent += count
                pending = pending[count:]
                if not pending:
                    nxt = next(pieces, None)
                    sending = nxt is not None
                    pending = memoryview(nxt or b"")
            if b"\r\n\r\n" in response and not sending and time.monotonic() - quiet_since > 3:
                break  # a streamed answer the server keeps open: its status is known
        else:
            pytest.fail(f"no answer within {timeout} s; sent {sent:,} bytes")
    finally:
        sock.close()
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return Answer(int(response.split(b" ", 2)[1]), sent, response.partition(b"\r\n\r\n")[2])


def _complete(response: bytes) -> bool:
    head, separator, body = response.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def test_an_anonymous_300_mb_upload_is_refused_before_it_reaches_the_disk(
    running_app: RunningApp,
) -> None:
    with DiskWatch(running_app) as watch:
        answer = post_upload(running_app, PRODUCTS_CSV, HUGE)
    print(f"\nanonymous 300 MB: {answer.status}, sent {answer.sent:,}, written {watch.written:,}")
    assert answer.status == 401
    assert watch.written < A_FEW_MB


def test_a_forged_session_is_refused_like_none(running_app: RunningApp) -> None:
    answer = post_upload(running_app, ORDER_EXPORT, 10 * MB, token="forged-" + "x" * 40)
    assert answer.status == 401


def test_uploads_past_each_handlers_cap_are_refused_before_they_reach_the_disk(
    running_app: RunningApp,
) -> None:
    """Signed in: 413 from the declared length at once, or from the bytes counted as a body of
    unknown length streams in (the products CSV: Reflex buffers it whole before its handler)."""
    token = _signed_in_token(running_app)
    cases = [
        ("products CSV, declared", PRODUCTS_CSV, False),
        ("products CSV, chunked", PRODUCTS_CSV, True),
        ("order export, declared", ORDER_EXPORT, False),
    ]
    for label, handler, chunked in cases:
        with DiskWatch(running_app) as watch:
            answer = post_upload(running_app, handler, HUGE, token=token, chunked=chunked)
        print(f"\n{label} 300 MB: {answer.status}, sent {answer.sent:,}, written {watch.written:,}")
        assert answer.status == 413, label
        assert b"larger than" in answer.body, label
        assert watch.written < A_FEW_MB, label


def test_an_upload_to_a_handler_that_takes_none_is_refused(running_app: RunningApp) -> None:
    token = _signed_in_token(running_app)
    name = format_event_handler(AdminProductsState.event_handlers["load"])
    assert post_upload(running_app, name, MB, token=token).status == 400
