"""Due to Replenish: the due scan fills the outbox; delivery sends it to the messaging tools.

Why an outbox: an event is a row (`OutboxMessage`) before it is a request, so a crash, a
provider outage or a refused key loses nothing, a scan run twice adds nothing, and the merchant
can read every message's fate (sent, skipped and why, failed with the provider's words).

The package, in the order a message lives:
- `keys`: the idempotency key of each message (a customer's due cycle, a cart link);
- `listing`, `scan`: who became due, late or un-snoozed → outbox rows, with what they list;
- `payloads`: the row's JSON, and the wire body a provider would receive;
- `recheck`, `delivery`: is it still true, then send it, once, and record the outcome;
- `stops`: a refused key stops its integration until the key changes or the merchant resumes;
- `actions`: the merchant's retry and counts, the privacy erasure;
- `runs`: the worker's jobs, `repeatcart dispatch` and its dry run;
- `profiles`: Klaviyo profile properties (due or not, what, the cart link), sent on change.

Which providers exist, and what each can receive, is the messaging registry's to say; nothing
here names one. Callers import from this package; its modules are its own business.
"""

from __future__ import annotations

from services.dispatch.actions import erase_customer_messages, outbox_counts, retry_failed
from services.dispatch.delivery import deliver
from services.dispatch.keys import cycle_key, key_fingerprint
from services.dispatch.outbox import FAILED, PENDING, SENDING, SENT, SKIPPED
from services.dispatch.payloads import event_from_payload, event_to_payload, wire_body
from services.dispatch.profiles import ProfileSummary, run_profile_sync, sync_profiles
from services.dispatch.runs import PlannedMessage, plan, run_delivery, run_dispatch, run_scan
from services.dispatch.scan import enabled_integrations, scan_due
from services.dispatch.stops import refused_error, resume_integration
from services.dispatch.summary import DispatchSummary, IntegrationSummary

__all__ = [
    "FAILED",
    "PENDING",
    "SENDING",
    "SENT",
    "SKIPPED",
    "DispatchSummary",
    "IntegrationSummary",
    "PlannedMessage",
    "ProfileSummary",
    "cycle_key",
    "deliver",
    "enabled_integrations",
    "erase_customer_messages",
    "event_from_payload",
    "event_to_payload",
    "key_fingerprint",
    "outbox_counts",
    "plan",
    "refused_error",
    "resume_integration",
    "retry_failed",
    "run_delivery",
    "run_profile_sync",
    "run_dispatch",
    "run_scan",
    "scan_due",
    "sync_profiles",
    "wire_body",
]
