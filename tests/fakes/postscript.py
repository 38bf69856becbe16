"""A fake Postscript that enforces CONTRACTS.md: `POST /api/v2/events`, `GET /api/v2/me`."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.provider import ProviderFake, Rejected, valid_e164, valid_email

__all__ = ["FakePostscript"]

_TYPE = re.compile(r"^[A-Za-z0-9_]+$")
_OCCURRED_AT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
_KEYS = {"type", "email", "phone", "subscriber_id", "occurred_at", "external_id", "properties"}


class FakePostscript(ProviderFake):
    """15 requests/s per key by default; a 429 carries no Retry-After and Postscript's body.

    Every accepted event is recorded (Postscript's dedupe on `external_id` is unconfirmed, so
    the fake does not pretend to have one): `event_receipts` shows duplicates.
    """

    provider = "postscript"

    def __init__(self, *, api_key: str = "sk_test_fake_postscript", rate_per_second: float = 15):
        super().__init__(api_key=api_key, rate_per_second=rate_per_second)
        self._route("/api/v2/events", "events", "POST", self._create_event)
        self._route("/api/v2/me", "me", "GET", self._me)

    def _check_auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if header != f"Bearer {self.api_key}" or self._auth_status == 401:
            raise Rejected("Invalid API key.", 401)
        if self._auth_status == 403:
            raise Rejected("This API key may not perform this action.", 403)
        if request.method == "POST":
            self._require_header(request, "content-type", "application/json", 400)

    def _rate_limited(self, seconds: int) -> Rejected:
        return Rejected("Rate limit exceeded", 429, code="3002")

    def _error_response(self, rejected: Rejected) -> Response:
        if rejected.status == 429:
            body: dict[str, Any] = {
                "error_code": 3002,
                "error_message": "Rate limit exceeded",
                "success": False,
            }
        elif rejected.status == 400:
            body = {}  # what Postscript answers; the reason is kept in `requests[].reason`
        else:
            body = {"error_message": rejected.detail, "success": False}
        return JSONResponse(body, status_code=rejected.status)

    def _create_event(self, request: Request, body: Any) -> Response:
        body = body or {}
        unknown = set(body) - _KEYS
        self._require(not unknown, f"unknown fields {sorted(unknown)}")
        kind = body.get("type")
        self._require(
            isinstance(kind, str) and bool(_TYPE.match(kind)), "type: letters, digits, _ only"
        )
        self._require(
            any(body.get(key) for key in ("email", "phone", "subscriber_id")),
            "one of email, phone, subscriber_id is required",
        )
        if "email" in body:
            self._require(valid_email(body["email"]), "email is not valid")
        if "phone" in body:
            self._require(valid_e164(body["phone"]), "phone must be E.164")
        occurred_at = body.get("occurred_at")
        if occurred_at is not None:
            self._require(
                isinstance(occurred_at, str) and bool(_OCCURRED_AT.match(occurred_at)),
                "occurred_at must be UTC '%Y-%m-%d %H:%M:%S.%f' with milliseconds",
            )
        if "external_id" in body:
            self._require(isinstance(body["external_id"], str), "external_id must be a string")
        self._require(isinstance(body.get("properties", {}), dict), "properties must be an object")
        self.events.append(body)
        self.event_receipts[body.get("external_id", "")] += 1
        return JSONResponse({"event_ids": [str(uuid.uuid4())]}, status_code=202)

    def _me(self, request: Request, body: Any) -> Response:
        return JSONResponse({"shop": {"id": 1, "name": "Demo shop"}})
