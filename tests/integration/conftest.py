"""Fixtures the integration tests share (a test module's own fixture of the same name wins)."""

from tests.integration.dispatch_world import servers, store, world  # noqa: F401
