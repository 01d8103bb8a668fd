"""benchmarks/search_traces.py on a folder laid out like the development set: it finds the CSVs, takes
each target from the folder's README table (or --target), and names in one line a file it cannot use."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.curves import diverged_trace

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "search_traces.py"
README = """# Made-up traces

| file | workload | target (val_accuracy) |
|---|---|---|
| good.csv | made up | 0.85 |
| nocolumn.csv | made up | 0.85 |
| untargeted.csv | made up | n/a |
"""


def trace(accuracy_column: str = "val_accuracy") -> str:
    """Two batch sizes x two power limits x three seeds; the limit changes only the energy."""
    rows = [f"seed,epoch,energy_j,{accuracy_column},batch_size,power_limit_w"]
    for batch, epochs in ((64, 8), (256, 6)):
        for limit, joules in ((150, 900), (250, 1000)):
            for seed in (1, 2, 3):
                for epoch in range(1, 13):
                    accuracy = min(0.9, 0.9 * epoch / (epochs + seed % 2))
                    rows.append(f"{seed},{epoch},{epoch * joules},{accuracy:.3f},{batch},{limit}")
    return "\n".join(rows) + "\n"


def run(folder: Path, *extra: str, grids: bool = False) -> subprocess.CompletedProcess:
    """The script on ``folder``; the committed own grids replayed too only when ``grids``."""
    command = [sys.executable, str(SCRIPT), "--data", str(folder), "--repeats", "3"]
    command += ["--strategies", "auto", "--no-predict", *extra]
    if not grids:
        command += ["--grids-db", str(folder / "no-grids.db")]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_the_committed_own_grids_are_replayed_without_being_named(tmp_path):
    """A clean checkout replays the seventeen own grids the docs report (benchmarks/data), each labelled
    in- or out-of-sample, where before it said to run them first."""
    done = run(tmp_path, "--repeats", "1", grids=True)
    assert done.returncode == 0, done.stderr
    headed = [line.split(":")[0] for line in done.stdout.splitlines() if ": grid " in line]
    assert headed == list(bench().GRIDS)
    samples = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith("  auto ")]
    # rings, shapes-adamw, gru-sequences and attention-tokens: the first look's hedge was chosen on
    # every other grid
    assert samples.count("out-of-sample") == 4 and len(samples) == 17


def test_targets_from_the_readme_and_unusable_files_named_in_one_line(tmp_path):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "good.csv").write_text(trace())
    (tmp_path / "nocolumn.csv").write_text(trace("accuracy"))
    (tmp_path / "untargeted.csv").write_text(trace())
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    [good] = [line for line in lines if line.startswith("good: grid")]
    # 12 runs: the best setup's 3 seeds are a quarter of them, so no search can spend a tenth
    assert good.endswith(
        "(best setup's 3 seeds; above a tenth: no confirmed pick can meet the goal here)"
    )
    assert any(line.startswith("nocolumn.csv: skipped, no val_accuracy column") for line in lines)
    assert any(line.startswith("untargeted.csv: skipped, no target") for line in lines)
    assert "power_limit_w" in done.stdout  # priced as a cost axis: the file has the column


def test_a_target_given_on_the_command_line_sets_or_overrides_the_readmes(tmp_path):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "untargeted.csv").write_text(trace())
    done = run(tmp_path, "--target", "untargeted=0.8")
    assert done.returncode == 0, done.stderr
    assert any(line.startswith("untargeted: grid") for line in done.stdout.splitlines())
    bad = run(tmp_path, "--target", "untargeted=high")
    assert bad.returncode != 0 and "--target takes NAME=VALUE" in bad.stderr
    assert "Traceback" not in bad.stderr


def bench():
    """The script as a module (in this process: its folder reading needs no replay)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("search_traces", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ODD_README = """# Odd tables

| File | Target (val_accuracy) |
|:--|--:|
| a.csv | 0.6 (val_accuracy) |
| b.csv | 60 % |
| c.csv | ≥0.7 |
| `d.csv` | .5 |
| [e.csv](e.csv) | 0.55 |
| twice.csv | 0.6 |
| twice.csv | 0.7 |
| same.csv | 0.8 |
| same.csv | 0.8 |
| words.csv | n/a |

| file | notes |
|---|---|
| a.csv | 0.9 |
"""


def test_readme_targets_read_the_ways_people_write_them_and_name_a_file_given_two(tmp_path, capsys):
    """'0.6 (val_accuracy)', '60 %', '≥0.7' and a linked name were left out (the file then 'had no
    target'), a byte-order mark hid the table, and a file named twice took its last row's target."""
    (tmp_path / "README.md").write_bytes(
        b"\xef\xbb\xbf" + ODD_README.replace("\n", "\r\n").encode()
    )
    targets = bench().readme_targets(tmp_path)
    assert targets == {"a": 0.6, "b": 0.6, "c": 0.7, "d": 0.5, "e": 0.55, "same": 0.8}
    assert "twice.csv: the README gives it 0.6, 0.7; none taken" in capsys.readouterr().out


def test_a_readme_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path, capsys):
    (tmp_path / "README.md").write_bytes(b"\xff\xfe| file | target |\n")
    assert bench().readme_targets(tmp_path) == {}
    assert capsys.readouterr().out.startswith("README.md: not read")


def test_a_target_for_a_file_not_there_says_so_and_a_csv_suffix_is_the_files_name(tmp_path, capsys):
    (tmp_path / "good.csv").write_text(trace())
    assert bench().overrides(["good.csv=0.8", "gone=0.7"], tmp_path) == {"good": 0.8, "gone": 0.7}
    out = capsys.readouterr().out
    assert "--target gone: there is no gone.csv in" in out and "good" not in out
    with pytest.raises(SystemExit, match="--target takes NAME=VALUE"):
        bench().overrides(["=0.5"], tmp_path)


def test_a_csv_header_with_a_byte_order_mark_or_spaces_is_read_as_the_import_reads_it(
    tmp_path, capsys
):
    """The header was read without either: a file whose first column is val_accuracy was skipped
    for having none; a file that is not UTF-8 stopped the script with a traceback."""
    columns = "seed,epoch,energy_j,val_accuracy,batch_size,power_limit_w"
    moved = trace().replace(columns, " val_accuracy ,seed,epoch,energy_j,batch_size,power_limit_w")
    lines = [moved.splitlines()[0]]
    for row in trace().splitlines()[1:]:
        seed, epoch, energy, accuracy, *rest = row.split(",")
        lines.append(",".join([accuracy, seed, epoch, energy, *rest]))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    (tmp_path / "latin.csv").write_bytes("seed,épоch\n".encode("latin-1", "replace"))
    targets = {"bom": 0.85, "latin": 0.85}
    done = bench().import_folder(tmp_path, tmp_path / "t.db", targets, None, True)
    out = capsys.readouterr().out
    assert done == ["bom"], out
    assert "latin.csv: skipped, its header is not readable" in out


def test_a_study_with_no_energy_or_no_best_setup_is_one_line_not_a_traceback(tmp_path, capsys):
    """A target no setup reached with all its seeds took min() of nothing; every energy_j 0
    divided by zero (now refused by the import, named in one line)."""
    import argparse

    from powertrain.store.sqlite import SqliteStore

    script = bench()
    header, *rows = trace().splitlines()
    (tmp_path / "t.csv").write_text(trace())
    zero = [",".join([*r.split(",")[:2], "0", *r.split(",")[3:]]) for r in rows]
    (tmp_path / "zero.csv").write_text("\n".join([header, *zero]) + "\n")
    db = tmp_path / "t.db"
    assert script.import_folder(tmp_path, db, {"t": 0.99, "zero": 0.85}, None, False) == ["t"]
    assert "zero.csv: skipped, " in capsys.readouterr().out
    args = argparse.Namespace(strategies=["auto"], repeats=2, seed=0, no_predict=True)
    with SqliteStore(db) as store:
        script.report(store, "t", args)
    assert "t: skipped, no setup reached the target with all its seeds" in capsys.readouterr().out


def test_a_target_that_is_no_accuracy_and_a_study_not_in_the_folder_are_named(tmp_path, capsys):
    """A README's '60' reached the import as '--target must be an accuracy', naming an option the
    user never gave; --studies naming a file not there said nothing."""
    (tmp_path / "pct.csv").write_text(trace())
    done = bench().import_folder(tmp_path, tmp_path / "t.db", {"pct": 60.0}, ["pct", "gone"], True)
    out = capsys.readouterr().out
    assert done == [] and "pct.csv: skipped, target 60 is not an accuracy in (0, 1]" in out
    assert "--studies gone: there is no gone.csv in" in out


def test_a_floor_above_a_tenth_binds_confirmed_picks_not_zeus(tmp_path):
    # two batch sizes x 12 seeds: the best setup's 3 seeds are 11 % of the grid, but zeus runs one
    # seed of each setup (8 %) and names the best unconfirmed: it meets the goal, the others cannot
    rows = ["seed,epoch,energy_j,val_accuracy,batch_size"]
    for batch, epochs in ((64, 5), (256, 6)):
        for seed in range(1, 13):
            for epoch in range(1, 13):
                accuracy = min(0.9, 0.9 * epoch / epochs)
                rows.append(f"{seed},{epoch},{epoch * 1000},{accuracy:.3f},{batch}")
    (tmp_path / "two.csv").write_text("\n".join(rows) + "\n")
    done = run(tmp_path, "--target", "two=0.85", "--strategies", "auto", "zeus")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    [floor] = [line for line in lines if line.startswith("two: grid")]
    assert floor.endswith("above a tenth: no confirmed pick can meet the goal here)")
    [zeus] = [line.split() for line in lines if line.split()[:1] == ["zeus"]]
    [auto] = [line.split() for line in lines if line.split()[:1] == ["auto"]]
    assert zeus[4] == "100%" and auto[4] == "0%"  # the goal ("both"): met by zeus alone


def test_evaluations_every_k_epochs_replays_a_thinned_copy_named_so(tmp_path):
    # the same curves evaluated every 5th epoch (and each run's last): 12 -> 3 points per run
    spec = importlib.util.spec_from_file_location("search_traces", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    thinned = bench.thinned
    (tmp_path / "good.csv").write_text(trace())
    copy = thinned(tmp_path / "good.csv", 5, tmp_path)
    assert copy.name == "good-every5.csv"
    rows = copy.read_text().splitlines()
    assert len(rows) == 1 + 12 * 3 and rows[0] == trace().splitlines()[0]
    assert {row.split(",")[1] for row in rows[1:]} == {"5", "10", "12"}
    (tmp_path / "README.md").write_text(README)
    done = run(tmp_path, "--evaluations-every", "5", "--studies", "good")
    assert done.returncode == 0, done.stderr
    assert any(line.startswith("good-every5: grid") for line in done.stdout.splitlines())


def test_percentages_and_a_metric_where_lower_is_better_are_read_as_accuracies_and_said(tmp_path):
    # an F1 written as 84.0 and a word error rate falling to 40: each replayed, each conversion said
    accuracy = [line.split(",") for line in trace().splitlines()]
    header, rows = accuracy[0], accuracy[1:]
    column = header.index("val_accuracy")
    f1 = [header] + [r[:column] + [f"{100 * float(r[column]):.1f}"] + r[column + 1 :] for r in rows]
    wer = [header] + [
        r[:column] + [f"{100 - 100 * float(r[column]):.1f}"] + r[column + 1 :] for r in rows
    ]
    (tmp_path / "f1.csv").write_text("\n".join(",".join(r) for r in f1) + "\n")
    (tmp_path / "wer.csv").write_text("\n".join(",".join(r) for r in wer) + "\n")
    (tmp_path / "README.md").write_text(
        "| file | target |\n|---|---|\n| f1.csv | 85 (F1) |\n| wer.csv | 15 (WER, lower is better) |\n"
    )
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "f1.csv: val_accuracy up to 90: read as percentages (divided by 100)" in lines
    assert "wer.csv: val_accuracy up to 90: read as percentages (divided by 100)" in lines
    assert any(line.startswith("wer.csv: val_accuracy falls in 12 of 12 runs") for line in lines)
    f1_grid = next(line for line in lines if line.startswith("f1: grid"))
    wer_grid = next(line for line in lines if line.startswith("wer: grid"))
    assert f1_grid == wer_grid.replace("wer:", "f1:")  # the same runs, the same target (0.85)


def test_a_run_whose_trace_stops_at_the_target_is_evaluated_at_the_next_kth_epoch(tmp_path):
    # a trace that records a run up to where it first reached the target (as most of the Zeus
    # traces' ImageNet runs): evaluated every 5 epochs, that run trains on to epoch 10 to find it
    spec = importlib.util.spec_from_file_location("search_traces", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = ["seed,epoch,energy_j,val_accuracy,batch_size"]
    rows += [f"1,{e},{100 * e},{min(0.9, 0.1 * e):.2f},8" for e in range(1, 8)]  # 0.7 at epoch 7
    rows += [f"2,{e},{100 * e},{min(0.9, 0.05 * e):.2f},8" for e in range(1, 13)]  # 0.6 at 12
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    copy = bench.thinned(tmp_path / "t.csv", 5, tmp_path, target=0.7)
    kept = [row.split(",") for row in copy.read_text().splitlines()[1:]]
    assert [(r[0], r[1], r[2], r[3]) for r in kept] == [
        ("1", "5", "500", "0.50"),
        ("1", "10", "1000", "0.70"),  # found at the 2nd evaluation, energy as linear in epochs
        ("2", "5", "500", "0.25"),
        ("2", "10", "1000", "0.50"),
        ("2", "12", "1200", "0.60"),  # ended at its limit short of the target: its last, as it is
    ]


def test_an_accuracy_whose_runs_mostly_diverge_is_replayed_as_it_is(tmp_path):
    # falling in 6 of 8 runs, but each starts below the target: an accuracy, not flipped
    spec = importlib.util.spec_from_file_location("search_traces", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (tmp_path / "d.csv").write_text(diverged_trace())
    out = tmp_path / "out"
    out.mkdir()
    assert bench.as_accuracy(tmp_path / "d.csv", 0.75, out) == (tmp_path / "d.csv", 0.75, [])


def test_an_evaluation_every_zero_epochs_is_refused_in_one_line(tmp_path):
    # it was taken for 1 (every evaluation) without a word
    done = run(tmp_path, "--evaluations-every", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--evaluations-every takes a whole number of epochs >= 1, got 0" in done.stderr
