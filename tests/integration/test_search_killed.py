"""A live search killed with SIGKILL while it has paused runs (halving's rungs), then run again: the
runs it had paused go on from their checkpoints, not trained again from scratch; one record per run,
every point once, nothing left running."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from tests.cli_helpers import powertrain
from tests.integration.test_live_search import STUDY


def points_by_key(db) -> dict[str, list[list[dict]]]:
    """Every record's points, by run key, in the order the records were begun."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT r.run_key, r.id, p.point FROM runs r JOIN eval_points p ON p.run_id = r.id"
            " ORDER BY r.id, p.idx"
        ).fetchall()
    records: dict[str, dict[int, list[dict]]] = {}
    for key, run_id, point in rows:
        records.setdefault(key, {}).setdefault(run_id, []).append(json.loads(point))
    return {key: list(by_id.values()) for key, by_id in records.items()}


def killed_once_paused(path, db, folder, paused: int) -> None:
    """``powertrain run`` killed (SIGKILL) once ``paused`` runs have checkpoints on disk."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "powertrain.cli", "run", str(path), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(folder.rglob("checkpoints/*.pt"))) >= paused:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the search ended before it was killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_search_killed_with_paused_runs_continues_them_when_run_again(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**STUDY, "search": {"strategy": "halving", "eta": 2}}))
    db = tmp_path / "r.db"
    killed_once_paused(path, db, tmp_path, paused=3)  # rung 0 pauses every setup's first seed
    before = {key: records[0] for key, records in points_by_key(db).items()}
    assert before

    again = powertrain("run", str(path), "--db", str(db), timeout=300)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(db) as con:
        keys = con.execute("SELECT run_key, COUNT(*) FROM runs GROUP BY run_key").fetchall()
        assert con.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0] == 0
    assert all(count == 1 for _, count in keys)  # no duplicates
    after = {key: records[-1] for key, records in points_by_key(db).items()}
    went_on = [key for key in before if len(after[key]) > len(before[key])]
    assert went_on  # the promoted ones
    for key in went_on:  # continued: the points of the killed search's attempt, then more
        assert after[key][: len(before[key])] == before[key], key
    for points in after.values():
        assert [p["index"] for p in points] == list(range(len(points)))
        energies = [sum(p["energy_j"].values()) for p in points]
        assert energies == sorted(energies)


def test_a_pause_whose_checkpoint_goes_as_it_is_continued_is_trained_again_over_its_record(
    tmp_path, monkeypatch
):
    # Its record begun again to continue it, its checkpoint gone before the run read it: trained
    # afresh, over the stored pause (the begin was refused, "already finished").
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from powertrain.study import execute as execute_module
    from powertrain.study.resume import discard
    from tests.integration.test_live_search import study

    real, gone = execute_module.execute_run, []

    def checkpoint_gone(spec, env, *args, **kwargs):
        if kwargs.get("resume") and not gone:
            gone.append(spec.run_key)
            discard(spec, env)
        return real(spec, env, *args, **kwargs)

    monkeypatch.setattr(execute_module, "execute_run", checkpoint_gone)
    with open_store(tmp_path / "r.db") as store:
        live = search_study(study(search={"strategy": "halving", "eta": 2}), store)
        runs = store.runs("tiny-search")
    assert gone and live.cost.superseded_j > 0  # its paused attempt, counted apart
    assert len({r.run_key for r in runs}) == len(runs) and all(r.outcome for r in runs)
    (again,) = [r for r in runs if r.run_key == gone[0]]
    assert again.outcome.verdict.value != "failed"


@pytest.mark.parametrize("where", ["reading its checkpoint", "training it"])
def test_a_search_interrupted_as_it_continues_a_pause_keeps_its_checkpoint_for_the_next(
    tmp_path, monkeypatch, where
):
    # Ctrl-C as the search goes on with a pause (reading its checkpoint to begin its record again,
    # or training it): the search's cleanup keeps the stored pause's checkpoint, so the next search
    # continues it, nothing re-run. Caught reading it, the cleanup removed it (seen with SIGINT).
    from powertrain.search import sink as sink_module
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from powertrain.study import execute as execute_module
    from tests.integration.test_live_search import assert_pauses_keep_their_checkpoints, study

    s = study(search={"strategy": "halving", "eta": 2})
    real = execute_module.execute_run

    def interrupted(spec, env, *args, **kwargs):
        if kwargs.get("resume"):
            raise KeyboardInterrupt
        return real(spec, env, *args, **kwargs)

    def interrupted_reading(spec, place):
        raise KeyboardInterrupt

    with open_store(tmp_path / "r.db") as store:
        with monkeypatch.context() as patch:
            if where == "training it":
                patch.setattr(execute_module, "execute_run", interrupted)
            else:
                patch.setattr(sink_module, "paused_spent", interrupted_reading)
            with pytest.raises(KeyboardInterrupt):
                search_study(s, store)
        finished = [r for r in store.runs("tiny-search") if r.outcome is not None]
        assert_pauses_keep_their_checkpoints(tmp_path, finished)
        again = search_study(s, store)
        runs = store.runs("tiny-search")
    assert again.cost.superseded_j == 0 and again.cost.carried_j > 0  # continued, not re-run
    assert len({r.run_key for r in runs}) == len(runs) and all(r.outcome for r in runs)


def test_a_pause_whose_checkpoint_cannot_be_resumed_when_promoted_is_trained_again(
    tmp_path, monkeypatch
):
    # Its checkpoint unusable when the search goes on with it (damaged, removed by hand): trained
    # afresh over its stored pause; the begin was refused ("already finished").
    from powertrain.search import sink as sink_module
    from powertrain.search.run import search_study
    from powertrain.store import open_store
    from tests.integration.test_live_search import study

    monkeypatch.setattr(sink_module, "paused_spent", lambda spec, place: None)
    with open_store(tmp_path / "r.db") as store:
        live = search_study(study(search={"strategy": "halving", "eta": 2}), store)
        runs = store.runs("tiny-search")
    assert live.cost.superseded_j > 0  # the paused attempts, counted apart
    assert len({r.run_key for r in runs}) == len(runs) and all(r.outcome for r in runs)
    assert live.outcome.pick is not None
