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
    [
        "errors",
        "inputs",
        "typed",
        "registry",
        "entry_points",
    ],  # errors; bounded input; typed config; registries (and installed packages' entry points)
    [
        "meters",
        "monitor",
        "trace",
        "measure",
        "command",
        "told",  # the line a measured command prints for powertrain to read
        "leftovers",
        "marked",  # a measured command's processes, found by their environment
        "process_group",  # launchers in a measured command (torchrun's signals)
        "hardware",
        "slurm",  # the SLURM job a run is in: its share (--shard auto), its job and node
        "power_limit",
        "records",
    ],  # measuring, and what a run records
    ["data", "models", "train"],  # the loop and what it trains
    ["store"],  # results store and its contract: runs, points, outcomes (below the study)
    [
        "loggers",
        "metrics",
    ],  # copies of the store's figures for MLflow, TensorBoard, W&B, Prometheus
    ["study"],  # study, plan, the one run body, executors
    [
        "testing",
        "inference",
        "tracking",
        "integrations",
        "carbon",
        "analysis",
        "search",
        "pruning",  # a sweep tool's pruner, deciding with the search's own rules
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


# -- between files: no import circle, no private name taken from another module ----------------------


def module_files() -> dict[str, Path]:
    """``powertrain.study.plan`` -> its file, for every module of the package."""
    return {
        ".".join(("powertrain", *path.relative_to(ROOT).with_suffix("").parts)): path
        for path in sorted(ROOT.rglob("*.py"))
    }


def resolve(name: str, files: dict[str, Path]) -> str | None:
    """The module a dotted name lives in (``powertrain.records.Status`` -> ``powertrain.records``);
    None for a package (its ``__init__`` only hands names on) or a name outside the package."""
    while name.startswith("powertrain."):
        if name in files and files[name].name != "__init__.py":
            return name
        if name + ".__init__" in files:
            return None
        name = name.rpartition(".")[0]
    return None


def imported_names(module: str, path: Path) -> list[tuple[str, str | None, int]]:
    """Every (dotted target, name imported or None, line) of the module: at its top, inside
    functions, under ``if TYPE_CHECKING:``, relative ones made absolute."""
    package = module.split(".")[: -1 if path.name != "__init__.py" else None]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[: len(package) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                found.append((f"{base}.{alias.name}", alias.name, node.lineno))
    return found


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Which module imports which (package ``__init__`` files are no members), and every private
    name a module takes from another."""
    files = module_files()
    edges: dict[str, set[str]] = {m: set() for m, p in files.items() if p.name != "__init__.py"}
    private = []
    for module in edges:
        for target, name, line in imported_names(module, files[module]):
            owner = resolve(target, files)
            if owner is None or owner == module:
                continue
            edges[module].add(owner)
            taken = name if owner != target else target.rpartition(".")[2]
            if taken.startswith("_") and not taken.startswith("__"):
                private.append(f"{module}:{line} imports {taken} from {owner}")
    return edges, private


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_import_circle_between_files():
    """A circle between modules, lazy imports and ``TYPE_CHECKING`` ones included: move what two
    modules share to where it belongs (below both), never hide the import."""
    edges, _ = import_graph()
    assert [" <-> ".join(group) for group in circles(edges)] == []


def test_no_private_name_is_imported_from_another_module():
    """A ``_name`` is its module's own: another module that needs it needs a public name."""
    _, private = import_graph()
    assert private == []


def test_the_circle_finder_finds_circles_and_private_names():
    """The checks can fail: a made-up graph with a circle of three and a lazy import back."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}}
    assert sorted(circles(edges)) == [["a", "b", "c"], ["e", "f"]]
    assert circles({"a": {"b"}, "b": set()}) == []
    files = module_files()
    assert resolve("powertrain.records.Verdict", files) == "powertrain.records"
    assert resolve("powertrain.search", files) is None  # a package hands names on
    taken = imported_names("powertrain.search.live", files["powertrain.search.live"])
    assert ("powertrain.search.simulate.curve_of", "curve_of") in [(t, n) for t, n, _ in taken]
