"""The dashboard's Integrations page state: keys, on/off, test events, the delivery log.

No key ever enters this state: a key goes from the submitted form to
`services.settings.integrations`, which encrypts it; the page shows only "ends in ••••1234". Values
are kept per integration in small dicts keyed by its name, and the delivery log holds only the
visible page of rows. Every handler calls the page's use cases, which own their transactions.
"""

from __future__ import annotations

import asyncio

from repeatcart_app.state.auth import AuthState, admin_event
from services.core.moments import MOMENT_LABELS, MOMENTS
from services.settings.integrations import (
    INTEGRATIONS,
    LABELS,
    IntegrationView,
    delivery_log,
    integration_views,
    remove_key,
    resume,
    retry_delivery,
    save_integration,
    send_test_event,
    set_enabled,
    set_moment,
)

_STATUS_COLORS = {
    "sent": "grass",
    "failed": "red",
    "pending": "amber",
    "sending": "blue",
    "skipped": "gray",
}


def moment_switch(integration: str, kind: str) -> str:
    """The key of one Moment switch of one integration in `moment_on`."""
    return f"{integration}:{kind}"


def _key_note(view: IntegrationView) -> str:
    if view.key_source == "unreadable":
        return "The saved key can no longer be read (the encryption key changed): re-enter it."
    if view.key_source == "none":
        return "No key saved."
    where = "saved here" if view.key_source == "saved" else "from the environment"
    return f"Ends in ••••{view.key_last4} ({where})." if view.key_last4 else f"Set ({where})."


def _status(view: IntegrationView) -> tuple[str, str]:
    if view.key_source in ("none", "unreadable"):
        return "No key", "gray"
    if not view.enabled:
        return "Off", "gray"
    if view.stopped:
        return "Stopped: key refused", "red"
    return "On", "grass"


def _counts_line(counts: dict[str, int]) -> str:
    parts = [f"{counts[s]:,} {s}" for s in ("sent", "pending", "failed", "skipped") if counts[s]]
    return " · ".join(parts) if parts else "Nothing sent yet."


class AdminIntegrationsState(AuthState):
    loaded: bool = False
    key_note: dict[str, str] = {}
    key_saved: dict[str, bool] = {}
    key_unreadable: dict[str, bool] = {}
    enabled: dict[str, bool] = {}
    moment_on: dict[str, bool] = {}  # "<integration>:<moment>" → switched on
    status_label: dict[str, str] = {}
    status_color: dict[str, str] = {}
    stopped: dict[str, str] = {}
    counts_line: dict[str, str] = {}
    key_message: dict[str, str] = {}
    key_ok: dict[str, bool] = {}
    test_message: dict[str, str] = {}
    test_ok: dict[str, bool] = {}
    testing: dict[str, bool] = {}
    form_key: int = 0

    log_integration: str = INTEGRATIONS[0]
    failures_only: bool = False
    log_page: int = 1
    log_pages: int = 1
    log_summary: str = ""
    log_failed: int = 0
    log_rows: list[dict[str, str]] = []
    log_message: str = ""

    def _refresh_cards(self) -> None:
        views = integration_views()
        self.key_note = {v.name: _key_note(v) for v in views}
        self.key_saved = {v.name: v.key_source == "saved" for v in views}
        self.key_unreadable = {v.name: v.key_source == "unreadable" for v in views}
        self.enabled = {v.name: v.enabled for v in views}
        self.moment_on = {
            moment_switch(v.name, kind): kind not in v.moments_off
            for v in views
            for kind in MOMENTS
        }
        self.status_label = {v.name: _status(v)[0] for v in views}
        self.status_color = {v.name: _status(v)[1] for v in views}
        self.stopped = {v.name: v.stopped for v in views}
        self.counts_line = {v.name: _counts_line(v.counts) for v in views}

    def _refresh_log(self) -> None:
        log = delivery_log(
            self.log_integration, failures_only=self.failures_only, page=self.log_page
        )
        self.log_page = log.page
        self.log_pages = log.pages
        self.log_failed = log.counts["failed"]
        what = "failed messages" if self.failures_only else "messages"
        self.log_summary = (
            f"{log.total:,} {what} · page {log.page:,} of {log.pages:,}"
            if log.total
            else f"No {what} for {LABELS[self.log_integration]} yet."
        )
        self.log_rows = [
            {
                "id": str(row.id),
                "status": row.status,
                "color": _STATUS_COLORS.get(row.status, "gray"),
                "kind": row.kind.replace("_", " "),
                "email": row.email or "(no email)",
                "attempts": f"{row.attempts:,} attempt" + ("" if row.attempts == 1 else "s"),
                "error": row.error,
                "when": f"{row.when:%Y-%m-%d %H:%M} UTC",
            }
            for row in log.rows
        ]

    def _message(self, name: str, text: str, ok: bool) -> None:
        self.key_message = {**self.key_message, name: text}
        self.key_ok = {**self.key_ok, name: ok}

    @admin_event
    def load(self):
        self._refresh_cards()
        self.key_message, self.key_ok = {}, {}
        self.test_message, self.test_ok = {}, {}
        self.testing = {name: False for name in INTEGRATIONS}
        self.log_page = 1
        self.log_message = ""
        self._refresh_log()
        self.loaded = True

    @admin_event
    def save_key(self, name: str, form_data: dict):
        if name not in INTEGRATIONS:
            return
        key = str(form_data.get("api_key", "") or "")
        ok, message = save_integration(name, key, by=self.current_email)
        self._message(name, message, ok)
        if ok:
            self.form_key += 1  # remounts the forms: the password field is empty again
            self._refresh_cards()

    @admin_event
    def remove_key(self, name: str):
        if name not in INTEGRATIONS:
            return
        remove_key(name)
        self._refresh_cards()
        self._message(name, "Key removed.", True)

    @admin_event
    def resume(self, name: str):
        if name not in INTEGRATIONS:
            return
        resumed = resume(name)
        self._refresh_cards()
        self._message(
            name,
            "Delivery resumes on the next pass." if resumed else "Delivery was not stopped.",
            True,
        )

    @admin_event
    def toggle(self, name: str, on: bool):
        if name not in INTEGRATIONS:
            return
        set_enabled(name, bool(on), by=self.current_email)
        self._refresh_cards()
        self._message(name, f"{LABELS[name]} is {'on' if on else 'off'}.", True)

    @admin_event
    def toggle_moment(self, name: str, kind: str, on: bool):
        if name not in INTEGRATIONS or kind not in MOMENTS:
            return
        set_moment(name, kind, bool(on), by=self.current_email)
        self._refresh_cards()
        state = "on" if on else "off"
        self._message(name, f"{MOMENT_LABELS[kind]} is {state} for {LABELS[name]}.", True)

    @admin_event(background=True)
    async def send_test(self, name: str, form_data: dict):
        async with self:
            if name not in INTEGRATIONS or self.testing.get(name):
                return
            self.testing = {**self.testing, name: True}
            self.test_message = {**self.test_message, name: ""}
        recipient = str(form_data.get("recipient", "") or "")
        result = await asyncio.to_thread(send_test_event, name, recipient)
        async with self:
            self.testing = {**self.testing, name: False}
            self.test_message = {**self.test_message, name: result.message}
            self.test_ok = {**self.test_ok, name: result.ok}

    @admin_event
    def show_log(self, name: str | list[str]):
        name = name[0] if isinstance(name, list) and name else name
        if isinstance(name, str) and name in INTEGRATIONS:
            self.log_integration = name
            self.log_page = 1
            self.log_message = ""
            self._refresh_log()

    @admin_event
    def show_failures(self, only: bool):
        self.failures_only = bool(only)
        self.log_page = 1
        self.log_message = ""
        self._refresh_log()

    @admin_event
    def turn_page(self, step: int):
        self.log_page = max(1, self.log_page + int(step))
        self._refresh_log()

    @admin_event
    def refresh(self):
        self._refresh_cards()
        self._refresh_log()

    @admin_event
    def retry(self, row_id: str = ""):
        """One failed message (its id) or, without one, every failed message shown's
        integration has."""
        ids = [int(row_id)] if row_id.isdigit() else None
        count = retry_delivery(self.log_integration, ids)
        noun = "message" if count == 1 else "messages"
        self.log_message = (
            f"{count:,} {noun} queued again; the next delivery pass sends them."
            if count
            else "Nothing to retry."
        )
        self._refresh_cards()
        self._refresh_log()
