"""The three messaging fakes served together, for tests and benchmarks that need all of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from tests.fakes.attentive import FakeAttentive
from tests.fakes.klaviyo import FakeKlaviyo
from tests.fakes.postscript import FakePostscript
from tests.fakes.provider import ProviderFake

__all__ = ["serve_messaging_fakes"]


@contextmanager
def serve_messaging_fakes() -> Iterator[dict[str, tuple[ProviderFake, str]]]:
    """integration name → (fake, base URL), all served until the block ends."""
    fakes: dict[str, ProviderFake] = {
        "klaviyo": FakeKlaviyo(),
        "postscript": FakePostscript(),
        "attentive": FakeAttentive(),
    }
    with ExitStack() as stack:
        urls = {name: stack.enter_context(fake.serve()).url for name, fake in fakes.items()}
        yield {name: (fakes[name], urls[name]) for name in fakes}
