"""`ProviderFake`: what the messaging fakes share (fault injection, sliding-window rate
limits, a request log, contract checks of identifiers)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import FakeServer

__all__ = ["ProviderFake", "Rejected", "SeenRequest", "valid_e164", "valid_email"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def valid_e164(value: object) -> bool:
    """E.164 in form and a number that exists: what the providers check before accepting."""
    if not isinstance(value, str) or not _E164.match(value):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return False


def valid_email(value: object) -> bool:
    return isinstance(value, str) and bool(_EMAIL.match(value))


class Rejected(Exception):
    """A refusal the fake answers in its provider's error shape."""

    def __init__(
        self,
        detail: str,
        status: int = 400,
        *,
        code: str = "invalid",
        pointer: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code
        self.pointer = pointer
        self.headers = headers or {}


@dataclass
class SeenRequest:
    """One request as the fake received it; `status` is what it answered."""

    method: str
    path: str
    endpoint: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    reason: str = ""


@dataclass
class _Fault:
    status: int
    retry_after: float | None


Handler = Callable[[Request, Any], Response]


class ProviderFake:
    """Shared fake machinery. Subclasses add routes with `_route` and answer errors in their
    provider's shape (`_error_response`); handlers validate and raise `Rejected`.

    Limits: `rate_per_second` (sliding 1 s window) and optionally `rate_per_minute` (sliding
    60 s window), per endpoint, as the providers count them.
    """

    provider = "provider"

    def __init__(
        self,
        *,
        api_key: str,
        rate_per_second: float,
        rate_per_minute: float | None = None,
    ) -> None:
        self.api_key = api_key
        self.rate_per_second = rate_per_second
        self.rate_per_minute = rate_per_minute
        self._lock = threading.Lock()
        self._routes: list[Route] = []
        self.reset()

    # --- test controls ---------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything: requests, recorded data, faults, limits; the key is valid again."""
        with self._lock:
            self.requests: list[SeenRequest] = []
            self.events: list[dict[str, Any]] = []
            self.event_receipts: Counter[str] = Counter()
            self.profile_updates: list[dict[str, Any]] = []
            self._faults: deque[_Fault] = deque()
            self._delays: deque[float] = deque()
            self._auth_status: int | None = None
            self._windows: dict[str, deque[float]] = {}
            self._reset_data()

    def _reset_data(self) -> None:
        """Subclasses clear their own stores here."""

    def fail_next(self, n: int, status: int, retry_after: float | None = None) -> None:
        """The next `n` requests get `status` (with `Retry-After` when given), nothing recorded."""
        with self._lock:
            self._faults.extend(_Fault(status, retry_after) for _ in range(n))

    def delay_next(self, n: int, seconds: float) -> None:
        """The next `n` requests wait `seconds` before being handled (a client times out)."""
        with self._lock:
            self._delays.extend(seconds for _ in range(n))

    def invalid_key(self, status: int = 401) -> None:
        """From now on the key is refused with `status` (401 revoked, 403 no permission)."""
        with self._lock:
            self._auth_status = status

    def serve(self) -> FakeServer:
        return FakeServer(self.app)

    # --- observations ----------------------------------------------------------------------

    def statuses(self, endpoint: str | None = None) -> list[int | None]:
        with self._lock:
            return [r.status for r in self.requests if endpoint in (None, r.endpoint)]

    def count(self, status: int, endpoint: str | None = None) -> int:
        return self.statuses(endpoint).count(status)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until every request received so far has been answered (delayed ones too), so
        a test's stragglers do not land in the next test's records."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(r.status is not None for r in self.requests):
                    return
            time.sleep(0.01)
        raise TimeoutError(f"{self.provider} fake still busy after {timeout} s")

    def reasons(self) -> list[str]:
        """Why requests were refused, for assertion messages."""
        with self._lock:
            return [r.reason for r in self.requests if r.reason]

    # --- machinery for subclasses ----------------------------------------------------------

    @property
    def app(self) -> Starlette:
        return Starlette(routes=list(self._routes))

    def _route(self, path: str, endpoint: str, method: str, handler: Handler) -> None:
        async def run(request: Request) -> Response:
            raw = await request.body()
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            headers = dict(request.headers)
            seen = SeenRequest(request.method, request.url.path, endpoint, headers, body)
            with self._lock:
                self.requests.append(seen)
                delay = self._delays.popleft() if self._delays else 0.0
            if delay:
                await asyncio.sleep(delay)
            try:
                self._inject_fault()
                self._check_auth(request)
                self._check_rate(endpoint)
                if raw and not isinstance(body, dict):
                    raise Rejected("The request body is not a JSON object.")
                with self._lock:
                    response = handler(request, body)
            except Rejected as rejected:
                seen.reason = f"{rejected.status} {rejected.detail}"
                response = self._error_response(rejected)
                response.headers.update(rejected.headers)
            except Exception:
                seen.status = 500  # a bug in the fake: answered 500 by Starlette
                raise
            seen.status = response.status_code
            return response

        self._routes.append(Route(path, run, methods=[method]))

    def _inject_fault(self) -> None:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is None:
            return
        headers = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        raise Rejected(
            "Injected failure.", fault.status, code=self._fault_code(fault.status), headers=headers
        )

    def _fault_code(self, status: int) -> str:
        return {429: "throttled", 500: "error", 503: "service_unavailable"}.get(status, "invalid")

    def _check_auth(self, request: Request) -> None:
        raise NotImplementedError

    def _limits(self, endpoint: str) -> tuple[float, float | None]:
        """(per second, per minute) for `endpoint`; subclasses give endpoints their own."""
        return self.rate_per_second, self.rate_per_minute

    def _check_rate(self, endpoint: str) -> None:
        now = time.monotonic()
        per_second, per_minute = self._limits(endpoint)
        with self._lock:
            stamps = self._windows.setdefault(endpoint, deque())
            horizon = 60.0 if per_minute is not None else 1.0
            while stamps and stamps[0] <= now - horizon:
                stamps.popleft()
            in_second = sum(1 for stamp in stamps if stamp > now - 1.0)
            wait = None
            if in_second >= per_second:
                wait = next(s for s in stamps if s > now - 1.0) + 1.0 - now
            elif per_minute is not None and len(stamps) >= per_minute:
                wait = stamps[0] + 60.0 - now
            if wait is None:
                stamps.append(now)
                return
        raise self._rate_limited(max(1, math.ceil(wait)))

    def _rate_limited(self, seconds: int) -> Rejected:
        """How this provider says "too many requests"; `seconds` until the window frees."""
        raise NotImplementedError

    def _error_response(self, rejected: Rejected) -> Response:
        raise NotImplementedError

    def _require(self, condition: bool, detail: str, pointer: str | None = None) -> None:
        if not condition:
            raise Rejected(detail, pointer=pointer)

    def _require_header(self, request: Request, name: str, expected: str, status: int) -> None:
        value = request.headers.get(name, "")
        if value.split(";")[0].strip().lower() != expected:
            raise Rejected(f"Header {name} must be {expected!r}, got {value!r}.", status)
