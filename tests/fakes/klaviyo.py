"""A fake Klaviyo that enforces CONTRACTS.md: headers, JSON:API bodies, limits, unique_id."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.provider import ProviderFake, Rejected, valid_e164, valid_email

__all__ = ["FakeKlaviyo"]


def _parse_iso(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class FakeKlaviyo(ProviderFake):
    """`POST /api/events`, `POST /api/profile-import`, `POST /api/profile-bulk-import-jobs`,
    `GET /api/accounts`.

    Events with the same `unique_id` for the same profile and metric are answered 202 again
    but recorded once: `events` holds recorded ones, `event_receipts` counts every accepted
    request by `unique_id`.
    """

    provider = "klaviyo"
    JSON_API = "application/vnd.api+json"
    _IDENTIFIERS = ("email", "phone_number", "external_id")
    _EVENT_KEYS = {
        "properties",
        "time",
        "value",
        "value_currency",
        "unique_id",
        "metric",
        "profile",
    }

    def __init__(
        self,
        *,
        api_key: str = "pk_test_fake_klaviyo",
        revision: str = "2026-07-15",
        rate_per_second: float = 350,
        rate_per_minute: float | None = 3500,
        bulk_rate_per_second: float = 10,
        bulk_rate_per_minute: float | None = 150,
    ) -> None:
        self.revision = revision
        self.bulk_limits = (bulk_rate_per_second, bulk_rate_per_minute)
        super().__init__(
            api_key=api_key, rate_per_second=rate_per_second, rate_per_minute=rate_per_minute
        )
        self._route("/api/events", "events", "POST", self._create_event)
        self._route("/api/profile-import", "profile-import", "POST", self._profile_import)
        self._route("/api/accounts", "accounts", "GET", self._accounts)
        for path in ("/api/profile-bulk-import-jobs", "/api/profile-bulk-import-jobs/"):
            self._route(path, "profile-bulk-import-jobs", "POST", self._bulk_import)

    def _reset_data(self) -> None:
        self._seen_unique: set[tuple[Any, ...]] = set()
        self.profiles: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        self.import_jobs: list[dict[str, Any]] = []  # every accepted job's body

    def _limits(self, endpoint: str) -> tuple[float, float | None]:
        if endpoint == "profile-bulk-import-jobs":
            return self.bulk_limits
        return super()._limits(endpoint)

    def properties_of(self, **identifiers: str) -> dict[str, Any] | None:
        """The properties recorded on the profile with these identifiers (e.g. `email=`)."""
        with self._lock:
            for identity, properties in self.profiles.items():
                if set(identifiers.items()) <= set(identity):
                    return dict(properties)
        return None

    # --- checks ----------------------------------------------------------------------------

    def _check_auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not header:
            raise Rejected(
                "Authentication credentials were not provided.", 401, code="not_authenticated"
            )
        if header != f"Klaviyo-API-Key {self.api_key}" or self._auth_status == 401:
            raise Rejected(
                "Incorrect authentication credentials.", 401, code="authentication_failed"
            )
        if self._auth_status == 403:
            raise Rejected(
                "You do not have permission to perform this action.",
                403,
                code="permission_denied",
            )
        revision = request.headers.get("revision", "")
        if not revision:
            raise Rejected("Missing revision header.", 400, code="missing_revision")
        if revision != self.revision:
            raise Rejected(f"Invalid revision header {revision!r}.", 400, code="invalid_revision")
        self._require_header(request, "accept", self.JSON_API, 406)
        if request.method == "POST":
            self._require_header(request, "content-type", self.JSON_API, 415)

    def _rate_limited(self, seconds: int) -> Rejected:
        return Rejected(
            f"Request was throttled. Expected available in {seconds} second.",
            429,
            code="throttled",
            headers={"retry-after": str(seconds)},
        )

    def _error_response(self, rejected: Rejected) -> Response:
        error: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": rejected.status,
            "code": rejected.code,
            "title": "Invalid input." if rejected.status == 400 else rejected.code,
            "detail": rejected.detail,
            "source": {"pointer": rejected.pointer or "/data"},
        }
        return JSONResponse(
            {"errors": [error]}, status_code=rejected.status, media_type=self.JSON_API
        )

    def _profile_identity(self, attributes: Any, pointer: str) -> tuple[tuple[str, str], ...]:
        self._require(isinstance(attributes, dict), "Profile attributes are required.", pointer)
        found = []
        for key in self._IDENTIFIERS:
            if key in attributes:
                value = attributes[key]
                self._require(
                    isinstance(value, str) and value != "", f"{key} must be a string", pointer
                )
                found.append((key, value))
        self._require(bool(found), "One of email, phone_number, external_id is required.", pointer)
        if "email" in attributes:
            self._require(valid_email(attributes["email"]), "Invalid email address.", pointer)
        if "phone_number" in attributes:
            self._require(
                valid_e164(attributes["phone_number"]),
                "Invalid phone number format (Example of a valid format: +12345678901)",
                f"{pointer}/phone_number",
            )
        return tuple(found)

    # --- handlers --------------------------------------------------------------------------

    def _create_event(self, request: Request, body: Any) -> Response:
        data = (body or {}).get("data")
        self._require(isinstance(data, dict), "'data' is a required field.", "/data")
        self._require(data.get("type") == "event", "'type' must be 'event'.", "/data/type")
        attrs = data.get("attributes")
        self._require(isinstance(attrs, dict), "'attributes' is required.", "/data/attributes")
        unknown = set(attrs) - self._EVENT_KEYS
        self._require(
            not unknown, f"{sorted(unknown)} is not a valid field for the resource 'event'."
        )
        for key in ("properties", "metric", "profile"):
            self._require(key in attrs, f"'{key}' is a required field.", f"/data/attributes/{key}")
        self._require(
            isinstance(attrs["properties"], dict),
            "'properties' must be an object.",
            "/data/attributes/properties",
        )
        if "time" in attrs:
            self._require(_parse_iso(attrs["time"]), "Invalid datetime.", "/data/attributes/time")
        if "value" in attrs:
            value = attrs["value"]
            self._require(
                isinstance(value, int | float) and not isinstance(value, bool),
                "'value' must be a number.",
                "/data/attributes/value",
            )
        if "value_currency" in attrs:
            currency = attrs["value_currency"]
            self._require(
                isinstance(currency, str) and len(currency) == 3,
                "'value_currency' must be an ISO 4217 code.",
                "/data/attributes/value_currency",
            )
        if "unique_id" in attrs:
            self._require(isinstance(attrs["unique_id"], str), "'unique_id' must be a string.")
        metric = (attrs["metric"] or {}).get("data") if isinstance(attrs["metric"], dict) else None
        self._require(
            isinstance(metric, dict) and metric.get("type") == "metric",
            "'metric.data.type' must be 'metric'.",
            "/data/attributes/metric/data",
        )
        name = (metric.get("attributes") or {}).get("name")
        self._require(
            isinstance(name, str) and name != "",
            "'metric.data.attributes.name' is required.",
            "/data/attributes/metric/data/attributes/name",
        )
        profile = attrs["profile"].get("data") if isinstance(attrs["profile"], dict) else None
        self._require(
            isinstance(profile, dict) and profile.get("type") == "profile",
            "'profile.data.type' must be 'profile'.",
            "/data/attributes/profile/data",
        )
        identity = self._profile_identity(
            profile.get("attributes"), "/data/attributes/profile/data/attributes"
        )
        unique_id = attrs.get("unique_id") or str(uuid.uuid4())
        self.event_receipts[unique_id] += 1
        dedupe = (identity, name, unique_id)
        if dedupe not in self._seen_unique:
            self._seen_unique.add(dedupe)
            self.events.append(body)
        return Response(status_code=202)

    def _profile_import(self, request: Request, body: Any) -> Response:
        data = (body or {}).get("data")
        self._require(isinstance(data, dict), "'data' is a required field.", "/data")
        self._require(data.get("type") == "profile", "'type' must be 'profile'.", "/data/type")
        attrs = data.get("attributes")
        identity = self._profile_identity(attrs, "/data/attributes")
        properties = attrs.get("properties", {})
        self._require(
            isinstance(properties, dict),
            "'properties' must be an object.",
            "/data/attributes/properties",
        )
        created = identity not in self.profiles
        self.profiles.setdefault(identity, {}).update(properties)
        self.profile_updates.append(body)
        reply = {
            "data": {
                "type": "profile",
                "id": str(uuid.uuid5(uuid.NAMESPACE_OID, repr(identity))),
                "attributes": {**dict(identity), "properties": self.profiles[identity]},
            }
        }
        return JSONResponse(reply, status_code=201 if created else 200, media_type=self.JSON_API)

    def _accounts(self, request: Request, body: Any) -> Response:
        account = {"type": "account", "id": "AbC123", "attributes": {"test_account": True}}
        return JSONResponse({"data": [account]}, media_type=self.JSON_API)

    # --- bulk profile import ------------------------------------------------------------------

    MAX_JOB_PROFILES = 10_000
    MAX_JOB_BYTES = 5_000_000  # "5MB", read strictly
    MAX_PROFILE_BYTES = 100_000  # "100KB" per profile

    def _bulk_import(self, request: Request, body: Any) -> Response:
        """Validates the whole job before recording any of it: a bad profile sinks the job."""
        size = int(request.headers.get("content-length") or len(json.dumps(body)))
        if size > self.MAX_JOB_BYTES:
            raise Rejected(
                f"The request payload is {size} bytes; the maximum allowed size is 5MB.",
                413,
                code="payload_too_large",
            )
        data = (body or {}).get("data")
        self._require(isinstance(data, dict), "'data' is a required field.", "/data")
        self._require(
            data.get("type") == "profile-bulk-import-job",
            "'type' must be 'profile-bulk-import-job'.",
            "/data/type",
        )
        attrs = data.get("attributes")
        self._require(isinstance(attrs, dict), "'attributes' is required.", "/data/attributes")
        unknown = set(attrs) - {"profiles"}
        self._require(
            not unknown,
            f"{sorted(unknown)} is not a valid field for the resource 'profile-bulk-import-job'.",
            "/data/attributes",
        )
        profiles = attrs.get("profiles")
        listed = profiles.get("data") if isinstance(profiles, dict) else None
        pointer = "/data/attributes/profiles/data"
        self._require(isinstance(listed, list), "'profiles.data' must be an array.", pointer)
        self._require(len(listed) > 0, "At least one profile is required.", pointer)
        self._require(
            len(listed) <= self.MAX_JOB_PROFILES,
            f"A job accepts at most {self.MAX_JOB_PROFILES} profiles; got {len(listed)}.",
            pointer,
        )
        parsed = [self._bulk_profile(profile, f"{pointer}/{i}") for i, profile in enumerate(listed)]
        for identity, properties in parsed:
            self.profiles.setdefault(identity, {}).update(properties)
        self.import_jobs.append(body)
        now = datetime.now(UTC)
        job = {
            "type": "profile-bulk-import-job",
            "id": str(uuid.uuid4()),
            "attributes": {
                "status": "queued",
                "created_at": now.isoformat(),
                "total_count": len(parsed),
                "completed_count": 0,
                "failed_count": 0,
                "completed_at": None,
                "expires_at": (now + timedelta(days=7)).isoformat(),
                "started_at": None,
            },
        }
        return JSONResponse({"data": job}, status_code=202, media_type=self.JSON_API)

    def _bulk_profile(
        self, profile: Any, pointer: str
    ) -> tuple[tuple[tuple[str, str], ...], dict[str, Any]]:
        self._require(isinstance(profile, dict), "A profile must be an object.", pointer)
        self._require(profile.get("type") == "profile", "'type' must be 'profile'.", pointer)
        self._require(
            len(json.dumps(profile, separators=(",", ":"))) <= self.MAX_PROFILE_BYTES,
            "A profile may be at most 100KB.",
            pointer,
        )
        attrs = profile.get("attributes")
        identity = self._profile_identity(attrs, f"{pointer}/attributes")
        properties = attrs.get("properties", {})
        self._require(
            isinstance(properties, dict),
            "'properties' must be an object.",
            f"{pointer}/attributes/properties",
        )
        # a bulk import cannot clear a field: a null is not applied
        return identity, {key: value for key, value in properties.items() if value is not None}
