"""User code named in a study: resolved beside the study, checked before anything trains, with one
message that says what is wrong and what the contract asks for."""

from __future__ import annotations

import pytest
import yaml

from powertrain.data.registry import load_dataset
from powertrain.errors import PowertrainError
from powertrain.models.registry import build_model, probe_model
from powertrain.study.config import load_study, parse_study
from powertrain.typed import ConfigError
from tests.fakes.user_code import user_study, write_user_code


def write_study(folder, study, name="study.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(study))
    return path


def test_files_beside_the_study_are_found_wherever_it_is_run_from(tmp_path, monkeypatch):
    write_user_code(tmp_path / "proj")
    path = write_study(tmp_path / "proj", user_study())
    monkeypatch.chdir(tmp_path)
    study = load_study(path)
    assert study.task.model == f"{(tmp_path / 'proj' / 'models.py').resolve()}:build"
    data = load_dataset(study.task.dataset)
    assert data.input_shape == (1, 4, 4) and len(data.train) == 240
    model = build_model(study.task.model, data.input_shape, 3, hidden=4)
    probe_model(study.task.model, {"hidden": 4}, data, data.tasks["blob"])
    assert model[1].out_features == 4


def test_an_importable_module_function_is_accepted(tmp_path, monkeypatch):
    write_user_code(tmp_path / "pkg_here")
    (tmp_path / "pkg_here" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    study = parse_study(user_study(dataset="pkg_here.data:load", model="pkg_here.models:build"))
    assert study.task.model == "pkg_here.models:build"


def test_a_file_outside_the_study_folder_is_refused(tmp_path):
    write_user_code(tmp_path)
    (tmp_path / "study").mkdir()
    path = write_study(tmp_path / "study", user_study(model="../models.py:build"))
    with pytest.raises(
        ConfigError, match=r"task.model: \.\./models.py is outside the study's folder"
    ):
        load_study(path)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"model": "./absent.py:build"}, "task.model: model '.*absent.py:build': no file"),
        (
            {"model": "./models.py:nothing"},
            "'nothing' is not there in .*models.py. A model function",
        ),
        ({"dataset": "no_such_pkg.data:load"}, "module 'no_such_pkg.data' does not import"),
        ({"model": "./broken.py:build"}, "broken.py does not import: ModuleNotFoundError"),
        ({"model": "./models.py:"}, "is not `module:function`"),
        ({"model_options": {"depth": 2}}, "task.model_options.depth: not an option of"),
        (
            {"model_options": {"hidden": "abc"}},
            "task.model_options.hidden: expected a whole number",
        ),
        ({"dataset_options": {"size": 5.5}}, "task.dataset_options.size: expected a whole number"),
    ],
)
def test_bad_user_code_is_one_message_at_validation(tmp_path, task, message):
    write_user_code(tmp_path)
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    path = write_study(tmp_path, user_study(**task))
    with pytest.raises(ConfigError, match=message):
        load_study(path)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("a_tuple", "returned tuple, not a powertrain.data.Dataset"),
        ("wrong_shape", r"inputs of shape \(1, 4, 4\), not input_shape \(1, 8, 8\)"),
        ("bad_labels", "label outside 0 ... 2"),
    ],
)
def test_a_data_set_function_that_returns_the_wrong_thing(tmp_path, function, message):
    write_user_code(tmp_path)
    with pytest.raises(PowertrainError, match=message) as info:
        load_dataset(f"{tmp_path}/data.py:{function}")
    assert "returns powertrain.data.Dataset(name, input_shape, tasks" in str(info.value)


def test_a_model_that_does_not_fit_the_task_is_found_with_one_batch(tmp_path):
    write_user_code(tmp_path)
    data = load_dataset(f"{tmp_path}/data.py:load")
    task = data.tasks["blob"]
    with pytest.raises(PowertrainError, match="fails on a batch of 2 inputs of shape"):
        probe_model(f"{tmp_path}/models.py:wrong_outputs", {}, data, task)
    with pytest.raises(PowertrainError, match="returned str, not a torch.nn.Module"):
        probe_model(f"{tmp_path}/models.py:not_a_module", {}, data, task)


def test_a_streamed_data_set_is_checked_with_its_first_items(tmp_path):
    write_user_code(tmp_path)
    data = load_dataset(f"{tmp_path}/data.py:streamed", size=30)
    assert type(data.train).__name__ == "StreamSplit" and len(data.train) == 30
    batch = next(iter(data.train.batches(8)))
    assert batch.x.shape == (8, 1, 4, 4) and batch.y["blob"].dtype.is_floating_point is False


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"dataset_options": {"train_size": "abc"}}, "train_size: expected a whole number"),
        ({"dataset_options": {"train_size": 500.5}}, "train_size: expected a whole number"),
        ({"dataset_options": {"test_size": -5}}, "test_size: must be at least 1, got -5"),
        ({"dataset_options": {"val_size": 1.5}}, "val_size: a fraction must be in"),
        ({"model_options": {"hidden": "abc"}}, "model_options.hidden: expected a list"),
        ({"model": "resnet18", "model_options": {"width": 0}}, "width: must be above 0"),
        ({"model": "resnet18", "model_options": {"stem": "vit"}}, "stem: expected one of"),
    ],
)
def test_options_of_built_ins_are_typed_and_in_range(override, message):
    study = user_study(**{"dataset": "digits", "model": "mlp", **override})
    with pytest.raises(ConfigError, match=f"task.*{message}"):
        parse_study(study)


@pytest.mark.parametrize("option", ["step", "window"])
def test_pamap2_windows_and_steps_must_be_positive(option):
    study = user_study(dataset="pamap2", model="sensor-cnn", dataset_options={option: 0})
    with pytest.raises(ConfigError, match=f"task.dataset_options.{option}: must be at least 1"):
        parse_study(study)


def test_options_given_in_python_are_checked_too():
    with pytest.raises(PowertrainError, match="test_size: must be at least 1"):
        load_dataset("digits", test_size=-5)
    with pytest.raises(PowertrainError, match="channels: expected a whole number"):
        build_model("small-cnn", (1, 28, 28), 10, channels="many")


def test_options_given_in_python_may_be_tuples():
    assert build_model("mlp", (1, 8, 8), 10, hidden=(8, 4)).head.in_features == 4
