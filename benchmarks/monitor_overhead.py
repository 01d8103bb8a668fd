"""Monitor overhead: the same small CPU training job with and without the monitor, side by side.

Prints the median time ratio (monitored / plain) over interleaved repetitions, with the sampler at 10 Hz
and at 100 Hz, and the cost of one window begin + end. Targets: ratio <= 1.005 at 10 Hz; one window
<= 1 ms.

    python benchmarks/monitor_overhead.py [--reps 15] [--steps 600]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from powertrain.meters.detect import detect_meters
from powertrain.monitor import Monitor


def train(steps: int, seed: int = 0) -> float:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return time.perf_counter() - start


def monitored(steps: int, interval_s: float) -> float:
    monitor = Monitor(detect_meters().require().meters, interval_s=interval_s, sample=True)
    with monitor, monitor.window("train"):
        return train(steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    train(50)  # warm up

    # Each repetition runs plain, 10 Hz, 100 Hz, plain, and divides by the mean of the two plain runs
    # around it, so drifts in machine speed cancel.
    ratios: dict[str, list[float]] = {"10 Hz": [], "100 Hz": []}
    for _ in range(args.reps):
        before = train(args.steps)
        at_10_hz = monitored(args.steps, 0.1)
        at_100_hz = monitored(args.steps, 0.01)
        plain = (before + train(args.steps)) / 2
        ratios["10 Hz"].append(at_10_hz / plain)
        ratios["100 Hz"].append(at_100_hz / plain)

    monitor = Monitor(detect_meters().require().meters, sample=False)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        monitor.begin("w")
        monitor.end("w")
    window_ms = (time.perf_counter() - start) / n * 1000

    print(f"meters: {', '.join(m.provenance.label() for m in monitor.meters.values())}")
    print(
        f"job: {args.steps} SGD steps of a 784-256-10 MLP, {args.reps} repetitions, "
        f"{torch.get_num_threads()} torch threads"
    )
    for name, values in ratios.items():
        print(
            f"time ratio monitored/plain, sampler at {name}: median {statistics.median(values):.4f} "
            f"(min {min(values):.4f}, max {max(values):.4f})"
        )
    print(f"one window begin + end: {window_ms:.3f} ms (target <= 1 ms)")


if __name__ == "__main__":
    main()
