"""Two results stores in one folder (``runs/a.db`` and ``runs/b.db``: a user's two machines' stores
copied side by side, or one per experiment), each searching a study of the same name: a search on one
never continues, overwrites or removes the other's checkpoints or model files."""

from __future__ import annotations

import logging
import shutil

import pytest

from powertrain.records import Verdict
from powertrain.search.run import search_study
from powertrain.store import open_store
from powertrain.study.artifacts import checkpoint_path, model_path
from powertrain.study.config import parse_study
from tests.integration.test_live_search import study


def _checkpoint_files(folder, name, key) -> dict[str, bytes]:
    path = checkpoint_path(folder, name, key)
    return {p.name: p.read_bytes() for p in (path, path.with_suffix(".json"))}


def test_a_search_on_one_store_leaves_the_paused_runs_of_another_store_beside_it(tmp_path):
    # Before, both stores' runs kept their checkpoints in tmp/artifacts, by study and run key: the
    # search on b (the same study, so the same run keys) removed or overwrote a's paused runs'
    # checkpoints, and a's later search re-ran them from scratch (or went on from b's).
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "a.db") as a:
        search_study(s, a)
        a_paused = [r for r in a.runs(s.name) if r.outcome.verdict is Verdict.RUNG_PAUSE]
        a_points = {r.run_key: a.eval_points(r.id) for r in a_paused}
        a_folder = a.artifacts_dir
    assert a_paused
    kept = {r.run_key: _checkpoint_files(a_folder, s.name, r.run_key) for r in a_paused}
    with open_store(tmp_path / "b.db") as b:
        search_study(study(search={"strategy": "halving", "eta": 2}, save_models=True), b)
        b_keys = {r.run_key for r in b.runs(s.name)}
        b_models = {k for k in b_keys if model_path(b.artifacts_dir, s.name, k).is_file()}
    assert b_keys & set(kept)  # the same runs: their files would have shared names
    for key, files in kept.items():  # a's checkpoints, byte for byte
        assert _checkpoint_files(a_folder, s.name, key) == files
    assert b_models  # b's weights are in b's folder, none in a's
    assert not any(model_path(a_folder, s.name, k).exists() for k in b_models)
    with open_store(tmp_path / "a.db") as a:  # a's next search goes on from a's own pauses
        search_study(study(search={"strategy": "halving", "eta": 2, "finalists": 3}), a)
        runs = {r.run_key: r for r in a.runs(s.name)}
        went_on = [k for k in a_points if len(a.eval_points(runs[k].id)) > len(a_points[k])]
        assert all(a.eval_points(runs[k].id)[: len(a_points[k])] == a_points[k] for k in went_on)
    assert went_on


def test_the_default_store_keeps_its_artifacts_folder_and_another_store_has_its_own(tmp_path):
    # runs/powertrain.db's checkpoints and models stay in runs/artifacts, where it wrote them
    # before; a store of any other name has a folder of its own beside its file.
    with open_store(tmp_path / "powertrain.db") as default, open_store(tmp_path / "a.db") as a:
        assert default.artifacts_dir == tmp_path / "artifacts"
        assert a.artifacts_dir == tmp_path / "a.db-artifacts"


def _as_written_before(store_folder, shared, name) -> None:
    """Move a store's checkpoints where versions before each store had its own folder wrote them."""
    (shared / name).mkdir(parents=True, exist_ok=True)
    (store_folder / name / "checkpoints").rename(shared / name / "checkpoints")


def test_a_stores_pauses_from_before_it_had_its_own_folder_go_on_from_the_shared_one(tmp_path):
    # runs/a.db's pauses kept by an older version in runs/artifacts: its next search finds them
    # there (their summaries hold its records' very points), moves them into its own folder and
    # goes on from them, rather than training them again from scratch.
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "a.db") as a:
        search_study(s, a)
        paused = [r for r in a.runs(s.name) if r.outcome.verdict is Verdict.RUNG_PAUSE]
        points = {r.run_key: a.eval_points(r.id) for r in paused}
        _as_written_before(a.artifacts_dir, tmp_path / "artifacts", s.name)
        search_study(study(search={"strategy": "halving", "eta": 2, "finalists": 3}), a)
        runs = {r.run_key: r for r in a.runs(s.name)}
        went_on = [k for k in points if len(a.eval_points(runs[k].id)) > len(points[k])]
        assert went_on
        for key in went_on:  # continued: its earlier points kept, not trained again
            assert a.eval_points(runs[key].id)[: len(points[key])] == points[key]
        left = [k for k in points if k not in went_on]
        assert all(checkpoint_path(a.artifacts_dir, s.name, k).is_file() for k in left)
    assert not list((tmp_path / "artifacts").rglob("*.pt"))  # moved, none left behind


def test_another_stores_checkpoint_in_the_shared_folder_is_neither_used_nor_removed(
    tmp_path, caplog
):
    # runs/b.db's pause, kept by an older version in runs/artifacts; runs/a.db holds a pause of
    # the same run (its own checkpoint gone): a's search re-runs it rather than going on from b's
    # state and joules, and leaves b's checkpoint as it was.
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "b.db") as b:
        search_study(s, b)
        b_points = {
            r.run_key: b.eval_points(r.id)
            for r in b.runs(s.name)
            if r.outcome.verdict is Verdict.RUNG_PAUSE
        }
        b_paused = set(b_points)
        _as_written_before(b.artifacts_dir, tmp_path / "artifacts", s.name)
    kept = {k: _checkpoint_files(tmp_path / "artifacts", s.name, k) for k in b_paused}
    a_path = _pausing_the_same(s, tmp_path, b_paused)
    with open_store(a_path) as a:
        a_paused = {r.run_key: r for r in a.runs(s.name) if r.outcome.verdict is Verdict.RUNG_PAUSE}
        shutil.rmtree(a.artifacts_dir / s.name / "checkpoints")  # a's own, gone
        with caplog.at_level(logging.INFO, logger="powertrain.study.resume"):
            search_study(study(search={"strategy": "halving", "eta": 2, "finalists": 3}), a)
        runs = {r.run_key: r for r in a.runs(s.name)}
        said = [m for m in caplog.messages if "is not this store's pause" in m]
        assert said and all(str(tmp_path / "artifacts") in m for m in said)
        for key in set(a_paused) & b_paused:  # none of b's points (its joules) in a's record
            assert not set(map(repr, b_points[key])) & set(map(repr, a.eval_points(runs[key].id)))
    for key, files in kept.items():
        assert _checkpoint_files(tmp_path / "artifacts", s.name, key) == files


def _pausing_the_same(s, tmp_path, paused: set[str]):
    """A store beside the others whose search paused some of the runs ``paused`` names: which runs a
    search pauses follows their measured joules, so a search that paused none of them (the estimate's
    noise) is made again in a new store, up to four times."""
    for attempt in range(4):
        path = tmp_path / f"a{attempt}.db"
        with open_store(path) as a:
            search_study(s, a)
            done = {r.run_key for r in a.runs(s.name) if r.outcome.verdict is Verdict.RUNG_PAUSE}
        if done & paused:
            return path
    raise AssertionError(f"four searches paused none of {sorted(paused)}")


def test_model_files_from_before_a_store_had_its_own_folder_are_named_not_read(tmp_path):
    # runs/a.db's save_models weights, kept by an older version in runs/artifacts (where runs/b.db's
    # of the same run keys went too): `powertrain infer` on a.db does not load them from there (they
    # may be b's), and says where they are and what to do rather than only "set save_models".
    from powertrain.errors import PowertrainError
    from powertrain.inference.study import infer_study
    from powertrain.meters.detect import detect_meters

    s = study(search={"strategy": "halving", "eta": 2}, save_models=True)
    with open_store(tmp_path / "a.db") as a:
        search_study(s, a)
        (tmp_path / "artifacts" / s.name).mkdir(parents=True)
        (a.artifacts_dir / s.name / "models").rename(tmp_path / "artifacts" / s.name / "models")
        with pytest.raises(PowertrainError) as refused:
            infer_study(a, s.name, detect_meters(["estimate"]), inputs=8, repeats=1)
    said = str(refused.value)
    assert str(tmp_path / "artifacts" / s.name / "models") in said
    assert f"move it to {a.artifacts_dir / s.name / 'models'}" in said


def _tuning(seeds):
    return parse_study(
        {
            "name": "tune",
            "pretrain": {
                "dataset": "digits",
                "max_epochs": 1,
                "train": {"learning_rate": 0.1, "batch_size": 32},
            },
            "task": {
                "dataset": "digits",
                "model": "mlp",
                "model_options": {"hidden": [16]},
                "target_accuracy": 0.5,
                "eval_every_steps": 10,
                "max_epochs": 1,
            },
            "grid": {"paradigm": ["finetune"], "learning_rate": [0.1]},
            "seeds": seeds,
            "threads": 1,
            "device": "cpu",
            "meters": {"backends": ["estimate"]},
        }
    )


def test_pretrained_weights_from_before_a_store_had_its_own_folder_are_named_not_read(tmp_path):
    # runs/a.db's pretraining stage, its weights kept by an older version in runs/artifacts: a new
    # seed's fine-tuning does not start from them there (they may be runs/b.db's), and its failure
    # says where they are and what to do, not only that there are none.
    from powertrain.study.plan import pretrained_path
    from powertrain.study.runner import run_study

    with open_store(tmp_path / "a.db") as a:
        run_study(_tuning([0]), a)
        path = pretrained_path(_tuning([0]), a.artifacts_dir)
        earlier = tmp_path / "artifacts" / path.relative_to(a.artifacts_dir)
        earlier.parent.mkdir(parents=True)
        path.rename(earlier)
        run_study(_tuning([0, 1]), a)
        (failed,) = [r for r in a.runs("tune") if r.status == "failed"]
    assert str(earlier) in failed.outcome.error and f"move it to {path}" in failed.outcome.error
