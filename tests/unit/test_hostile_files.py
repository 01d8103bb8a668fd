"""Hostile and damaged files: refused with one message, in bounded time and memory."""

from __future__ import annotations

import json
import re
import resource
import time

import pytest
import yaml

from powertrain.carbon.intensity import csv_intensity
from powertrain.errors import PowertrainError
from powertrain.inputs import check_writable_dir, load_yaml, read_text, same_file
from powertrain.study.config import load_study, parse_study
from powertrain.trace import read_trace
from powertrain.typed import ConfigError
from tests.unit.test_study_config import study

# The 525-byte file that grew the store to 66 MB: nine levels of nine aliases each.
ALIAS_BOMB = "name: bomb\n" + "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else '"lol"'] * 9) + "]\n" for i in range(9)
)


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_the_alias_bomb_is_refused_fast_and_small(tmp_path):
    path = write(tmp_path, "bomb.yaml", ALIAS_BOMB)
    assert path.stat().st_size < 600
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start_s = time.monotonic()
    with pytest.raises(ConfigError, match="aliases expand to more than"):
        load_study(path)
    assert time.monotonic() - start_s < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb < 50_000


@pytest.mark.parametrize(
    "text",
    [
        "name: " + "[" * 100_000 + "]" * 100_000,  # flow
        "- " * 100_000 + "1",  # block sequences on one line
        "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v: 1\n",  # indentation
    ],
    ids=["flow", "dashes", "indent"],
)
def test_deep_nesting_is_refused_in_bounded_time(tmp_path, text):
    start_s = time.monotonic()
    with pytest.raises(ConfigError, match="nested more than"):
        load_study(write(tmp_path, "deep.yaml", text))
    assert time.monotonic() - start_s < 2.0


def test_anchors_used_reasonably_still_load():
    assert load_yaml("a: &x {b: 1}\nc: *x\n", "f", "study file") == {"a": {"b": 1}, "c": {"b": 1}}


def test_files_that_are_not_utf8_are_refused_naming_the_line(tmp_path):
    latin1 = "name: caf\xe9\n".encode("latin-1")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 on line 1\)"):
        load_study(write(tmp_path, "s.yaml", latin1))
    with pytest.raises(PowertrainError, match="not UTF-8"):
        csv_intensity(write(tmp_path, "i.csv", b"timestamp,g_per_kwh\n\xff\xfe,1\n"))
    header = json.dumps({"format": "powertrain-trace", "version": 1, "components": {"cpu": {}}})
    with pytest.raises(PowertrainError, match="not UTF-8"):
        read_trace(write(tmp_path, "t.trace", header.encode() + b"\n\xc3\x28\n"))
    assert read_text(write(tmp_path, "bom.txt", b"\xef\xbb\xbfhello"), "file") == "hello"


def test_oversized_and_folder_inputs(tmp_path):
    with pytest.raises(ConfigError, match="larger than"):
        load_study(write(tmp_path, "big.yaml", "# " + "x" * (1 << 20) + "\n"))
    with pytest.raises(ConfigError, match="is a folder"):
        load_study(tmp_path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"meters": {"cpu_tdp_w": float("nan")}}, "meters.cpu_tdp_w: expected a finite number"),
        ({"meters": {"interval_s": float("inf")}}, "meters.interval_s: expected a finite number"),
        ({"meters": {"cpu_tdp_w": -5}}, "meters.cpu_tdp_w: must be positive (W)"),
        ({"task.target_accuracy": 10**400}, "task.target_accuracy: expected a finite number"),
        ({"seeds": [2**63]}, "seeds[0]: 9223372036854775808 is too large"),
        ({"threads": 100_000}, "threads: at most"),
    ],
    ids=["tdp-nan", "interval-inf", "tdp-negative", "huge-float", "seed-int64", "threads"],
)
def test_study_numbers_that_would_fail_later_are_refused(tmp_path, override, message):
    path = write(tmp_path, "s.yaml", yaml.safe_dump(study(**override)))
    with pytest.raises(ConfigError) as info:
        load_study(path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [({"threads": 100_000}, "threads: at most"), ({"meters": {"cpu_tdp_w": -5}}, "(W)")],
)
def test_parse_study_from_python_checks_this_machines_limits_too(override, message):
    """The limits are part of validation, not of reading a file: a Python user gets them as well."""
    with pytest.raises(ConfigError) as info:
        parse_study(study(**override))
    assert message in str(info.value)


def test_yaml_nan_and_inf_spellings_are_refused(tmp_path):
    text = yaml.safe_dump(study()) + "meters: {cpu_tdp_w: .nan, interval_s: .inf}\n"
    with pytest.raises(ConfigError, match="finite"):
        load_study(write(tmp_path, "s.yaml", text))


def _trace(tmp_path, *samples: str):
    header = json.dumps({"format": "powertrain-trace", "version": 1, "components": {"cpu": {}}})
    return write(
        tmp_path, "t.trace", "\n".join([header, *samples, '{"t_s": 9, "energy_j": {"cpu": 99}}'])
    )


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (['{"t_s": 0, "energy_j": {"cpu": NaN}}'], "NaN is not a number"),
        (['{"t_s": 0, "energy_j": {"cpu": Infinity}}'], "Infinity is not a number"),
        (['{"t_s": 0, "energy_j": {"cpu": 1e999}}'], "not a finite number"),
        (['{"t_s": 0, "energy_j": {"cpu": 5}}', '{"t_s": 1, "energy_j": {"cpu": 2}}'], "goes down"),
        (['{"t_s": 2, "energy_j": {"cpu": 1}}', '{"t_s": 1, "energy_j": {"cpu": 2}}'], "time goes"),
        (["[" * 100_000 + "]" * 100_000], "nested more than"),
    ],
    ids=["nan", "infinity", "overflow", "decreasing", "time-back", "deep"],
)
def test_replay_traces_of_impossible_samples_are_refused(tmp_path, samples, message):
    with pytest.raises(PowertrainError, match=message):
        read_trace(_trace(tmp_path, *samples))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e9"])
def test_intensity_csv_rows_must_be_finite_and_plausible(tmp_path, value):
    path = write(tmp_path, "i.csv", f"timestamp,g_per_kwh\n2026-01-01T00:00:00Z,{value}\n")
    with pytest.raises(PowertrainError, match="line 2"):
        csv_intensity(path)


def test_writable_dir_checker(tmp_path):
    assert check_writable_dir(tmp_path / "new" / "report").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(PowertrainError, match="is a file"):
        check_writable_dir(tmp_path / "file")
    with pytest.raises(PowertrainError, match="cannot make"):
        check_writable_dir(tmp_path / "file" / "below")


def test_same_file_sees_hard_links_and_symlinks(tmp_path):
    a = write(tmp_path, "a", "x")
    (tmp_path / "hard").hardlink_to(a)
    (tmp_path / "soft").symlink_to(a)
    assert same_file(a, tmp_path / "hard") and same_file(tmp_path / "soft", a)
    assert not same_file(a, tmp_path / "absent")


@pytest.mark.parametrize(
    "char", ["\x00", "\x07", "\x1b", "\ufffe"], ids=["nul", "bell", "esc", "fffe"]
)
@pytest.mark.parametrize("where", ["value", "key", "comment"])
def test_control_characters_in_yaml_are_one_message_naming_the_line(tmp_path, char, where):
    line = {"value": f"name: a{char}b", "key": f"na{char}me: a", "comment": f"# {char}"}[where]
    text = yaml.safe_dump(study()) + "\n" + line + "\n"
    with pytest.raises(PowertrainError, match=r"not YAML text: character .* on line \d+"):
        load_study(write(tmp_path, "s.yaml", text))
    with pytest.raises(PowertrainError, match="not YAML text"):
        load_yaml(line, "f.yaml", "settings file")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ('"1"', r"version of '1' \(str\); a version is a whole number"),
        ("1.0", r"version of 1.0 \(float\)"),
        ("true", r"version of True \(bool\)"),
        ("null", r"version of None"),
        ("2", "a trace of version 2; this powertrain reads version 1"),
    ],
)
def test_a_trace_version_that_is_not_ours_is_named_as_it_is(tmp_path, version, message):
    header = (
        f'{{"format": "powertrain-trace", "version": {version}, "components": {{"cpu": {{}}}}}}'
    )
    path = write(tmp_path, "t.trace", header + '\n{"t_s": 0, "energy_j": {"cpu": 1}}\n')
    with pytest.raises(PowertrainError, match=message):
        read_trace(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: a\nseeds: [0]\nname: b\n", "key 'name' twice (lines 1 and 3)"),
        ("task: {model: mlp, model: small-cnn}\n", "key 'model' twice on line 1"),
        (
            "grid:\n  batch_size: [16]\n  batch_size: [64]\n",
            "key 'batch_size' twice (lines 2 and 3)",
        ),
    ],
)
def test_a_key_written_twice_is_refused_naming_both_lines(text, message):
    # PyYAML keeps the last of two equal keys: a study whose name: came twice ran silently under
    # the second, and a grid axis written twice ran only its second list
    with pytest.raises(PowertrainError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_yaml(text, "s.yaml", "study file")


def test_a_merge_key_then_a_key_of_its_own_is_no_key_twice():
    text = "base: &b {model: mlp, max_epochs: 3}\ntask:\n  <<: *b\n  max_epochs: 5\n"
    assert load_yaml(text, "s.yaml", "study file")["task"] == {"model": "mlp", "max_epochs": 5}


def test_numbers_with_an_exponent_and_no_point_are_numbers(tmp_path):
    # YAML 1.1 (PyYAML) reads 3e-3 as text: a grid of learning_rate: [3e-3] was refused
    # ("expected a number, got '3e-3'") and beta: 15e-1 under search: too
    text = "a: [3e-3, 1E5, -2e+2, 7.5e-1, 1_000e-3]\nb: 1e400\nc: '3e-3'\nd: e3\n"
    loaded = load_yaml(text, "s.yaml", "study file")
    assert loaded["a"] == [0.003, 100000.0, -200.0, 0.75, 1.0]
    assert loaded["b"] == float("inf")  # then refused where a finite number is needed
    assert loaded["c"] == "3e-3" and loaded["d"] == "e3"  # quoted, or no number: text
    grid = {**study()["grid"], "learning_rate": [3e-3, 3e-2]}
    body = (
        yaml.safe_dump({**study(), "grid": grid}).replace("0.003", "3e-3").replace("0.03", "3e-2")
    )
    assert "3e-3" in body
    assert load_study(write(tmp_path, "s.yaml", body)).grid["learning_rate"] == [0.003, 0.03]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\nb", "name: holds the control character U+000A"),
        ("tab\there", "name: holds the control character U+0009"),
        ("x" * 300, "name: is 300 characters long"),
    ],
    ids=["newline", "tab", "long"],
)
def test_a_study_name_that_is_not_one_line_of_text_is_refused(tmp_path, name, message):
    # name: "a\nb" ran as a study whose every message, table and report title broke in two
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_study(write(tmp_path, "s.yaml", yaml.safe_dump(study(name=name))))


def test_a_study_name_in_any_script_is_taken():
    assert parse_study(study(name="étude-電力 ⚡")).name == "étude-電力 ⚡"


def test_an_empty_study_file_or_a_store_given_as_one_says_what_it_is(tmp_path):
    # an empty file said "the file: expected a mapping of keys, got None"; a results store given
    # where the study file goes (run runs/powertrain.db) said "not UTF-8 text (byte 0xf8 ...)"
    from powertrain.store.sqlite import SqliteStore

    with pytest.raises(ConfigError, match="is empty; a study file needs name, task and grid"):
        load_study(write(tmp_path, "s.yaml", "# nothing yet\n"))
    SqliteStore(tmp_path / "r.db").close()
    with pytest.raises(ConfigError, match="r.db is a results store, not a study file"):
        load_study(tmp_path / "r.db")
