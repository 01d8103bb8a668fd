"""Registries by name (data sets, models, meters), user code named in a study, and typed options.

One ``Registry`` per kind. Built-ins register through it (by call, or as a decorator); third-party
packages through an entry-point group (``powertrain.datasets``, ``powertrain.models``,
``powertrain.meters``), read lazily the first time a name is not found or the names are listed. Lightning's
accelerator registry is the model: a duplicate name is refused, an unknown one is told the names there are.

A study may also name user code instead of a registered name: ``my_pkg.models:build`` (an importable
``module:function``) or ``./models.py:build`` (a file in the study's folder).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from powertrain.errors import PowertrainError


class Registry:
    """Objects by name, for one ``kind`` ("data set", "model", "meter").

    ``register("name", obj)`` or ``@register("name")``; ``obj`` may be a ``"module:attribute"`` string,
    imported on first use (so registering costs no import). ``get(name)`` returns the object.
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, Any] = {}
        self._origins: dict[str, str] = {}
        self._entry_points_read = group is None

    def register(self, name: str, obj: Any = None, *, origin: str = "powertrain"):
        """Add ``obj`` under ``name``; without ``obj``, a decorator. A name taken already is refused."""
        if obj is None:
            return lambda target: self.register(name, target, origin=origin)
        if name in self._entries:
            raise PowertrainError(
                f"{self.kind} {name!r} is registered already (by {self._origins[name]}); "
                f"choose another name for the one from {origin}"
            )
        self._entries[name] = obj
        self._origins[name] = origin
        return obj

    def names(self) -> list[str]:
        self._read_entry_points()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._read_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def origin(self, name: str) -> str:
        """Who registered ``name``: "powertrain" for a built-in, else the package (nothing is loaded)."""
        if name not in self:
            raise PowertrainError(self.unknown(name))
        return self._origins[name]

    def unknown(self, name: str) -> str:
        """The message for a name that is not registered."""
        return f"unknown {self.kind} {name!r}; choose from {', '.join(self.names())}"

    def get(self, name: str) -> Any:
        if name not in self:
            raise PowertrainError(self.unknown(name))
        obj = self._entries[name]
        if isinstance(obj, str):
            obj = self._entries[name] = _import_attribute(obj, f"{self.kind} {name!r}")
        elif isinstance(obj, _EntryPoint):
            obj = self._entries[name] = obj.load(self.kind, name)
        return obj

    def resolve(self, name: str, contract: str) -> Any:
        """A registered name, or user code a study names (``pkg.mod:fn``, ``./file.py:fn``), checked
        against ``contract`` (the words an error quotes)."""
        if is_reference(name):
            return load_reference(name, self.kind, contract)
        return self.get(name)

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        from powertrain.entry_points import entry_points  # one scan per interpreter path

        for point in entry_points(self.group):
            origin = f"the package {point.package}"
            self.register(point.name, _EntryPoint(point, origin), origin=origin)


@dataclass(frozen=True)
class _EntryPoint:
    point: Any
    origin: str

    def load(self, kind: str, name: str) -> Any:
        try:
            return self.point.load()
        except Exception as exc:  # noqa: BLE001 - a third-party package's fault, reported as such
            raise PowertrainError(
                f"{kind} {name!r} from {self.origin} ({self.point.value}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}"
            ) from None


def _import_attribute(target: str, what: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


# --- user code: "my_pkg.models:build" or "./models.py:build" -------------------------------------


def is_reference(name: str) -> bool:
    """Whether a study names user code (``module:function``) rather than a registered name."""
    return ":" in name


def _is_file(target: str) -> bool:
    return target.endswith(".py") or target.startswith((".", "/", "~"))


def bind_reference(name: str, folder: str | Path | None, key: str) -> str:
    """A user-code reference with its file made absolute against the study's ``folder`` (the current
    folder when the study was not read from a file); registered names and modules pass unchanged.
    A file outside the study's folder is refused: ``key`` names the study key in the message."""
    if not is_reference(name):
        return name
    target, _, function = name.rpartition(":")
    if not target or not function:
        raise PowertrainError(f"{key}: {name!r} is not `module:function` or `./file.py:function`")
    if not _is_file(target):
        return name
    base = Path(folder or ".").resolve()
    path = (base / Path(target).expanduser()).resolve()
    if not path.is_relative_to(base):
        raise PowertrainError(
            f"{key}: {target} is outside the study's folder {base}; put the file beside the study "
            "(or in a folder under it), or make it an importable package and name it `module:function`"
        )
    return f"{path}:{function}"


def bind_study_code(study, folder: str | Path | None):
    """``study`` with the files it names (``./models.py:build``) made absolute against ``folder``, so
    that a run finds them wherever it executes; ConfigError for a malformed reference or a file outside
    the study's folder."""
    import dataclasses

    from powertrain.typed import ConfigError

    def bound(name: str | None, key: str) -> str | None:
        if name is None:
            return None
        try:
            return bind_reference(name, folder, key)
        except PowertrainError as exc:
            raise ConfigError(str(exc)) from None

    task = study.task
    changes: dict[str, Any] = {
        "task": dataclasses.replace(
            task,
            dataset=bound(task.dataset, "task.dataset"),
            model=bound(task.model, "task.model"),
        ),
        "extra_tasks": [
            dataclasses.replace(e, dataset=bound(e.dataset, f"extra_tasks[{i}].dataset"))
            for i, e in enumerate(study.extra_tasks)
        ],
    }
    if study.pretrain is not None:
        changes["pretrain"] = dataclasses.replace(
            study.pretrain, dataset=bound(study.pretrain.dataset, "pretrain.dataset")
        )
    return dataclasses.replace(study, **changes)


def load_reference(name: str, kind: str, contract: str) -> Callable:
    """The function a reference names, or PowertrainError saying why not, with ``contract`` (what the
    function must take and return) in the message."""
    target, _, function = name.rpartition(":")
    if _is_file(target):
        module = _import_file(Path(target), name, kind)
    else:
        try:
            module = importlib.import_module(target)
        except Exception as exc:  # noqa: BLE001 - the user's module failed to import
            hint = (
                "; is it installed, or on PYTHONPATH? A file beside the study is named "
                "`./file.py:function`"
                if isinstance(exc, ModuleNotFoundError) and exc.name == target.split(".")[0]
                else ""
            )
            raise PowertrainError(
                f"{kind} {name!r}: module {target!r} does not import: "
                f"{type(exc).__name__}: {exc}{hint}"
            ) from None
    found = getattr(module, function, None)
    if not callable(found):
        what = "is not callable" if found is not None else "is not there"
        raise PowertrainError(f"{kind} {name!r}: {function!r} {what} in {target}. {contract}")
    return found


def _import_file(path: Path, name: str, kind: str):
    if not path.is_file():
        raise PowertrainError(f"{kind} {name!r}: no file {path}")
    module_name = "powertrain_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's file failed to import
        del sys.modules[module_name]
        raise PowertrainError(
            f"{kind} {name!r}: {path} does not import: {type(exc).__name__}: {exc}"
        ) from None
    return module


# --- options, typed by the function's signature ----------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """A range an option must lie in, written in a signature as ``Annotated[int, Bound(min=1)]``.
    ``min_open``: the minimum itself is excluded. ``fraction``: a float must also be below 1 (a share),
    while an int counts items."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    fraction: bool = False

    def problem(self, value: Any) -> str | None:
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if self.fraction and isinstance(value, float):
            return None if 0 < value < 1 else f"a fraction must be in (0, 1), got {value}"
        if self.min is not None and (value <= self.min if self.min_open else value < self.min):
            word = "above" if self.min_open else "at least"
            return f"must be {word} {self.min:g}, got {value}"
        if self.max is not None and value > self.max:
            return f"must be at most {self.max:g}, got {value}"
        return None


POSITIVE = Bound(min=0, min_open=True)
COUNT = Bound(min=1)  # a whole number of items, at least one
COUNT_OR_FRACTION = Bound(min=1, fraction=True)


def accepted_options(function: Callable, positional: int = 0) -> dict[str, Any] | None:
    """Option name -> annotation (``Any`` when unannotated) that ``function`` takes by keyword after
    its first ``positional`` parameters, or None when it takes any keyword (``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return None
    try:
        from typing import get_type_hints

        target = function.__init__ if inspect.isclass(function) else function
        hints = get_type_hints(target, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations in user code: take any value
        hints = {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return {
        name: hints.get(name, Any)
        for name, p in list(parameters.items())[positional:]
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def check_options(
    function: Callable, options: dict[str, Any], owner: str, at: str, positional: int = 0
) -> dict[str, Any]:
    """``options`` checked against what ``function`` accepts (unknown keys, types, ranges) and
    converted (a YAML list to a tuple where a tuple is wanted); ConfigError with ``at.key`` at fault."""
    from powertrain.typed import ConfigError, coerce

    accepted = accepted_options(function, positional)
    if accepted is None:
        return dict(options)
    checked = {}
    for key, value in options.items():
        if key not in accepted:
            takes = ", ".join(sorted(accepted)) or "no options"
            raise ConfigError(f"{at}.{key}: not an option of {owner}; it takes {takes}")
        annotation, bounds = _split_annotated(accepted[key])
        if isinstance(value, tuple) and get_origin(annotation) in (list, tuple):
            value = list(value)  # from Python; YAML gives lists
        try:
            converted = coerce(value, annotation, f"{at}.{key}")
        except TypeError:  # an annotation the YAML types cannot express: left to the function
            converted = value
        for bound in bounds:
            problem = bound.problem(converted)
            if problem:
                raise ConfigError(f"{at}.{key}: {problem}")
        if get_origin(annotation) is tuple and isinstance(converted, list):
            converted = tuple(converted)
        checked[key] = converted
    return checked


def _split_annotated(annotation: Any) -> tuple[Any, list[Bound]]:
    if hasattr(annotation, "__metadata__"):  # typing.Annotated
        base, *extras = get_args(annotation)
        return base, [e for e in extras if isinstance(e, Bound)]
    return annotation, []
