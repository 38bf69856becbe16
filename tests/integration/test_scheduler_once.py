"""The jobs run once per tick however many processes could schedule them.

Reflex runs the embedded worker's lifespan task in every web worker, and a `repeatcart worker`
may run beside them: one process schedules (the scheduler lease), the others stand by, and one
of them takes over when the scheduling process stops (at once: it releases the lease) or dies
(once the lease expires). Each process here is a real one (`scheduler_probe`), on one database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.core.config import PROJECT_ROOT
from tests.clock_shift import subprocess_env
from tests.integration.scheduler_probe import PROBE_JOBS, TICK_SECONDS

TTL_SECONDS = 3.0
"""The scheduler lease in these processes: a dead scheduler's jobs resume within ~4 s."""
WAIT_SECONDS = 60.0  # generous: several processes start at once on a small machine


@dataclass(frozen=True)
class Run:
    job: str
    pid: int
    at: float


class Fleet:
    """Scheduler processes on one database, and the runs their probe jobs record."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.directory = directory
        self.log = directory / "runs.log"
        self.processes: list[subprocess.Popen[bytes]] = []
        env = {key: value for key, value in os.environ.items() if not key.startswith("REPEATCART_")}
        env.update(
            REPEATCART_DATABASE_URL=database_url,
            REPEATCART_EMBEDDED_WORKER="1",
            PROBE_LOG=str(self.log),
            PROBE_TTL_SECONDS=str(TTL_SECONDS),
        )
        self.env = subprocess_env(env)

    def start(self, mode: str) -> subprocess.Popen[bytes]:
        """`embedded` runs the web worker's lifespan task; `worker` runs `repeatcart worker`."""
        output = (self.directory / f"{mode}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.scheduler_probe", mode],
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        output.close()
        self.processes.append(process)
        return process

    def runs(self) -> list[Run]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        runs = [Run(job, int(pid), float(at)) for job, pid, at in map(str.split, lines)]
        return sorted(runs, key=lambda run: run.at)

    def wait_until(self, done: Callable[[list[Run]], bool], what: str) -> list[Run]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            runs = self.runs()
            if done(runs):
                return runs
            for process in self.processes:
                assert process.poll() is None or process.returncode in (0, -signal.SIGKILL), (
                    f"a scheduler process failed:\n{self.output()}"
                )
            time.sleep(0.1)  # polling the probes' file while the schedulers tick
        raise AssertionError(f"timed out waiting for {what}; runs: {self.runs()}\n{self.output()}")

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM, as a server stopping its workers; it must exit cleanly and soon."""
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, self.output()

    def output(self) -> str:
        return "\n".join(
            path.read_text()[-2000:] for path in sorted(self.directory.glob("*-*.log"))
        )

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def fleet(database_url: str, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(database_url, tmp_path)
    yield fleet
    fleet.kill_all()


def _runs_by(pid: int) -> Callable[[list[Run]], bool]:
    """Every probe job has run at least twice in `pid`."""
    return lambda runs: all(
        sum(1 for run in runs if run.pid == pid and run.job == job) >= 2 for job in PROBE_JOBS
    )


def _leaders(runs: list[Run]) -> list[int]:
    """The processes that ran jobs, in order; each leads one stretch, never twice."""
    order: list[int] = []
    for run in runs:
        if not order or order[-1] != run.pid:
            order.append(run.pid)
    return order


def _assert_once_per_tick(runs: list[Run]) -> None:
    """Within one process's stretch a job runs once per tick: never two runs in one tick, as N
    schedulers on their own clocks would give."""
    for pid in {run.pid for run in runs}:
        for job in PROBE_JOBS:
            times = [run.at for run in runs if run.pid == pid and run.job == job]
            gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
            assert all(gap > TICK_SECONDS / 2 for gap in gaps), (job, pid, gaps)


def test_of_several_web_workers_and_a_worker_one_schedules_each_job_once_per_tick(
    fleet: Fleet,
) -> None:
    for mode in ("embedded", "embedded", "embedded", "worker"):
        fleet.start(mode)
    first = fleet.wait_until(lambda runs: bool(runs), "a first run")[0]
    runs = fleet.wait_until(
        lambda runs: all(sum(run.job == job for run in runs) >= 5 for job in PROBE_JOBS),
        "five runs of each job",
    )
    # the standbys first: the leader's clean stop would hand the jobs to one of them
    for process in sorted(fleet.processes, key=lambda process: process.pid == first.pid):
        fleet.stop(process)
    runs = fleet.runs()
    assert {run.pid for run in runs} == {first.pid}, "only the lease holder scheduled"
    _assert_once_per_tick(runs)
    span = runs[-1].at - runs[0].at
    for job in PROBE_JOBS:
        ran = sum(run.job == job for run in runs)
        assert ran <= span / TICK_SECONDS + 2, f"{job} ran {ran} times in {span:.1f} s"


def test_a_standby_takes_over_when_the_scheduler_stops_or_dies(fleet: Fleet) -> None:
    for _ in range(3):
        fleet.start("embedded")
    by_pid = {process.pid: process for process in fleet.processes}
    leader = fleet.wait_until(bool, "a first run")[0].pid
    fleet.wait_until(_runs_by(leader), "the first scheduler's runs")

    fleet.stop(by_pid.pop(leader))  # a clean stop releases the lease: a standby takes it at once
    stopped_at = time.time()
    runs = fleet.wait_until(lambda runs: runs[-1].pid in by_pid, "a standby's first run")
    second = runs[-1].pid
    took_over = min(run.at for run in runs if run.pid == second) - stopped_at
    assert took_over < TTL_SECONDS, f"took {took_over:.1f} s: the lease was not released"
    fleet.wait_until(_runs_by(second), "the second scheduler's runs")

    by_pid.pop(second).kill()  # a dead scheduler renews nothing: its lease expires
    runs = fleet.wait_until(lambda runs: runs[-1].pid in by_pid, "the last standby's first run")
    third = runs[-1].pid
    fleet.wait_until(_runs_by(third), "the third scheduler's runs")
    fleet.stop(by_pid.pop(third))

    runs = fleet.runs()
    assert _leaders(runs) == [leader, second, third], "one scheduler at a time, each once"
    _assert_once_per_tick(runs)
