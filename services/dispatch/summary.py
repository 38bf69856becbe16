"""What a scan, a delivery pass or both did, per integration: for the log line and the CLI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.messaging import PROVIDER_NAMES


@dataclass
class IntegrationSummary:
    """What one run did for one integration."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0  # back to pending, with backoff, after a transient failure
    postponed: int = 0  # held back until a snooze ends
    skipped: Counter[str] = field(default_factory=Counter)
    stopped: str = ""  # why delivery to it is stopped (a refused key)
    waiting: int = 0  # rows left pending while stopped

    def merge(self, other: IntegrationSummary) -> None:
        self.queued += other.queued
        self.sent += other.sent
        self.failed += other.failed
        self.retrying += other.retrying
        self.postponed += other.postponed
        self.skipped.update(other.skipped)
        self.stopped = self.stopped or other.stopped
        self.waiting = max(self.waiting, other.waiting)

    def fields(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "sent": self.sent,
            "failed": self.failed,
            "retrying": self.retrying,
            "postponed": self.postponed,
            "skipped": dict(self.skipped),
            **({"stopped": self.stopped, "waiting": self.waiting} if self.stopped else {}),
        }

    def line(self) -> str:
        """`queued 3, sent 2, failed 0, skipped 1 (snoozed 1)`, and why it is stopped."""
        parts = [f"queued {self.queued}", f"sent {self.sent}", f"failed {self.failed}"]
        if self.retrying:
            parts.append(f"retrying {self.retrying}")
        if self.postponed:
            parts.append(f"postponed {self.postponed}")
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{why} {n}" for why, n in sorted(self.skipped.items()))
        parts.append(f"skipped {skipped}" + (f" ({reasons})" if reasons else ""))
        line = ", ".join(parts)
        if self.stopped:
            line += f"; STOPPED: {self.stopped} ({self.waiting} waiting)"
        return line


@dataclass
class DispatchSummary:
    """Counts per integration for a scan, a delivery pass, or both; `lines()` for the CLI."""

    integrations: dict[str, IntegrationSummary] = field(default_factory=dict)

    def of(self, integration: str) -> IntegrationSummary:
        return self.integrations.setdefault(integration, IntegrationSummary())

    def skip(self, integrations: Iterable[str], reason: str) -> None:
        """Count one customer's message skipped, for `reason`, at each of these integrations."""
        for integration in integrations:
            self.of(integration).skipped[reason] += 1

    def merge(self, other: DispatchSummary) -> DispatchSummary:
        for name, counts in other.integrations.items():
            self.of(name).merge(counts)
        return self

    def lines(self) -> list[str]:
        if not self.integrations:
            return ["no integration enabled (set an API key)"]
        return [
            f"{name}: {self.integrations[name].line()}"
            for name in PROVIDER_NAMES
            if name in self.integrations
        ]

    def line(self) -> str:
        return "; ".join(self.lines())

    def fields(self) -> dict[str, Any]:
        return {name: counts.fields() for name, counts in self.integrations.items()}
