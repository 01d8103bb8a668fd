from __future__ import annotations

import os

import pytest


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, t_s: float = 1000.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s

    def advance(self, dt_s: float) -> None:
        self.t_s += dt_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- CI: no part silently untested ----------------------------------------------------------------
#: The one reason a test may skip in CI: the machine lacks the hardware (a GPU, RAPL counters).
HARDWARE_SKIP_PREFIX = "needs hardware"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _fail_if_skipped_in_ci(report) -> None:
    """Under CI (the CI variable set), a skip whose reason does not start with "needs hardware"
    becomes a failure, so that a missing browser or package cannot leave a part untested."""
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if reason.startswith(HARDWARE_SKIP_PREFIX):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped in CI for a reason other than missing hardware: {reason!r}. Install what it "
        f"needs (make test does), or, for hardware, start the reason with {HARDWARE_SKIP_PREFIX!r}"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_if_skipped_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_if_skipped_in_ci(outcome.get_result())


# -- PostgreSQL: one real throwaway server for the session ------------------------------------------
@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server started for this session (initdb in a temp folder, 127.0.0.1, a free port,
    an unprivileged user) and stopped at its end. Started only when a test asks for it."""
    from powertrain.testing.postgres import PostgresServer, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl not found: make test installs Debian's postgresql")
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server, request):
    """A URL of a store of its own on the session's server (a schema named after the test), dropped
    after the test."""
    import re
    import uuid

    schema = "t_" + re.sub(r"\W", "_", request.node.name)[:40].lower() + "_" + uuid.uuid4().hex[:6]
    yield postgres_server.url(schema=schema)
    if postgres_server.root is not None and (postgres_server.data / "postmaster.pid").exists():
        postgres_server.sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(scope="session")
def slurm_cluster():
    """A single-node Slurm started for this session (munge, slurmctld, slurmd on 127.0.0.1, state in
    a temp folder) and stopped at its end; ``.env`` carries its SLURM_CONF for sbatch."""
    from tests.slurm_cluster import SlurmCluster, missing

    why = missing()
    if why is not None:
        pytest.skip(f"no Slurm here: {why}")
    cluster = SlurmCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def slurm_two_nodes():
    """A Slurm of two nodes, ``n1`` and ``n2``, both on this machine (one slurmd each), scheduled by
    sched/backfill as a heterogeneous job needs; stopped at the session's end."""
    from tests.slurm_cluster import SlurmCluster, missing

    why = missing()
    if why is not None:
        pytest.skip(f"no Slurm here: {why}")
    cluster = SlurmCluster(nodes=2)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
