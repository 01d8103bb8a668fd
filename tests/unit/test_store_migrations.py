"""A store written by an older schema opens, migrates, and gives the same runs and figures."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import asdict

import pytest

from powertrain.analysis.summary import summarise
from powertrain.records import CENSORED, REACHED, Stage, Verdict
from powertrain.store.merge import merge_stores
from powertrain.store.migrations import SCHEMA_VERSION
from powertrain.store.sqlite import SqliteStore
from powertrain.testing.store_contract import PROVENANCE, outcome, point

# The version-1 schema as powertrain wrote it (the stage column came later, by ALTER TABLE).
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies (name TEXT PRIMARY KEY, config TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study TEXT NOT NULL REFERENCES studies(name),
    run_key TEXT NOT NULL,
    setup TEXT NOT NULL,
    train TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    hardware TEXT NOT NULL,
    provenance TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT,
    energy_to_target_j REAL,
    total_energy_j REAL{stage}
);
CREATE INDEX runs_by_study ON runs (study, run_key);
CREATE TABLE eval_points (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, point TEXT NOT NULL, PRIMARY KEY (run_id, idx));
CREATE TABLE inference (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    batch_size INTEGER NOT NULL, result TEXT NOT NULL, PRIMARY KEY (run_id, batch_size));
CREATE TABLE idle (host TEXT NOT NULL, measured_at REAL NOT NULL, measurement TEXT NOT NULL,
    PRIMARY KEY (host, measured_at));
CREATE TABLE timelines (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE, timeline TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
"""
HARDWARE = {"host": "h", "cpu_model": "cpu"}


def v1_store(path, with_stage: bool) -> None:
    """Two seeds of two setups, and (with the stage column) a pretraining stage with its magic key."""
    db = sqlite3.connect(path)
    stage = ",\n    stage TEXT NOT NULL DEFAULT 'train'" if with_stage else ""
    db.executescript(V1_SCHEMA.format(stage=stage))
    db.execute("INSERT INTO studies VALUES ('st', '{}', 1.0)")
    rows = [({"learning_rate": lr}, seed, "train") for lr in (0.1, 0.01) for seed in (0, 1)]
    if with_stage:
        rows.append(({"stage": "pretrain", "dataset": "digits"}, 0, "pretrain"))
    for i, (setup, seed, stage_value) in enumerate(rows):
        done = outcome(REACHED)
        done = type(done)(**{**asdict(done), "total_energy_j": 10.0 + i})
        columns = "study, run_key, setup, train, seed, status, hardware, provenance, started_at,"
        columns += " finished_at, outcome, energy_to_target_j, total_energy_j"
        values = [
            "st", f"k{i}", json.dumps(setup), json.dumps({"paradigm": "scratch", **setup}), seed,
            "reached", json.dumps(HARDWARE), json.dumps(PROVENANCE), 100.0 + i, 200.0 + i,
            json.dumps(asdict(done)), done.energy_to_target_j, done.total_energy_j,
        ]  # fmt: skip
        if with_stage:
            columns, values = columns + ", stage", [*values, stage_value]
        marks = ", ".join("?" * len(values))
        run_id = db.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", values).lastrowid
        for p in (point(0), point(1, 0.95)):
            db.execute(
                "INSERT INTO eval_points VALUES (?, ?, ?)", (run_id, p.index, json.dumps(asdict(p)))
            )
    db.commit()
    db.close()


@pytest.mark.parametrize("with_stage", [True, False])
def test_a_version_1_store_opens_migrates_and_gives_the_same_runs(tmp_path, with_stage):
    path = tmp_path / "old.db"
    v1_store(path, with_stage)
    with SqliteStore(path) as store:
        runs = store.runs("st")
        summaries = summarise(runs)
        points = store.eval_points(runs[0].id)
    db = sqlite3.connect(path)
    (version,) = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert int(version) == SCHEMA_VERSION == 5
    assert {"owner", "heartbeat_at"} <= columns  # version 3: claims
    assert "power_limits" in tables  # version 4: the GPU power limit journal
    assert "verdict" in columns and "search_costs" in tables  # version 5
    assert "stage" in columns and not columns & {"energy_to_target_j", "total_energy_j"}

    trained = [r for r in runs if r.stage is Stage.TRAIN]
    assert len(trained) == 4 and all(r.status is REACHED for r in runs)
    assert [r.outcome.total_energy_j for r in trained] == [10.0, 11.0, 12.0, 13.0]
    assert [r.setup for r in trained][:2] == [{"learning_rate": 0.1}] * 2
    assert points == [point(0), point(1, 0.95)]
    pretrain = [r for r in runs if r.stage is Stage.PRETRAIN]
    assert len(pretrain) == (1 if with_stage else 0)
    assert all(r.setup == {"dataset": "digits"} for r in pretrain)  # the magic key is gone
    (group,) = summaries
    assert group.sweep_energy_j == pytest.approx(10.0 + 11.0 + 12.0 + 13.0)
    assert {s.label: s.energy_to_target_j.mean for s in group.setups} == pytest.approx(
        {"learning_rate=0.1": 11.0, "learning_rate=0.01": 11.0}
    )


def test_merging_an_old_store_migrates_it_and_merging_twice_adds_nothing(tmp_path):
    v1_store(tmp_path / "old.db", with_stage=True)
    first = merge_stores([tmp_path / "old.db"], tmp_path / "all.db")
    again = merge_stores([tmp_path / "old.db"], tmp_path / "all.db")
    assert (first.studies, first.runs, again.runs, again.skipped) == (1, 5, 0, 5)
    with SqliteStore(tmp_path / "all.db") as store:
        runs = store.runs()
        assert len(runs) == 5 and store.eval_points(runs[-1].id) == [point(0), point(1, 0.95)]


def test_a_merge_keeps_the_search_costs_the_output_lacks(tmp_path):
    for name, spent_j in (("a.db", 1.0), ("b.db", 2.0)):
        with SqliteStore(tmp_path / name) as store:
            store.save_search_cost("st", {"study": "st", "spent_j": spent_j})
            store.save_search_cost(name, {"study": name, "spent_j": spent_j})
    merge_stores([tmp_path / "a.db", tmp_path / "b.db"], tmp_path / "all.db")
    with SqliteStore(tmp_path / "all.db") as store:
        assert store.search_costs() == {
            "a.db": {"study": "a.db", "spent_j": 1.0},
            "b.db": {"study": "b.db", "spent_j": 2.0},
            "st": {"study": "st", "spent_j": 1.0},  # the first store's: kept, as studies are
        }


def test_version_5_types_the_verdicts_and_takes_the_search_ledgers_in(tmp_path):
    """Runs stored before verdicts had columns get theirs from their status and their stop reason's
    words; a search's ledger beside the store (``artifacts/STUDY/search.json``) moves into it."""
    v1_store(tmp_path / "old.db", with_stage=False)
    reasons = ["bound: 9.0 J passed 1 x the best run's (5.0 J)", "max_epochs (3) reached", "odd"]
    db = sqlite3.connect(tmp_path / "old.db")
    for key, reason in zip(("k0", "k1", "k2"), reasons, strict=True):
        stopped = {**asdict(outcome(CENSORED)), "stop_reason": reason, "status": "censored"}
        stopped.pop("verdict")  # the outcome as schema 4 wrote it
        db.execute(
            "UPDATE runs SET status = 'censored', outcome = ? WHERE run_key = ?",
            (json.dumps(stopped), key),
        )
    db.commit()
    db.close()
    ledger = tmp_path / "artifacts" / "st" / "search.json"
    ledger.parent.mkdir(parents=True)
    ledger.write_text(json.dumps({"study": "st", "strategy": "bound", "spent_j": 12.5}))
    with SqliteStore(tmp_path / "old.db") as store:
        verdicts = [r.outcome.verdict for r in store.runs("st")]
        costs = store.search_costs()
    assert verdicts == [Verdict.SEARCH_BOUND, Verdict.MAX_EPOCHS, Verdict.ENDED, Verdict.TARGET]
    assert costs == {"st": {"study": "st", "strategy": "bound", "spent_j": 12.5}}


@pytest.mark.parametrize(
    ("column", "change", "said"),
    [
        ("outcome", lambda o: {**o, "new_field": 1}, "fields this powertrain does not know"),
        ("outcome", lambda o: "{not json", "is not a JSON object"),
        ("point", lambda p: {**p, "new_field": 1}, "fields this powertrain does not know"),
    ],
    ids=["outcome-newer", "outcome-damaged", "point-newer"],
)
def test_a_row_of_a_newer_powertrain_or_a_damaged_one_is_one_clear_error(
    tmp_path, column, change, said
):
    # an outcome with a field a newer powertrain added (the schema version unchanged) ended ls,
    # report and merge in a TypeError's traceback; a damaged one in a JSONDecodeError's
    from powertrain.errors import PowertrainError

    path = tmp_path / "s.db"
    v1_store(path, with_stage=False)
    with SqliteStore(path) as store:
        [first, *_] = store.runs("st")
    db = sqlite3.connect(path)
    table, key = ("runs", "id") if column == "outcome" else ("eval_points", "run_id")
    (text,) = db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (first.id,)).fetchone()
    changed = change(json.loads(text))
    changed = changed if isinstance(changed, str) else json.dumps(changed)
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (changed, first.id))
    db.commit()
    db.close()
    before = path.read_bytes()
    with (
        pytest.raises(PowertrainError, match=rf"run {first.id}\b.*{said}"),
        SqliteStore(path) as store,
    ):
        [store.eval_points(r.id) for r in store.runs("st")]
    with pytest.raises(PowertrainError, match=said):
        merge_stores([path], tmp_path / "out.db")
    assert path.read_bytes() == before


@pytest.mark.parametrize("config", ["{not json", "[1, 2]"], ids=["damaged", "not-a-mapping"])
def test_a_study_definition_that_is_no_json_object_is_one_clear_error(tmp_path, config):
    # merge, report and simulate ended in a JSONDecodeError's or an AttributeError's traceback
    from powertrain.errors import PowertrainError

    path = tmp_path / "s.db"
    v1_store(path, with_stage=False)
    SqliteStore(path).close()  # migrated first: the bytes compared below are the damaged store's
    db = sqlite3.connect(path)
    db.execute("UPDATE studies SET config = ? WHERE name = 'st'", (config,))
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(
        PowertrainError, match="study 'st' in .*s.db: its definition is not a JSON object"
    ):
        merge_stores([path], tmp_path / "out.db")
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("config", "part"),
    [
        ('{"task": 5}', "task holds 5"),
        ('{"task": {"target_accuracy": "x"}}', 'task.target_accuracy holds "x"'),
        ('{"task": {"target_accuracy": 0.9}, "search": 3}', "search holds 3"),
        ('{"search": {"cost_axes": [1]}}', "search.cost_axes holds [1]"),
        ('{"targets": {"main": null}}', 'targets holds {"main": null}'),
    ],
)
def test_a_study_definition_whose_parts_are_damaged_is_one_clear_error(tmp_path, config, part):
    # simulate, predict and report ended in an AttributeError's traceback ('int' object has no
    # attribute 'get'), or numpy's, and simulate ran on with a target of "x"
    from powertrain.errors import PowertrainError
    from powertrain.search.simulate import load_curves

    path = tmp_path / "s.db"
    v1_store(path, with_stage=False)
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE studies SET config = ? WHERE name = 'st'", (config,))
    db.commit()
    db.close()
    before = path.read_bytes()
    said = rf"study 'st' in .*s.db: its definition's {re.escape(part)}; the store is damaged"
    with pytest.raises(PowertrainError, match=said), SqliteStore(path) as store:
        load_curves(store, "st")
    assert path.read_bytes() == before


def test_study_definitions_as_powertrain_writes_them_are_read(tmp_path):
    """The check above refuses none of what a study file, a tracked run or an import stores."""
    from powertrain.store.rows import study_from_row

    configs = [
        {"name": "a", "task": {"target_accuracy": 0.9, "targets": None}, "search": None},
        {"name": "b", "source": "track", "task": {"targets": {"x": 0.8, "y": 1}}, "targets": {}},
        {"name": "c", "task": {"target_accuracy": 0.6}, "search": {"cost_axes": ["power_limit_w"]}},
        {"name": "d"},
    ]
    for config in configs:
        row = study_from_row("s.db", config["name"], json.dumps(config), 0.0)
        assert row["config"] == config
