"""Runs recorded by track() are runs like `powertrain run`'s: ls, report, compare and carbon read them
unchanged (a real plain-PyTorch loop on digits, estimate meters, SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys

import torch
from torch.nn import functional as F

from powertrain import build_report, open_store, track
from powertrain.analysis.compare import compare
from powertrain.records import REACHED
from tests.cli_helpers import powertrain
from tests.integration.digits_task import digits, mlp


def train(study: str, lr: float, seed: int, db) -> None:
    xt, yt, xv, yv = digits()
    model = mlp(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    with track(study=study, setup={"learning_rate": lr}, seed=seed, target=0.9, db=db) as run:
        for epoch in range(30):
            for i in range(0, len(xt), 32):
                loss = F.cross_entropy(model(xt[i : i + 32]), yt[i : i + 32])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                acc = (model(xv).argmax(1) == yv).float().mean().item()
            if run.evaluate(val_accuracy=acc, step=(epoch + 1) * 40, train_loss=loss.item()):
                break
        with torch.no_grad():
            run.test((model(xv).argmax(1) == yv).float().mean().item())


def test_tracked_runs_report_compare_and_list_like_study_runs(tmp_path):
    db = tmp_path / "runs.db"
    for study in ("mine", "theirs"):
        for lr in (0.01, 0.05):
            train(study, lr, 0, db)

    with open_store(db) as store:
        assert [r.status for r in store.runs("mine")] == [REACHED, REACHED]
        files = build_report(store, tmp_path / "report", study="mine")
        [group] = files.groups
        assert group.best is not None and group.waste_ratio_max >= 1
        assert group.task["target_accuracy"] == 0.9 and group.estimated
        assert len(compare(store, "mine", "theirs").rows) == 2
    assert "mine" in files.html.read_text()

    listed = powertrain("ls", "--db", str(db), "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 4
    carbon = powertrain("carbon", "--db", str(db), "--intensity", "250", "--json")
    assert carbon.returncode == 0, carbon.stderr


def test_importing_powertrain_and_track_loads_no_framework():
    code = (
        "import sys, powertrain, powertrain.tracking, powertrain.integrations\n"
        "powertrain.track\n"
        "loaded = [m for m in ('lightning', 'transformers', 'keras') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
