"""Data flows one way (study -> plan -> executor -> loop -> store -> analysis -> report), and the
store sits below the study (it speaks of runs, points and outcomes): a module
never imports one of a later layer, lazily inside a function or not (``docs/architecture.md``)."""

from __future__ import annotations

import ast
from pathlib import Path

import powertrain

ROOT = Path(powertrain.__file__).parent

# Each room's layer, lowest first. A module may import its own layer and the layers below it.
LAYERS = [
    ["errors", "inputs", "typed", "registry"],  # errors; bounded input; typed config; registries
    [
        "meters",
        "monitor",
        "trace",
        "measure",
        "command",
        "hardware",
        "power_limit",
        "records",
    ],  # measuring, and what a run records
    ["data", "models", "train"],  # the loop and what it trains
    ["store"],  # results store and its contract: runs, points, outcomes (below the study)
    ["study"],  # study, plan, the one run body, executors
    [
        "testing",
        "inference",
        "tracking",
        "integrations",
        "carbon",
        "analysis",
        "search",
    ],  # reading the store
    ["report", "render"],  # rendering an analysis
    [
        "console",
        "progress",
        "starter",
        "logs",
        "cli",  # the package: one module per group of commands
        "cli_params",
        "cli_search",
        "__init__",
        "__main__",
    ],  # the command line, and the public surface
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}
# Imports still to be turned round by the helper that owns the module (tolerated, not required).
KNOWN: set[str] = set()


def room(module: str) -> str:
    """``powertrain.study.plan`` -> ``study``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
    return [(m, line) for m, line in found if m.startswith("powertrain")]


def type_checking_lines(path: Path) -> set[int]:
    """Lines under ``if TYPE_CHECKING:`` (annotations only: not a dependency at run time)."""
    lines = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def test_every_room_has_a_layer():
    rooms = {p.stem for p in ROOT.glob("*.py")} | {
        p.parent.name for p in ROOT.glob("*/__init__.py")
    }
    assert rooms - set(RANK) == set(), "give every new room a layer in LAYERS"


def test_no_module_imports_a_later_stage():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        module = "powertrain." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        typing_only = type_checking_lines(path)
        for imported, line in imports(path):
            if line in typing_only or imported == "powertrain":  # the package: its version
                continue
            if RANK[room(imported)] > RANK[room(module)]:
                wrong.append(f"{module} imports {imported}")
    assert set(wrong) - KNOWN == set()


def test_the_named_boundaries():
    """The ones issues 9 and 18 name: the loop is free of the study, the store of the study (so the
    study types its store), of analysis and rendering, the meters of training."""
    assert RANK["train"] < RANK["store"] < RANK["study"] < RANK["analysis"] < RANK["report"]
    assert RANK["meters"] < RANK["train"]
