"""The running app reads the tests' clock, also in a session run days ahead
(`--clock-shift-days`): the tests seed its database with dates from their own clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import AdminSession
from tests.e2e.conftest import RunningApp, open_admin

pytestmark = pytest.mark.e2e


def test_the_app_reads_the_same_clock_as_the_tests(
    running_app: RunningApp, browser: Browser
) -> None:
    page = browser.new_page()
    before = utcnow()
    open_admin(page, running_app)  # the backend worker stamps the new sign-in with its clock
    after = utcnow()
    page.close()
    with Session(get_engine(running_app.database_url)) as session:
        stamped = session.exec(
            select(AdminSession.created_at).order_by(col(AdminSession.id).desc())
        ).first()
    slack = timedelta(minutes=1)
    assert stamped is not None
    assert before - slack <= stamped <= after + slack, f"the app's clock says {stamped}"
