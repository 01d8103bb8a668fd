"""Harness overhead: the same model, data and steps in a plain PyTorch loop and through powertrain's
loop with the monitor on (sampling at 10 Hz), side by side. Both evaluate on the validation split once
per epoch. Prints the median time ratio (powertrain / plain); target <= 1.03 on the CPU.

    python benchmarks/harness_overhead.py [--reps 5] [--epochs 2] [--train-size 5000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from powertrain.data.registry import load_dataset
from powertrain.meters.detect import detect_meters
from powertrain.models.registry import build_model
from powertrain.monitor import Monitor
from powertrain.train.config import TrainConfig
from powertrain.train.loop import Limits, train_to_target
from powertrain.train.sources import SingleSource
from powertrain.train.steps import accuracy, classification_step, evaluator

CFG = TrainConfig(optimizer="sgd", learning_rate=0.01, momentum=0.9, batch_size=64)


def plain(data, epochs: int, seed: int) -> float:
    """What a user would write by hand: shuffled slices, SGD, an evaluation per epoch."""
    torch.manual_seed(seed)
    model = build_model("small-cnn", data.input_shape, 10, channels=16, hidden=64)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=CFG.learning_rate, momentum=CFG.momentum)
    x, y, n = data.train.x, data.train.y["class"], len(data.train)
    task = data.tasks["class"]
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, CFG.batch_size):
            index = order[i : i + CFG.batch_size]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        accuracy(model, data.val, task)
    return time.perf_counter() - start


def harness(data, epochs: int, seed: int, meters) -> float:
    torch.manual_seed(seed)
    model = build_model("small-cnn", data.input_shape, 10, channels=16, hidden=64)
    task = data.tasks["class"]
    monitor = Monitor(meters, interval_s=0.1, sample=True)
    start = time.perf_counter()
    with monitor:
        outcome = train_to_target(
            model,
            SingleSource(data.train),
            CFG,
            Limits({"class": 1.0}, max_epochs=epochs),
            monitor,
            step_fn=classification_step(task),
            evaluate=evaluator({"class": (data.val, task, "class", None)}),
            device=torch.device("cpu"),
            seed=seed,
        )
    assert outcome.steps == epochs * -(-len(data.train) // CFG.batch_size)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=5000)
    args = parser.parse_args()
    data = load_dataset("fashion-mnist", train_size=args.train_size, val_size=1000, test_size=100)
    meters = detect_meters().require().meters
    plain(data, 1, 0)  # warm up
    ratios = []
    for rep in range(args.reps):  # plain, harness, plain: drifts in machine speed cancel
        before = plain(data, args.epochs, rep)
        ours = harness(data, args.epochs, rep, meters)
        ratios.append(ours / ((before + plain(data, args.epochs, rep)) / 2))
    print(
        f"job: small CNN, {args.train_size} Fashion-MNIST images, {args.epochs} epochs, batch 64, "
        f"{torch.get_num_threads()} torch threads, {args.reps} repetitions"
    )
    print(f"meters: {', '.join(m.provenance.label() for m in meters.values())}, sampler at 10 Hz")
    print(
        f"time ratio powertrain/plain: median {statistics.median(ratios):.4f} "
        f"(min {min(ratios):.4f}, max {max(ratios):.4f}); target <= 1.03"
    )


if __name__ == "__main__":
    main()
