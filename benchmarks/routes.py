"""Energy-to-target through every route: the same model (powertrain's MLP, one hidden layer of 64),
data (10,000 Fashion-MNIST images, powertrain's split), optimiser (SGD, lr 0.01, momentum 0.9, batch
32), target (validation accuracy 0.84 on 2,000 images, evaluated once per epoch) and seeds, trained

- by hand: a plain PyTorch loop timed by a bare monitor window (what a user does with a window API),
- by the built-in loop (a study, `powertrain run`),
- by the same plain loop under `powertrain.track`,
- by PyTorch Lightning with the callback, and by a Hugging Face `Trainer` with the callback,
- by the same plain loop as a script of its own, run as a study whose task is a command (it reports
  with `powertrain.tell(...)`; powertrain stops it at the target). Its figure includes what a new
  process costs: starting Python and torch and loading the data, inside the measured process tree.

It prints energy-to-target per route (mean and spread over seeds, and each seed) and the ratio to the
plain loop, side by side. One torch thread, the routes alternated within each seed.

    python benchmarks/routes.py [--seeds 0 1 2] [--routes plain builtin track lightning hf command]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from powertrain.data.registry import load_dataset
from powertrain.meters.detect import detect_meters
from powertrain.models.registry import build_model
from powertrain.monitor import Monitor
from powertrain.records import REACHED
from powertrain.store.memory import MemoryStore

DATASET, OPTIONS = "fashion-mnist", {"train_size": 10000, "val_size": 2000, "test_size": 2000}
LR, MOMENTUM, BATCH, TARGET, MAX_EPOCHS, HIDDEN = 0.01, 0.9, 32, 0.84, 15, (64,)


@dataclass(frozen=True)
class Result:
    route: str
    seed: int
    reached: bool
    energy_to_target_j: float | None
    time_to_target_s: float | None
    evaluations: int


def model(data, seed: int):
    torch.manual_seed(seed)
    return build_model("mlp", data.input_shape, 10, hidden=HIDDEN)


def sgd(net):
    return torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)


def val_accuracy(net, data) -> float:
    with torch.no_grad():
        return (net(data.val.x).argmax(1) == data.val.y[data.default_task]).float().mean().item()


def plain_epochs(data, seed: int, after_epoch: Callable[[int, float, float], bool]) -> None:
    """The loop a user writes: shuffled slices, SGD, an evaluation per epoch; stops when told."""
    net, generator = model(data, seed), torch.Generator().manual_seed(seed)
    opt, x, y = sgd(net), data.train.x, data.train.y[data.default_task]
    for epoch in range(MAX_EPOCHS):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH):
            index = order[i : i + BATCH]
            loss = F.cross_entropy(net(x[index]), y[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if after_epoch(epoch, val_accuracy(net, data), loss.item()):
            return


def by_hand(data, seed: int, detection) -> Result:
    monitor, found = Monitor(detection.meters, sample=True), []

    def after_epoch(epoch: int, acc: float, loss: float) -> bool:
        if acc >= TARGET:
            found.append((monitor.read("run"), epoch + 1))
        return bool(found)

    with monitor:
        monitor.begin("run")
        plain_epochs(data, seed, after_epoch)
        monitor.end("run")
    if not found:
        return Result("plain loop, by hand", seed, False, None, None, MAX_EPOCHS)
    m, epochs = found[0]
    return Result("plain loop, by hand", seed, True, m.total_energy_j, m.duration_s, epochs)


def from_outcome(route: str, seed: int, outcome, evaluations: int) -> Result:
    reached = outcome.status == REACHED
    return Result(
        route, seed, reached, outcome.energy_to_target_j, outcome.time_to_target_s, evaluations
    )


def builtin(data, seed: int, detection) -> Result:
    from powertrain.study.config import parse_study
    from powertrain.study.runner import run_study

    study = parse_study(
        {
            "name": "routes",
            "task": {
                "dataset": DATASET,
                "dataset_options": OPTIONS,
                "model": "mlp",
                "model_options": {"hidden": list(HIDDEN)},
                "target_accuracy": TARGET,
                "max_epochs": MAX_EPOCHS,
            },
            "train": {"optimizer": "sgd", "momentum": MOMENTUM, "batch_size": BATCH},
            "grid": {"learning_rate": [LR]},
            "seeds": [seed],
            "device": "cpu",
            "threads": 1,
        }
    )
    store = MemoryStore()
    [outcome] = run_study(study, store, detection=detection).outcomes
    points = store.eval_points(store.runs()[0].id)
    return from_outcome("built-in loop (a study)", seed, outcome, len(points))


def tracked(data, seed: int, detection) -> Result:
    from powertrain import track

    with track("routes", {"lr": LR}, seed, TARGET, db=MemoryStore(), detection=detection) as run:
        plain_epochs(
            data,
            seed,
            lambda epoch, acc, loss: run.evaluate(acc, step=epoch + 1, train_loss=loss),
        )
    return from_outcome("plain loop + track()", seed, run.outcome, len(run.points))


def lightning(data, seed: int, detection) -> Result:
    import lightning.pytorch as L
    from torch.utils.data import DataLoader, TensorDataset

    from powertrain import track
    from powertrain.integrations.lightning import PowertrainCallback

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = model(data, seed)

        def training_step(self, batch, _):
            return F.cross_entropy(self.net(batch[0]), batch[1])

        def validation_step(self, batch, _):
            self.log("val_acc", (self.net(batch[0]).argmax(1) == batch[1]).float().mean())

        def configure_optimizers(self):
            return sgd(self)

    train = TensorDataset(data.train.x, data.train.y[data.default_task])
    val = TensorDataset(data.val.x, data.val.y[data.default_task])
    generator = torch.Generator().manual_seed(seed)
    with track("routes", {"lr": LR}, seed, TARGET, db=MemoryStore(), detection=detection) as run:
        L.Trainer(
            max_epochs=MAX_EPOCHS,
            callbacks=[PowertrainCallback(run, metric="val_acc")],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            accelerator="cpu",
        ).fit(
            Module(),
            DataLoader(train, batch_size=BATCH, shuffle=True, generator=generator),
            DataLoader(val, batch_size=len(val)),
        )
    return from_outcome("Lightning + callback", seed, run.outcome, len(run.points))


def hf(data, seed: int, detection) -> Result:
    import tempfile

    from transformers import Trainer, TrainingArguments

    from powertrain import track
    from powertrain.integrations.hf import PowertrainCallback

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model(data, seed)

        def forward(self, x, labels=None):
            logits = self.net(x)
            return {"loss": F.cross_entropy(logits, labels), "logits": logits}

    def rows(split):
        return [
            {"x": a, "labels": b} for a, b in zip(split.x, split.y[data.default_task], strict=True)
        ]

    def accuracy(p):
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    net = Wrapped()
    opt = sgd(net)
    constant = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            out,
            num_train_epochs=MAX_EPOCHS,
            per_device_train_batch_size=BATCH,
            per_device_eval_batch_size=len(data.val),
            eval_strategy="epoch",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
            seed=seed,
        )
        with track(
            "routes", {"lr": LR}, seed, TARGET, db=MemoryStore(), detection=detection
        ) as run:
            Trainer(
                net,
                args,
                train_dataset=rows(data.train),
                eval_dataset=rows(data.val),
                compute_metrics=accuracy,
                optimizers=(opt, constant),
                callbacks=[PowertrainCallback(run, metric="eval_accuracy")],
            ).train()
    return from_outcome("HF Trainer + callback", seed, run.outcome, len(run.points))


def command(data, seed: int, detection) -> Result:
    from powertrain.study.config import parse_study
    from powertrain.study.runner import run_study

    task = {
        "command": f"{sys.executable} {__file__} --child {{seed}}",
        "target": {"metric": "val_acc", "at_least": TARGET},
    }
    study = parse_study(
        {
            "name": "routes-command",
            "task": task,
            "grid": {"learning_rate": [LR]},
            "seeds": [seed],
            "device": "cpu",
            "threads": 1,
        }
    )
    store = MemoryStore()
    [outcome] = run_study(study, store, detection=detection).outcomes
    points = store.eval_points(store.runs()[0].id)
    return from_outcome("the loop as a command", seed, outcome, len(points))


def child(seed: int) -> None:
    """The command route's script: the plain loop, reporting each epoch's accuracy to powertrain."""
    import powertrain

    torch.set_num_threads(1)
    data = load_dataset(DATASET, seed=0, **OPTIONS)
    plain_epochs(
        data,
        seed,
        lambda epoch, acc, loss: powertrain.tell(step=epoch + 1, val_acc=acc, train_loss=loss),
    )


ROUTES: dict[str, Callable] = {
    "plain": by_hand,
    "builtin": builtin,
    "track": tracked,
    "lightning": lightning,
    "hf": hf,
    "command": command,
}


def means(mine: list[Result]) -> tuple[float | None, float | None]:
    """Mean energy-to-target, and mean energy per epoch to the target (the overhead, free of how
    many epochs a seed's shuffle happened to need), over the seeds that reached the target."""
    hit = [r for r in mine if r.reached]
    if not hit:
        return None, None
    return (
        statistics.mean(r.energy_to_target_j for r in hit),
        statistics.mean(r.energy_to_target_j / r.evaluations for r in hit),
    )


def row(route: str, mine: list[Result], base: tuple) -> str:
    energy = [r.energy_to_target_j for r in mine if r.reached]
    mean, per_epoch = means(mine)
    sd = statistics.stdev(energy) if len(energy) > 1 else 0.0
    ratio = lambda mine_j, base_j: f"{mine_j / base_j:.2f}" if mine_j and base_j else "-"  # noqa: E731
    cells = [
        route,
        f"{len(energy)}/{len(mine)}",
        f"{mean:.1f} +- {sd:.1f}" if mean else "-",
        " / ".join(str(r.evaluations) for r in mine),
        ratio(mean, base[0]),
        f"{per_epoch:.2f}" if per_epoch else "-",
        ratio(per_epoch, base[1]),
    ]
    return "| " + " | ".join(cells) + " |"


def table(results: list[Result]) -> str:
    base = means([r for r in results if r.route == "plain loop, by hand"])
    lines = [
        "| route | reached | energy-to-target (J, mean +- sd) | epochs to target per seed | "
        "ratio to plain | J per epoch | ratio to plain |",
        "|---|---|---|---|---|---|---|",
    ]
    for route in dict.fromkeys(r.route for r in results):
        lines.append(row(route, [r for r in results if r.route == route], base))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES), default=list(ROUTES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    detection = detect_meters().require()
    data = load_dataset(DATASET, seed=0, **OPTIONS)  # the split a study uses
    by_hand(data, 99, detection)  # warm up torch (threads, allocator) before anything is compared
    results = []
    for k, seed in enumerate(args.seeds):
        order = args.routes[k % len(args.routes) :] + args.routes[: k % len(args.routes)]
        for name in order:  # a different route first for every seed: load drifts
            start = time.perf_counter()
            result = ROUTES[name](data, seed, detection)
            results.append(result)
            print(
                f"seed {seed} {result.route}: {result.energy_to_target_j} J "
                f"({time.perf_counter() - start:.1f} s wall)",
                flush=True,
            )
    labels = {c.value: m.provenance.label() for c, m in detection.meters.items()}
    print(f"\nmeters: {labels}\n")
    print(table(results))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        main()
