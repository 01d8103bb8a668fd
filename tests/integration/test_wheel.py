"""What a pip user gets: the sdist and the wheel built from this checkout (`python -m build`), the wheel
installed into a fresh virtualenv that sees nothing of this one (no --system-site-packages), and the
command line answering there, down to a small study run and reported. torch comes from its pinned
release (a local file where pip has one)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import yaml

import powertrain

ROOT = Path(__file__).parents[2]
TINY_DEMO = {  # two setups of two seeds: enough for the report to replay the search strategies
    "name": "tiny",
    "task": {
        "dataset": "fashion-mnist",
        "dataset_options": {"train_size": 1000, "val_size": 300, "test_size": 300},
        "model": "mlp",
        "model_options": {"hidden": [32]},
        "target_accuracy": 0.7,
        "evals_per_epoch": 8,
        "max_epochs": 4,
    },
    "grid": {"learning_rate": [0.03, 0.1]},
    "seeds": [0, 1],
    "threads": 1,
    "meters": {"backends": ["estimate"]},
}


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, (
        f"{' '.join(command)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )
    return done


def test_the_built_wheel_installs_in_a_clean_virtualenv_and_its_commands_answer(tmp_path):
    dist = tmp_path / "dist"
    # sdist first, then the wheel from it: what ships is what the sdist holds, not this folder
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT))
    (wheel,) = dist.glob("powertrain-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"powertrain/studies/demo.yaml", "powertrain/tables/cpu_power.csv"} <= names
    assert not any(name.startswith(("tests/", "docs/")) for name in names)
    assert_the_project_page_has_no_link_that_leads_nowhere(wheel)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = env_dir / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    torch = f"torch=={powertrain_torch_version()}"
    run(str(python), "-m", "pip", "install", "-q", torch, str(wheel), env=clean)

    where = run(str(python), "-c", "import powertrain; print(powertrain.__file__)", env=clean)
    assert where.stdout.strip().startswith(str(env_dir))  # the installed copy, not this checkout
    cli = str(env_dir / "bin" / "powertrain")
    assert "demo" in run(cli, "--help", env=clean).stdout
    assert "Fashion-MNIST" in run(cli, "demo", "--help", env=clean).stdout
    check = (
        "from powertrain.cli.demo import demo_study_path; from powertrain import load_study; "
        "s = load_study(demo_study_path()); print(s.name, len(s.setups()))"
    )
    assert run(str(python), "-c", check, env=clean).stdout.split() == ["demo", "6"]
    # a small study of the demo's kind, run and reported with nothing but the package's own
    # dependencies (the report replays the search strategies: that once needed an undeclared scipy)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY_DEMO))
    db = str(tmp_path / "tiny.db")
    run(cli, "-q", "run", "tiny.yaml", "--db", db, env=clean, cwd=tmp_path)
    run(cli, "report", "--db", db, "--out", "report", env=clean, cwd=tmp_path)
    assert (tmp_path / "report" / "report.html").is_file()
    # what pip reads: the Python range CI tests, the version, the extras a user can ask for
    read = (
        "from importlib.metadata import metadata; m = metadata('powertrain'); "
        "print(m['Version'], m['Requires-Python'], *m.get_all('Provides-Extra'))"
    )
    version, python_range, *extras = run(str(python), "-c", read, env=clean).stdout.split()
    assert version == powertrain.__version__ and python_range == ">=3.11"
    assert {"data", "lightning", "hf", "keras", "ray", "optuna", "docs"} <= set(extras)


def assert_the_project_page_has_no_link_that_leads_nowhere(wheel: Path) -> None:
    """PyPI shows the long description: README.md's relative links resolve nowhere there."""
    import re

    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    headers, _, description = metadata.partition("\n\n")
    assert "Description-Content-Type: text/markdown" in headers
    assert "energy-aware search" in description and "make demo" in description
    targets = re.findall(r"\]\(([^)\s]+)\)", description)
    assert all(t.startswith("https://") for t in targets), targets


def powertrain_torch_version() -> str:
    """This environment's torch release, without its local build tag (2.13.0+cpu -> 2.13.0)."""
    import torch

    return torch.__version__.split("+")[0]
