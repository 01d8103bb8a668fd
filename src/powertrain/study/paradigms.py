"""Turns a setup's paradigm into what the loop needs: the model, where batches come from, the step,
the evaluations, the targets and the parameters to train. Paradigms are plain functions here, not
subclasses of the loop.

- scratch: a fresh model learns one task.
- finetune: the model starts from the pretraining checkpoint (all but its classifier) and learns all of it.
- head-only: the same start, the backbone frozen, the classifier alone learns.
- multitask: one backbone, one head per task, every task at once; the run ends when all reach their targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from powertrain.data.base import Dataset, Task
from powertrain.errors import PowertrainError
from powertrain.models.checkpoints import freeze_backbone, load_pretrained
from powertrain.models.multihead import MultiHead
from powertrain.models.registry import build_model
from powertrain.study.config import Setup
from powertrain.train.sources import JointSource, SingleSource
from powertrain.train.steps import classification_step, evaluator, joint_step, shared_input_step


@dataclass(frozen=True)
class TaskData:
    """A task of the study bound to its loaded data: ``label`` is the data set's label key."""

    name: str
    dataset: Dataset
    task: Task
    target: float

    @property
    def label(self) -> str:
        return self.task.name


@dataclass
class Prepared:
    model: nn.Module
    source: SingleSource | JointSource
    step_fn: Any
    evaluate: Any
    test_evaluate: Any
    targets: dict[str, float]
    parameters: list[nn.Parameter] | None = None


def prepare(
    setup: Setup,
    tasks: dict[str, TaskData],
    main: str,
    model_name: str,
    model_options: dict,
    pretrained: Path | None,
) -> Prepared:
    if setup.train.paradigm == "multitask":
        return _multitask(tasks, model_name, model_options)
    td = tasks[setup.task or main]
    model = build_model(model_name, td.dataset.input_shape, td.task.num_classes, **model_options)
    parameters = None
    if setup.train.paradigm in ("finetune", "head-only"):
        if pretrained is None:
            raise PowertrainError(
                f"{setup.train.paradigm} needs pretrained weights, and there are none"
            )
        load_pretrained(model, pretrained)
        if setup.train.paradigm == "head-only":
            parameters = freeze_backbone(model)
    return Prepared(
        model=model,
        source=SingleSource(td.dataset.train),
        step_fn=classification_step(td.task),
        evaluate=evaluator({td.name: (td.dataset.val, td.task, td.label, None)}),
        test_evaluate=evaluator({td.name: (td.dataset.test, td.task, td.label, None)}),
        targets={td.name: td.target},
        parameters=parameters,
    )


def _multitask(tasks: dict[str, TaskData], model_name: str, model_options: dict) -> Prepared:
    shapes = {td.dataset.input_shape for td in tasks.values()}
    if len(shapes) != 1:
        raise PowertrainError(
            f"multitask needs inputs of one shape, but the tasks' inputs are {sorted(shapes)}"
        )
    (shape,) = shapes
    backbone = build_model(model_name, shape, 1, **model_options)
    model = MultiHead(backbone, {name: td.task.num_classes for name, td in tasks.items()})
    datasets = {id(td.dataset) for td in tasks.values()}
    if (
        len(datasets) == 1
    ):  # several label sets of the same inputs: the backbone runs once per batch
        source: SingleSource | JointSource = SingleSource(next(iter(tasks.values())).dataset.train)
        step = shared_input_step(list(tasks.values()))
    else:
        source = JointSource({name: td.dataset.train for name, td in tasks.items()})
        step = joint_step(tasks)
    return Prepared(
        model=model,
        source=source,
        step_fn=step,
        evaluate=evaluator({n: (td.dataset.val, td.task, td.label, n) for n, td in tasks.items()}),
        test_evaluate=evaluator(
            {n: (td.dataset.test, td.task, td.label, n) for n, td in tasks.items()}
        ),
        targets={name: td.target for name, td in tasks.items()},
        parameters=model.parameters_in_use(),
    )
