"""A tracked run (an Optuna trial's, say) whose PostgreSQL server goes away and stays away through
its end: the block ends without an error (a sweep's next trial is the user's to run or not), and the
whole run is kept in a SQLite store in the working folder, with the command that merges it back."""

from __future__ import annotations

import logging

from powertrain import track
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.records import REACHED, RUNNING
from powertrain.store import open_store
from powertrain.store.claims import Owner
from powertrain.store.merge import merge_stores
from powertrain.store.postgres import PostgresStore
from tests.fakes.meters import ConstantPowerMeter

SHORT = (0.05, 0.05)  # the store's retries, shortened


def test_a_server_away_through_the_end_keeps_the_run_beside_and_it_merges_back(
    pg_url, postgres_server, tmp_path, clock, monkeypatch, caplog
):
    monkeypatch.chdir(tmp_path)
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )
    store = PostgresStore(pg_url, retry_s=SHORT)
    me = store.owner
    store.owner = Owner(me.host, me.pid, me.started_at - 1000)  # as a process since ended
    tracked = track("s", {"lr": 0.1}, 0, 0.9, db=store, detection=meters, device="cpu")
    try:
        with caplog.at_level(logging.WARNING, logger="powertrain"), tracked as run:
            clock.advance(1.0)
            run.evaluate(val_accuracy=0.5)
            postgres_server.stop_server()
            clock.advance(1.0)
            assert run.evaluate(val_accuracy=0.95)  # kept by the store: training goes on
    finally:
        postgres_server.start_server()
        store.close()
    [kept] = tmp_path.glob("powertrain.unrecorded-*.db")
    said = caplog.records[-1].getMessage()
    assert f"powertrain merge {kept} -o postgresql://" in said and "2 points" in said
    with open_store(pg_url) as pg:
        assert [r.status for r in pg.runs("s")] == [RUNNING]
    merge_stores([kept], pg_url)
    with open_store(pg_url) as pg:
        [record] = pg.runs("s")
        assert record.status == REACHED
        assert [p.val_accuracy for p in pg.eval_points(record.id)] == [0.5, 0.95]
