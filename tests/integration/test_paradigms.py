from __future__ import annotations

import json

import pytest
import torch

from powertrain.meters.detect import detect_meters
from powertrain.records import REACHED
from powertrain.render.build import build_report
from powertrain.store.sqlite import SqliteStore
from powertrain.study.artifacts import model_path
from powertrain.study.config import parse_study
from powertrain.study.runner import run_study

SMALL_FMNIST = {"train_size": 400, "val_size": 100, "test_size": 100}
MLP = {"hidden": [32]}


def transfer_study(**extra):
    return parse_study(
        {
            "name": "transfer",
            "pretrain": {
                "dataset": "mnist-5k",
                "dataset_options": {"train_size": 400},
                "max_epochs": 1,
                "train": {"learning_rate": 0.05, "momentum": 0.9, "batch_size": 32},
            },
            "task": {
                "dataset": "fashion-mnist",
                "dataset_options": SMALL_FMNIST,
                "model": "mlp",
                "model_options": MLP,
                "target_accuracy": 0.55,
                "eval_every_steps": 5,
                "max_epochs": 4,
            },
            "train": {"momentum": 0.9, "batch_size": 32},
            "grid": {"paradigm": ["scratch", "finetune", "head-only"], "learning_rate": [0.05]},
            "seeds": [0, 1],
            **extra,
        }
    )


@pytest.fixture(scope="module")
def transfer_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    study = transfer_study(save_models=True)
    with SqliteStore(
        root / "powertrain.db"
    ) as store:  # the default name: root/artifacts is its own
        first = run_study(
            study, store, detection=detect_meters(["estimate"]), artifacts_dir=root / "artifacts"
        )
    return root, study, first


def test_pretraining_is_measured_once_and_fine_tuning_starts_from_it(transfer_db):
    root, study, first = transfer_db
    assert first.pretrained.source == "measured" and first.pretrained.energy_j > 0
    assert first.pretrained.path.is_file()
    with SqliteStore(root / "powertrain.db") as store:
        runs = store.runs("transfer")
        pretrain = [r for r in runs if r.stage == "pretrain"]
        assert (
            len(pretrain) == 1 and pretrain[0].outcome.total_energy_j == first.pretrained.energy_j
        )
        trained = [r for r in runs if r.stage == "train"]
        assert sorted({r.train["paradigm"] for r in trained}) == [
            "finetune",
            "head-only",
            "scratch",
        ]
        assert len(trained) == 6
        for run in trained:  # save_models: each run's weights, loadable as tensors only
            state = torch.load(
                model_path(root / "artifacts", "transfer", run.run_key),
                weights_only=True,
            )
            assert "head.weight" in state


def test_head_only_leaves_the_backbone_as_pretrained(transfer_db):
    root, study, first = transfer_db
    pretrained = torch.load(first.pretrained.path, weights_only=True)
    with SqliteStore(root / "powertrain.db") as store:
        head_only = next(r for r in store.runs("transfer") if r.train["paradigm"] == "head-only")
    final = torch.load(
        model_path(root / "artifacts", "transfer", head_only.run_key),
        weights_only=True,
    )
    assert torch.equal(final["features.1.weight"], pretrained["features.1.weight"])
    assert final["head.weight"].shape == (10, 32)


def test_rerunning_reuses_the_pretraining(transfer_db, tmp_path):
    root, study, _ = transfer_db
    with SqliteStore(root / "powertrain.db") as store:
        again = run_study(
            study, store, detection=detect_meters(["estimate"]), artifacts_dir=root / "artifacts"
        )
        assert again.ran == 0 and again.skipped == 6
        assert len([r for r in store.runs("transfer") if r.stage == "pretrain"]) == 1


def test_report_amortises_the_pretraining_and_finds_the_break_even(transfer_db, tmp_path):
    root, _, first = transfer_db
    with SqliteStore(root / "powertrain.db") as store:
        files = build_report(store, tmp_path)
    summary = json.loads(files.json.read_text())
    (transfer,) = summary["transfer"]
    assert transfer["pretrain_energy_j"] == pytest.approx(first.pretrained.energy_j)
    assert transfer["pretrain_energy_source"] == "measured"
    checked = 0
    for p in transfer["paradigms"]:
        if p["paradigm"] == "scratch" or p["saving_vs_scratch_j"] is None:
            continue
        checked += 1
        amortised = p["amortised_energy_per_task_j"]
        assert amortised["1"] == pytest.approx(
            p["energy_to_target_j"]["mean"] + first.pretrained.energy_j
        )
        assert amortised["2"] < amortised["1"]
        if (
            p["saving_vs_scratch_j"] > 0
        ):  # the break-even N is the first number of uses that pays off
            n = p["break_even_uses"]
            scratch = next(q for q in transfer["paradigms"] if q["paradigm"] == "scratch")
            scratch_j = scratch["energy_to_target_j"]["mean"]
            assert amortised[str(n)] < scratch_j
            if n > 1:
                assert amortised[str(n - 1)] >= scratch_j
    assert checked >= 1  # fine-tuning reached the target with every seed, so it was compared
    html = files.html.read_text()
    assert "Transfer: transfer" in html and "Pretraining energy" in html


def test_an_external_checkpoint_has_unknown_energy_unless_given(tmp_path, transfer_db):
    _, _, first = transfer_db
    study = transfer_study()
    data = json.loads(json.dumps(study.to_dict()))
    data["pretrain"] = {"checkpoint": str(first.pretrained.path)}
    data["grid"] = {"paradigm": ["scratch", "finetune"], "learning_rate": [0.05]}
    data["seeds"] = [0]
    with SqliteStore(tmp_path / "r.db") as store:
        result = run_study(
            parse_study(data),
            store,
            detection=detect_meters(["estimate"]),
            artifacts_dir=tmp_path / "a",
        )
        assert result.pretrained.energy_j is None and result.pretrained.source == "unknown"
        files = build_report(store, tmp_path / "out")
    (transfer,) = json.loads(files.json.read_text())["transfer"]
    assert transfer["pretrain_energy_j"] is None and "unknown" in transfer["note"]


def test_multitask_against_separate_models(tmp_path):
    study = parse_study(
        {
            "name": "multi",
            "task": {
                "dataset": "fashion-mnist",
                "dataset_options": SMALL_FMNIST,
                "model": "mlp",
                "model_options": MLP,
                "target_accuracy": 0.5,
                "eval_every_steps": 5,
                "max_epochs": 4,
            },
            "extra_tasks": [
                {
                    "name": "mnist",
                    "dataset": "mnist-5k",
                    "dataset_options": {"train_size": 400},
                    "target_accuracy": 0.5,
                }
            ],
            "train": {"learning_rate": 0.05, "momentum": 0.9, "batch_size": 32},
            "grid": {"paradigm": ["scratch", "multitask"]},
            "seeds": [0, 1],
        }
    )
    assert len(study.runs()) == 6  # per seed: two single-task baselines and one multitask run
    with SqliteStore(tmp_path / "r.db") as store:
        run_study(study, store, detection=detect_meters(["estimate"]), artifacts_dir=tmp_path / "a")
        runs = store.runs("multi")
        joint = [r for r in runs if r.train["paradigm"] == "multitask"]
        assert len(joint) == 2 and all(r.status == REACHED for r in runs)
        points = store.eval_points(joint[0].id)
        assert set(points[-1].task_accuracies) == {"fashion-mnist", "mnist"}
        assert all(v >= 0.5 for v in points[-1].task_accuracies.values())
        files = build_report(store, tmp_path / "out")
    summary = json.loads(files.json.read_text())
    # Setups are compared within a task: never a Fashion-MNIST run against an MNIST one.
    assert sorted(g["task_name"] for g in summary["groups"]) == [
        "all (multitask)",
        "fashion-mnist",
        "mnist",
    ]
    for g in summary["groups"]:
        assert len({s["setup"].get("task") for s in g["setups"]}) == 1
    (multi,) = summary["multitask"]
    (comparison,) = multi["comparisons"]
    assert comparison["seeds_compared"] == 2
    separate = (
        sum(r.outcome.energy_to_target_j for r in runs if r.train["paradigm"] == "scratch") / 2
    )
    assert comparison["separate_energy_to_targets_j"]["mean"] == pytest.approx(separate)
    assert comparison["saving_j"]["mean"] == pytest.approx(
        separate - comparison["multitask_energy_to_targets_j"]["mean"]
    )
    assert set(comparison["task_test_accuracy"]) == {"fashion-mnist", "mnist"}


def test_paradigms_need_their_sections():
    from powertrain.typed import ConfigError

    with pytest.raises(
        ConfigError, match="grid.paradigm: finetune and head-only need a `pretrain:` section"
    ):
        parse_study({**transfer_study().to_dict(), "pretrain": None})
    with pytest.raises(ConfigError, match="multitask needs `extra_tasks:`"):
        parse_study({**transfer_study().to_dict(), "grid": {"paradigm": ["multitask"]}})


def test_infer_measures_energy_per_1000_inputs_and_the_report_adds_the_whole_life(
    transfer_db, tmp_path
):
    from tests.cli_helpers import powertrain

    root, _, _ = transfer_db
    db = str(root / "powertrain.db")
    run = powertrain(
        "infer",
        "--study",
        "transfer",
        "--db",
        db,
        "--batch-sizes",
        "1,32",
        "--inputs",
        "64",
        "--meter",
        "estimate",
    )
    assert run.returncode == 0, run.stderr
    assert "ESTIMATE" in run.stdout
    with SqliteStore(root / "powertrain.db") as store:
        measured = {
            r.id: store.inference(r.id) for r in store.runs("transfer") if store.inference(r.id)
        }
        assert len(measured) == 3  # one run per setup
        for results in measured.values():
            assert [r["batch_size"] for r in results] == [1, 32]
            assert all(r["inputs"] == 64 and r["energy_per_1000_j"] >= 0 for r in results)
            assert all(len(r["energy_per_1000_j_repeats"]) == 3 for r in results)
        files = build_report(store, tmp_path, queries=10_000)
    (life,) = json.loads(files.json.read_text())["inference"]
    assert life["queries"] == 10_000 and len(life["setups"]) == 3
    for row in life["setups"]:
        assert row["whole_life_j"] == pytest.approx(
            row["training_j"] + row["inference_per_1000_j"] * 10
        )
    assert "Inference and the whole life" in files.html.read_text()


def test_infer_without_saved_models_says_what_to_do(tmp_path):
    from tests.cli_helpers import assert_one_clear_error, powertrain

    study = transfer_study()
    with SqliteStore(tmp_path / "r.db") as store:
        store.save_study("transfer", study.to_dict())
    assert_one_clear_error(
        powertrain("infer", "--study", "transfer", "--db", str(tmp_path / "r.db")),
        "save_models: true",
    )
    assert_one_clear_error(
        powertrain(
            "infer", "--study", "transfer", "--db", str(tmp_path / "r.db"), "--batch-sizes", "1,x"
        ),
        "--batch-sizes",
    )
