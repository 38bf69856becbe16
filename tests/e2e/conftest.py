"""Runs the real app (production build) on a demo database and drives it with Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlmodel import Session

from services.config import PROJECT_ROOT
from services.db import get_engine, migrate
from services.demo import DemoSummary, build_demo_store
from services.models import utcnow

CHROMIUM = os.environ.get("REPEATCART_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
SCREENSHOTS = Path(__file__).parent / "screenshots"


@dataclass(frozen=True)
class RunningApp:
    base_url: str
    database_url: str
    demo: DemoSummary

    def cart(self, kind: str, channel: str | None = None) -> str:
        url = f"{self.base_url}/cart/{self.demo.sample_tokens[kind]}"
        return f"{url}?ch={channel}" if channel else url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base_url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll the health route and the page shell; give up with the server log after 6 minutes."""
    deadline = time.monotonic() + 360
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited early:\n{log.read_text()[-4000:]}")
        try:
            if (
                httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
                and httpx.get(f"{base_url}/", timeout=2).status_code == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)  # polling a server that is starting, not waiting on the UI
    raise RuntimeError(f"the app did not come up:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/test.sh, which installs it")
    workdir = tmp_path_factory.mktemp("e2e")
    database_url = f"sqlite:///{workdir / 'e2e.db'}"
    migrate(database_url)
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        demo = build_demo_store(session, seed=11, customers=200, now=utcnow())
        session.commit()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "REPEATCART_DATABASE_URL": database_url,
        "REPEATCART_PUBLIC_URL": base_url,
        "REPEATCART_CHECKOUT_PREVIEW": "1",
    }
    log = workdir / "app.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                "reflex",
                "run",
                "--env",
                "prod",
                "--frontend-port",
                str(port),
                "--backend-port",
                str(port),
                "--loglevel",
                "warning",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(base_url, process, log)
        yield RunningApp(base_url, database_url, demo)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def page(browser: Browser, viewport: str) -> Iterator[Page]:
    context = browser.new_context(
        viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone", has_touch=viewport == "phone"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
