"""A fake Attentive that enforces CONTRACTS.md: custom events, custom attributes, `/v1/me`."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.provider import ProviderFake, Rejected, valid_e164, valid_email

__all__ = ["FakeAttentive"]

_TYPE_FORBIDDEN = re.compile(r"[\"'(){}\[\]\\|,]")
_KEY_FORBIDDEN = re.compile(r"[\"{}\[\]\\|]")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
_EVENT_KEYS = {"type", "properties", "externalEventId", "occurredAt", "user"}
_USER_KEYS = {"phone", "email", "externalIdentifiers"}


class FakeAttentive(ProviderFake):
    """150 requests/s per endpoint by default; every reply carries `x-ratelimit-*` headers and
    a 429 has no Retry-After. Every accepted event is recorded; `event_receipts` counts them by
    `externalEventId`."""

    provider = "attentive"

    def __init__(self, *, api_key: str = "attentive_test_fake_key", rate_per_second: float = 150):
        super().__init__(api_key=api_key, rate_per_second=rate_per_second)
        self._route("/v1/events/custom", "events", "POST", self._create_event)
        self._route("/v1/attributes/custom", "attributes", "POST", self._attributes)
        self._route("/v1/me", "me", "GET", self._me)

    def _reset_data(self) -> None:
        self.attributes: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}

    def _check_auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if header != f"Bearer {self.api_key}" or self._auth_status == 401:
            raise Rejected("Unauthorized", 401)
        if self._auth_status == 403:
            raise Rejected("Forbidden", 403)
        if request.method == "POST":
            self._require_header(request, "content-type", "application/json", 415)

    def _rate_limited(self, seconds: int) -> Rejected:
        return Rejected("Too Many Requests", 429)

    def _error_response(self, rejected: Rejected) -> Response:
        return JSONResponse(
            {"message": rejected.detail},
            status_code=rejected.status,
            headers=self._limit_headers(),
        )

    def _limit_headers(self) -> dict[str, str]:
        limit = int(self.rate_per_second)
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(max(0, limit - 1))}

    def _user(self, user: Any) -> tuple[tuple[str, Any], ...]:
        self._require(isinstance(user, dict), "user is required")
        unknown = set(user) - _USER_KEYS
        self._require(not unknown, f"user may not hold {sorted(unknown)}")
        self._require(bool(user), "user needs phone, email or externalIdentifiers")
        if "phone" in user:
            self._require(valid_e164(user["phone"]), "user.phone must be E.164")
        if "email" in user:
            self._require(valid_email(user["email"]), "user.email is not valid")
        if "externalIdentifiers" in user:
            ids = user["externalIdentifiers"]
            self._require(
                isinstance(ids, dict) and bool(ids), "externalIdentifiers must be an object"
            )
            if "clientUserId" in ids:
                self._require(isinstance(ids["clientUserId"], str), "clientUserId: a string")
        return tuple(sorted((key, repr(value)) for key, value in user.items()))

    def _check_keys(self, value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                self._require(
                    isinstance(key, str) and not _KEY_FORBIDDEN.search(key),
                    f"{where}: key {key!r} has a forbidden character",
                )
                self._check_keys(inner, where)
        elif isinstance(value, list):
            for inner in value:
                self._check_keys(inner, where)

    def _create_event(self, request: Request, body: Any) -> Response:
        body = body or {}
        unknown = set(body) - _EVENT_KEYS
        self._require(not unknown, f"unknown fields {sorted(unknown)}")
        kind = body.get("type")
        self._require(
            isinstance(kind, str) and kind != "" and not _TYPE_FORBIDDEN.search(kind),
            "type is required and may not contain \" ' ( ) { } [ ] \\ | or commas",
        )
        properties = body.get("properties", {})
        self._require(isinstance(properties, dict), "properties must be an object")
        self._check_keys(properties, "properties")
        if "externalEventId" in body:
            self._require(isinstance(body["externalEventId"], str), "externalEventId: a string")
        if "occurredAt" in body:
            occurred = body["occurredAt"]
            self._require(
                isinstance(occurred, str) and bool(_RFC3339.match(occurred)),
                "occurredAt must be RFC 3339 with an offset",
            )
        self._user(body.get("user"))
        self.events.append(body)
        self.event_receipts[body.get("externalEventId", "")] += 1
        return Response(status_code=200, headers=self._limit_headers())

    def _attributes(self, request: Request, body: Any) -> Response:
        body = body or {}
        unknown = set(body) - {"properties", "user"}
        self._require(not unknown, f"unknown fields {sorted(unknown)}")
        properties = body.get("properties")
        self._require(isinstance(properties, dict) and bool(properties), "properties is required")
        self._check_keys(properties, "properties")
        for key, value in properties.items():
            self._require(not isinstance(value, list), f"properties.{key}: arrays are rejected")
            self._require(not isinstance(value, dict), f"properties.{key}: objects are rejected")
        identity = self._user(body.get("user"))
        self.attributes.setdefault(identity, {}).update(properties)
        self.profile_updates.append(body)
        return Response(status_code=200, headers=self._limit_headers())

    def _me(self, request: Request, body: Any) -> Response:
        return JSONResponse(
            {"applicationName": "RepeatCart", "companyId": "fake"}, headers=self._limit_headers()
        )
