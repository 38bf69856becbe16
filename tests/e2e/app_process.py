"""Serves the real app (production build) on a fresh demo database, for the browser tests and
the page-load benchmark alike."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlmodel import Session

from services.core.clock import utcnow
from services.core.config import PROJECT_ROOT
from services.core.db import get_engine, migrate
from services.demo import DemoSummary, build_demo_store
from tests.clock_shift import subprocess_env

CHROMIUM = os.environ.get("REPEATCART_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WEBHOOK_SECRET = "e2e-webhook-secret"
SECRET_KEY = "Yj9cXYz3Eist0Q5g9XUH6LYCys2HzoyYEdqKnAS4fkA="
"""Encrypts what the dashboard saves; tests encrypting the same way set it too (a test key)."""
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@dataclass(frozen=True)
class RunningApp:
    base_url: str
    database_url: str
    demo: DemoSummary
    log: Path
    redis_url: str = ""  # where shoppers' state lives in scale-out mode

    def cart(self, kind: str, channel: str | None = None) -> str:
        url = f"{self.base_url}/cart/{self.demo.sample_tokens[kind]}"
        return f"{url}?ch={channel}" if channel else url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tool_env() -> dict[str, str]:
    """What scripts/env.sh exports, for callers that did not source it."""
    env = dict(os.environ)
    tools = PROJECT_ROOT / ".tools" / "node_modules" / ".bin"
    env["PATH"] = os.pathsep.join([str(PROJECT_ROOT / ".venv" / "bin"), str(tools), env["PATH"]])
    env.setdefault("REFLEX_BUN_PATH", str(tools / "bun"))
    env.setdefault("REFLEX_CHECK_LATEST_VERSION", "0")
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "0")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def wait_until_up(
    base_url: str, process: subprocess.Popen, log: Path, probes: tuple[str, ...] = ("/healthz", "/")
) -> None:
    """Poll `probes` until each answers 200; give up with the server log after 6 minutes."""
    deadline = time.monotonic() + 360
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited early:\n{log.read_text()[-4000:]}")
        try:
            if all(httpx.get(f"{base_url}{p}", timeout=2).status_code == 200 for p in probes):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)  # polling a server that is starting, not waiting on the UI
    raise RuntimeError(f"the app did not come up:\n{log.read_text()[-4000:]}")


SCALE_OUT_ENV = "REPEATCART_E2E_SCALE_OUT"
"""Set to 1, the shared demo app runs as in production beyond one machine: PostgreSQL, state in
Redis, two backend workers (CI runs the shopper tests once more this way)."""
SCALE_OUT_WORKERS = 2


def scale_out() -> bool:
    return os.environ.get(SCALE_OUT_ENV) == "1"


@contextmanager
def _redis_database() -> Iterator[str]:
    """A Redis database of its own for one app's state, emptied after."""
    import redis

    url = f"redis://127.0.0.1:6379/{8 + os.getpid() % 8}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextmanager
def serve_demo_app(workdir: Path, *, customers: int = 200, seed: int = 11) -> Iterator[RunningApp]:
    """Build a demo store in `workdir`, serve it with `reflex run --env prod`, stop it after.

    On SQLite in one backend worker; with `REPEATCART_E2E_SCALE_OUT=1`, on PostgreSQL with
    Redis state and two backend workers."""
    env = {
        "REPEATCART_CHECKOUT_PREVIEW": "1",
        "REPEATCART_SHOPIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "REPEATCART_EMBEDDED_WORKER": "1",
    }
    with ExitStack() as stack:
        if scale_out():
            from tests.conftest import new_postgres_database

            database_url = stack.enter_context(new_postgres_database("repeatcart_e2e"))
            env["REPEATCART_REDIS_URL"] = stack.enter_context(_redis_database())
            env["REPEATCART_WEB_WORKERS"] = str(SCALE_OUT_WORKERS)
        else:
            database_url = f"sqlite:///{workdir / 'app.db'}"
        migrate(database_url)
        with Session(get_engine(database_url), expire_on_commit=False) as session:
            demo = build_demo_store(session, seed=seed, customers=customers, now=utcnow())
            session.commit()
        with serve_app(workdir, database_url, env) as base_url:
            redis_url = env.get("REPEATCART_REDIS_URL", "")
            yield RunningApp(base_url, database_url, demo, workdir / "app.log", redis_url)


def app_env(
    database_url: str, base_url: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment the app (or a `repeatcart` command beside it) runs with; its processes
    read the tests' clock, which may be shifted."""
    return subprocess_env(
        {
            **_tool_env(),
            "REPEATCART_DATABASE_URL": database_url,
            "REPEATCART_PUBLIC_URL": base_url,
            "REPEATCART_SECRET_KEY": SECRET_KEY,
            **(extra or {}),
        }
    )


@contextmanager
def serve_app(
    workdir: Path, database_url: str, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Serve the production build on a migrated `database_url`; yields its base URL."""
    process, base_url = launch_app(workdir, database_url, extra_env)
    try:
        yield base_url
    finally:
        stop_app(process)


def stop_app(process: subprocess.Popen) -> None:
    """SIGTERM the app's process group, SIGKILL it if it is not gone within 20 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def launch_app(
    workdir: Path, database_url: str, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the project's app on `database_url` and wait until it serves; the caller stops it
    (tests of stopping send their own signals)."""
    return start_reflex(
        PROJECT_ROOT,
        lambda base_url: app_env(database_url, base_url, extra_env),
        workdir / "app.log",
    )


def start_reflex(
    app_dir: Path,
    env_for: Callable[[str], dict[str, str]],
    log: Path,
    probes: tuple[str, ...] = ("/healthz", "/"),
) -> tuple[subprocess.Popen, str]:
    """`reflex run --env prod` of the app in `app_dir` on one free port, in its own process
    group, with the environment `env_for(base_url)`; returns once `probes` answer."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["reflex", "run", "--env", "prod", "--loglevel", "warning"]
            + ["--frontend-port", str(port), "--backend-port", str(port)],
            cwd=app_dir,
            env=env_for(base_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(base_url, process, log, probes)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        raise
    return process, base_url
