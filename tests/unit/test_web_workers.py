"""REPEATCART_REDIS_URL and REPEATCART_WEB_WORKERS reach Reflex: the state manager's Redis URL
and the production server's worker count; several workers without Redis are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from services.core.config import PROJECT_ROOT, Settings

READ_RXCONFIG = (
    "import json, os, rxconfig; "
    "print(json.dumps([rxconfig.config.redis_url, os.environ.get('GRANIAN_WORKERS'),"
    " rxconfig.config.state_manager_mode]))"
)


@pytest.fixture(autouse=True)
def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The declared defaults, whatever the environment running the tests sets."""
    for name in ("REPEATCART_REDIS_URL", "REPEATCART_WEB_WORKERS"):
        monkeypatch.delenv(name, raising=False)


def _rxconfig(**settings: str) -> list[str | None]:
    """What rxconfig.py hands Reflex in a fresh process with these variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REPEATCART_", "REFLEX_REDIS", "GRANIAN_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", READ_RXCONFIG],
        env={**env, **settings},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_by_default_one_web_worker_keeps_state_in_process() -> None:
    settings = Settings()
    assert (settings.secret("redis_url"), settings.web_workers) == ("", 1)
    assert _rxconfig() == [None, None, "memory"], "no Redis, one worker, state in its memory"


def test_a_redis_url_moves_state_to_redis_with_the_workers_asked_for() -> None:
    url = "redis://127.0.0.1:6379/5"
    assert _rxconfig(REPEATCART_REDIS_URL=url, REPEATCART_WEB_WORKERS="3") == [url, "3", "redis"]
    assert _rxconfig(REPEATCART_REDIS_URL=url) == [url, "1", "redis"]
    assert _rxconfig(REFLEX_REDIS_URL=url)[1:] == [None, "redis"], "Reflex's own variable works"


def test_several_web_workers_without_redis_are_refused() -> None:
    with pytest.raises(ValidationError, match="REPEATCART_REDIS_URL"):
        Settings(web_workers=2)


def test_the_redis_url_stays_out_of_reprs() -> None:
    assert "hunter2" not in repr(Settings(redis_url="redis://:hunter2@cache:6379/0"))


def test_the_production_server_runs_the_single_threaded_runtime() -> None:
    """The multi-threaded one can panic on stop with a websocket open, killing a worker before it
    writes the shoppers' queued events and hands back delivery's claimed rows."""
    read = (
        "import rxconfig; from granian.constants import Interfaces; "
        "from granian.server import Server; "
        "print(Server(target='repeatcart_app.repeatcart_app:app', "
        "interface=Interfaces.ASGI).runtime_mode.value)"
    )
    done = subprocess.run(
        [sys.executable, "-c", read], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "st"
