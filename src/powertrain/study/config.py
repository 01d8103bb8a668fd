"""The study file, typed. ``load_study`` parses YAML (``safe_load``) and validates everything that can
be checked before training: keys, types, ranges, data set and model names and their options."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from powertrain.loggers.spec import parse_log_to
from powertrain.records import Stage
from powertrain.study.command_task import CommandTarget, check_command_study
from powertrain.study.search_config import SearchConfig, check_cost_axes, parse_search
from powertrain.train.config import TrainConfig
from powertrain.typed import ConfigError, build, check, check_study_limits, coerce


@dataclass(frozen=True)
class TaskConfig:
    dataset: str | None = None  # required, unless the task is a command
    model: str | None = None  # required, unless the task is a command
    target_accuracy: float | None = None  # required, unless the task is a command
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # which of the data set's tasks to learn; the first by default
    eval_every_steps: int | None = None  # None: evals_per_epoch evenly spaced evaluations per epoch
    evals_per_epoch: int = 1
    max_epochs: int = 10
    max_time_s: float | None = None
    # Or the user's own script, run for each (setup, seed); see study/command_task.py.
    command: str | None = None
    target: CommandTarget | None = None
    let_finish: bool = False  # let the command run on after the target instead of stopping it
    stop_grace_s: float = 10.0  # SIGTERM, then SIGKILL after this long


@dataclass(frozen=True)
class ExtraTask:
    """Another task for multitask studies (and their single-task baselines)."""

    name: str
    dataset: str
    target_accuracy: float
    dataset_options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None


@dataclass(frozen=True)
class PretrainConfig:
    """Where fine-tuned models start: a pretraining stage that powertrain runs and measures, or an
    external checkpoint (a state dict file; torchvision format for resnet18) whose energy is unknown
    unless given in ``energy_j``."""

    dataset: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    target_accuracy: float | None = None  # None: train for max_epochs
    max_epochs: int = 5
    evals_per_epoch: int = 1
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    checkpoint: str | None = None
    energy_j: float | None = None


@dataclass(frozen=True)
class MeterConfig:
    backends: list[str] | None = None  # None: the best available per component
    interval_s: float = 0.1
    cpu_tdp_w: float | None = None
    record_timeline: bool = True


@dataclass(frozen=True)
class StudyConfig:
    name: str
    task: TaskConfig
    grid: dict[str, list[Any]]
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    meters: MeterConfig = field(default_factory=MeterConfig)
    device: str = "auto"  # "auto": the GPU where there is one, else the CPU
    threads: int | None = None  # torch CPU threads; None: one per core
    description: str = ""
    pretrain: PretrainConfig | None = None
    extra_tasks: list[ExtraTask] = field(default_factory=list)
    save_models: bool = False  # keep each run's final weights (for `powertrain infer`)
    search: SearchConfig | None = None  # the strategy that decides what runs (search_config.py)
    workers: int = 1  # runs at once on this machine, each in a process of its own (--workers)
    share_gpus: bool = (
        False  # let workers share a GPU (its energy is then apportioned between them)
    )
    log_to: list[str] = field(default_factory=list)  # tools that get a copy (loggers/spec.py)

    @property
    def task_names(self) -> list[str]:
        """The main task is named after its data set; extra tasks by their ``name``."""
        return [self.task.dataset, *(t.name for t in self.extra_tasks)]

    def setups(self) -> list[Setup]:
        """The grid's setups, in the order of the file's keys and values. With extra tasks, every
        single-task setup is repeated for each task (the baselines a multitask setup is held against)."""
        keys = list(self.grid)
        result = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            varied = dict(zip(keys, values, strict=True))
            train = dataclasses.replace(self.train, **varied)
            if self.extra_tasks and train.paradigm != "multitask":
                result += [Setup({**varied, "task": name}, train, name) for name in self.task_names]
            else:
                result.append(Setup(varied, train, None))
        return result

    def runs(self) -> list[tuple[Setup, int]]:
        return [(setup, seed) for setup in self.setups() for seed in self.seeds]

    def run_key(self, setup: Setup, seed: int) -> str:
        """Identifies a run by everything that determines it, so that a changed task never resumes an
        old run by mistake."""
        identity: dict[str, Any] = {
            "task": dataclasses.asdict(self.task),
            "train": setup.train.identity(),
            "seed": seed,
        }
        if self.extra_tasks:
            identity["tasks"] = [dataclasses.asdict(t) for t in self.extra_tasks]
            identity["single_task"] = setup.task
        if setup.train.paradigm.needs_pretraining and self.pretrain is not None:
            identity["pretrain"] = pretrain_identity(self.pretrain)
        return hashlib.sha256(
            json.dumps(identity, sort_keys=True, default=str).encode()
        ).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def pretrain_identity(pretrain: PretrainConfig) -> dict[str, Any]:
    """The pretraining section as run keys hash it (its training without an unset power limit)."""
    return {**dataclasses.asdict(pretrain), "train": pretrain.train.identity()}


@dataclass(frozen=True)
class Setup:
    varied: dict[
        str, Any
    ]  # the grid's values for this setup (and the task, for single-task baselines)
    train: TrainConfig
    task: str | None = None  # the one task a single-task setup learns, when the study has several
    stage: Stage = Stage.TRAIN  # PRETRAIN: the pretraining stage, not one of the grid's runs

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.varied.items())


def parse_study(data: Any, folder: str | Path | None = None) -> StudyConfig:
    """A validated StudyConfig from parsed YAML, or ConfigError naming the key at fault. ``folder``:
    where files the study names (``./models.py:build``) are looked for; the current folder if None."""
    from powertrain.registry import bind_study_code

    search = data.get("search") if isinstance(data, dict) else None
    if search is not None:  # parsed by its own function: its free keys are the strategy's
        data = {k: v for k, v in data.items() if k != "search"}
    study = bind_study_code(build(StudyConfig, data, ""), folder)
    study.train.validate("train")  # before the grid, whose values are checked against it
    study = dataclasses.replace(study, search=parse_search(search, study.train))
    study = dataclasses.replace(study, grid=_typed_grid(study))
    _validate(study)
    check_cost_axes(study.search, list({a: 0 for s in study.setups() for a in s.varied}))
    return study


def _typed_grid(study: StudyConfig) -> dict[str, list[Any]]:
    """The grid with each value checked against, and converted to, its hyperparameter's type."""
    check(
        bool(study.grid),
        "grid",
        "is empty; sweep at least one hyperparameter, e.g. `learning_rate: [0.01, 0.1]`",
    )
    types = get_type_hints(TrainConfig)
    grid = {}
    for key, values in study.grid.items():
        check(
            key in types,
            f"grid.{key}",
            f"not a training hyperparameter; choose from {', '.join(types)}",
        )
        check(
            isinstance(values, list) and len(values) > 0,
            f"grid.{key}",
            "needs a non-empty list of values",
        )
        grid[key] = [
            coerce(value, types[key], f"grid.{key}[{i}]") for i, value in enumerate(values)
        ]
        for i, value in enumerate(grid[key]):
            dataclasses.replace(study.train, **{key: value}).validate(
                key_path=lambda _, i=i, k=key: f"grid.{k}[{i}]"
            )
        check(len(set(map(repr, grid[key]))) == len(grid[key]), f"grid.{key}", "has a value twice")
    return grid


def _not_a_store(path: Path) -> None:
    """A results store given where the study file goes (``run runs/powertrain.db``), said so: its
    bytes read as no UTF-8 text."""
    from powertrain.store.sqlite_open import SQLITE_HEADER

    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError:
        return  # read_text says why
    if head == SQLITE_HEADER:
        raise ConfigError(
            f"{path} is a results store, not a study file; give the study's YAML file (e.g. "
            "study.yaml), and the store with --db"
        )


def load_study(path: str | Path) -> StudyConfig:
    """Read (bounded: size, UTF-8, nesting, aliases; ``powertrain.inputs``), parse and validate."""
    from powertrain.errors import PowertrainError
    from powertrain.inputs import MAX_STUDY_BYTES, load_yaml, read_text

    path = Path(path)
    _not_a_store(path)
    try:
        data = load_yaml(read_text(path, "study file", MAX_STUDY_BYTES), path, "study file")
    except ConfigError:
        raise
    except PowertrainError as exc:
        raise ConfigError(str(exc)) from None
    if data is None:  # said "the file: expected a mapping of keys, got None"
        raise ConfigError(
            f"{path} is empty; a study file needs name, task and grid (powertrain init study.yaml "
            "writes one to start from)"
        )
    try:
        return parse_study(data, path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _check_dataset(name: str, options: dict[str, Any], at: str) -> None:
    """A known data set (or user code that imports), and options its loader takes, typed."""
    from powertrain.data.registry import check_dataset

    check_dataset(name, options, at)


def _validate(study: StudyConfig) -> None:
    from powertrain.inputs import name_problem
    from powertrain.models.registry import check_model

    problem = name_problem(study.name)
    check(problem is None, "name", problem or "")
    task = study.task
    if task.command is not None or task.target is not None:
        check_command_study(study)
        _validate_run_settings(study)
        return
    for key in ("dataset", "model", "target_accuracy"):
        check(
            getattr(task, key) is not None,
            f"task.{key}",
            "missing; this key is required (or give `command:` to run your own script)",
        )
    _check_dataset(task.dataset, task.dataset_options, "task")
    check_model(task.model, task.model_options, "task")
    check(
        0 < task.target_accuracy <= 1,
        "task.target_accuracy",
        f"must be in (0, 1], got {task.target_accuracy}",
    )
    check(
        task.eval_every_steps is None or task.eval_every_steps > 0,
        "task.eval_every_steps",
        "must be positive",
    )
    check(task.evals_per_epoch > 0, "task.evals_per_epoch", "must be positive")
    check(task.max_epochs > 0, "task.max_epochs", f"must be positive, got {task.max_epochs}")
    check(task.max_time_s is None or task.max_time_s > 0, "task.max_time_s", "must be positive")
    _validate_run_settings(study)


def _validate_run_settings(study: StudyConfig) -> None:
    from powertrain.meters.detect import METERS

    for setup in study.setups():  # combinations (nesterov without momentum, say)
        setup.train.validate(key_path=lambda name, s=setup: f"grid ({s.label()}): {name}")
    check(len(study.seeds) > 0, "seeds", "needs at least one seed")
    check(len(set(study.seeds)) == len(study.seeds), "seeds", "has a seed twice")
    for backend in study.meters.backends or []:
        check(backend in METERS, "meters.backends", METERS.unknown(backend))
    check(study.meters.interval_s > 0, "meters.interval_s", "must be positive")
    check(
        study.device in ("auto", "cpu") or study.device.startswith("cuda"),
        "device",
        "must be auto, cpu or cuda[:N]",
    )
    check_study_limits(study)  # this machine's bounds: here, so parse_study from Python gets them
    check(study.threads is None or study.threads > 0, "threads", "must be positive")
    check(1 <= study.workers <= 1024, "workers", f"must be in 1..1024, got {study.workers}")
    _validate_paradigms(study)
    parse_log_to(study.log_to, "log_to")  # ConfigError naming log_to[i]


def _validate_paradigms(study: StudyConfig) -> None:

    paradigms = {s.train.paradigm for s in study.setups()}
    where = "grid.paradigm" if "paradigm" in study.grid else "train.paradigm"
    if paradigms & {"finetune", "head-only"}:
        check(
            study.pretrain is not None, where, "finetune and head-only need a `pretrain:` section"
        )
    if "multitask" in paradigms:
        check(
            bool(study.extra_tasks),
            where,
            "multitask needs `extra_tasks:` to learn besides the main task",
        )
    names = study.task_names
    check(
        len(set(names)) == len(names),
        "extra_tasks",
        f"task names must differ (and differ from {names[0]!r})",
    )
    for i, extra in enumerate(study.extra_tasks):
        at = f"extra_tasks[{i}]"
        _check_dataset(extra.dataset, extra.dataset_options, at)
        check(0 < extra.target_accuracy <= 1, f"{at}.target_accuracy", "must be in (0, 1]")
    pre = study.pretrain
    if pre is not None:
        check(
            (pre.dataset is None) != (pre.checkpoint is None),
            "pretrain",
            "give either a `dataset` to pretrain on or an external `checkpoint`, not both",
        )
        if pre.dataset is not None:
            _check_dataset(pre.dataset, pre.dataset_options, "pretrain")
            check(
                pre.target_accuracy is None or 0 < pre.target_accuracy <= 1,
                "pretrain.target_accuracy",
                "must be in (0, 1]",
            )
            check(pre.max_epochs > 0, "pretrain.max_epochs", "must be positive")
            pre.train.validate("pretrain.train")
        check(
            pre.energy_j is None or pre.energy_j >= 0, "pretrain.energy_j", "must not be negative"
        )
