"""Two stores holding a study of one name defined otherwise (another target, another model): merged,
their runs are kept apart as a version (``NAME@2``), as ``powertrain run --allow-changed`` keeps an
edited study's runs, never pooled into one study whose figures then mean neither."""

from __future__ import annotations

import pytest

from powertrain.search.importer import import_csv
from powertrain.store import open_store
from powertrain.store.merge import merge_stores
from powertrain.study.versions import definitions_differ
from tests.unit.test_search_auto import _write_csv


@pytest.fixture
def two_targets(tmp_path):
    """Study ``s`` at target 0.6 in a.db, and at 0.9 in b.db (the same curves, other seeds)."""
    csv = tmp_path / "t.csv"
    _write_csv(csv)
    import_csv(csv, "s", 0.6, tmp_path / "a.db", ["power_limit_w"])
    text = csv.read_text().splitlines()
    csv.write_text("\n".join([text[0], *(f"1{line}" for line in text[1:])]) + "\n")  # seeds 11, 12
    import_csv(csv, "s", 0.9, tmp_path / "b.db", ["power_limit_w"])
    return tmp_path / "a.db", tmp_path / "b.db"


def targets(db) -> dict[str, tuple[float, int]]:
    with open_store(db) as store:
        return {
            s["name"]: (s["config"]["task"]["target_accuracy"], len(store.runs(s["name"])))
            for s in store.studies()
        }


def test_a_study_defined_otherwise_in_another_store_is_kept_apart_as_a_version(
    tmp_path, two_targets
):
    # the runs of 0.9 were pooled into the study of 0.6: their energy-to-target averaged with
    # the others', some runs censored by a target the study said was 0.6
    a, b = two_targets
    out = tmp_path / "out.db"
    done = merge_stores([a, b], out, definitions_differ)
    assert targets(out) == {"s": (0.6, 8), "s@2": (0.9, 8)}
    assert "study 's' of" in done.says() and "task.target_accuracy: 0.6 -> 0.9" in done.says()
    assert "kept apart as 's@2'" in done.says()
    with open_store(out) as store:
        [apart] = [s for s in store.studies() if s["name"] == "s@2"]
        assert apart["config"]["name"] == "s@2"
        assert {r.seed for r in store.runs("s@2")} == {11, 12}
    again = merge_stores([b, a], out, definitions_differ)  # each to the version of its definition
    assert (again.runs, again.studies, again.skipped) == (0, 0, 16)
    assert targets(out) == {"s": (0.6, 8), "s@2": (0.9, 8)}


def test_the_same_definition_in_two_stores_is_one_study(tmp_path, two_targets):
    a, _ = two_targets
    csv = tmp_path / "t.csv"
    _write_csv(csv)
    import_csv(csv, "s", 0.6, tmp_path / "c.db", ["power_limit_w"])  # a's twin, from another file
    done = merge_stores([a, tmp_path / "c.db"], tmp_path / "out.db", definitions_differ)
    assert targets(tmp_path / "out.db") == {"s": (0.6, 8 + 8)}
    assert "kept apart" not in done.says()


def test_merge_at_the_command_line_keeps_them_apart_and_says_so(tmp_path, two_targets, capsys):
    from powertrain.cli import main

    a, b = two_targets
    main(["merge", str(a), str(b), "-o", str(tmp_path / "out.db")])
    said = capsys.readouterr().out
    assert "kept apart as 's@2'" in said
    assert targets(tmp_path / "out.db") == {"s": (0.6, 8), "s@2": (0.9, 8)}


def tracked(db, clock, target: float, model: str) -> None:
    from powertrain import track
    from tests.fakes.meters import cpu_estimate

    with track(
        "t", {"lr": 0.1}, 0, target, db=db, model=model, detection=cpu_estimate(clock)
    ) as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.95)


def test_a_tracked_study_is_defined_by_its_target_not_by_its_last_runs_model(tmp_path, clock):
    # a tracked study's task names the model of its last tracked run, which may vary run to run
    # (and a run kept beside a locked store keeps its own): that alone splits nothing
    a, b, c = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    tracked(a, clock, 0.9, "mlp")
    tracked(b, clock, 0.9, "cnn")
    tracked(c, clock, 0.8, "mlp")
    done = merge_stores([a, b, c], tmp_path / "out.db", definitions_differ)
    with open_store(tmp_path / "out.db") as store:
        counts = {s["name"]: len(store.runs(s["name"])) for s in store.studies()}
    assert counts == {"t": 2, "t@2": 1}  # a's and b's runs one study; c's target apart
    assert "-> 0.8" in done.says() and "kept apart as 't@2'" in done.says()
