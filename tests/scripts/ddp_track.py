"""A user's DDP training script, run by ``torchrun`` in the distributed tests: a tiny model on gloo,
``powertrain.track()`` around the loop, as the docs show. The validation accuracy rises by a fixed
step per evaluation (``--accuracy-step``), so the evaluation that reaches the target is known.

Each rank writes what it saw (its decisions, points, outcome) to ``--out/rank-N.json``. Misuse and
faults for the tests: ``--seed-per-rank`` (ranks pass different seeds), ``--die-at K`` (rank 1 kills
itself with SIGKILL at evaluation K), ``--init-after`` (torch.distributed started inside the block, as
Lightning does).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

import powertrain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--study", default="ddp")
    parser.add_argument("--target", type=float, default=0.7)
    parser.add_argument("--evaluations", type=int, default=6)
    parser.add_argument("--accuracy-step", type=float, default=0.2)
    parser.add_argument("--steps", type=int, default=3, help="DDP steps between evaluations")
    parser.add_argument("--seed-per-rank", action="store_true")
    parser.add_argument("--die-at", type=int, default=None)
    parser.add_argument("--init-after", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--retry-failed", action="store_true")
    parser.add_argument("--if-finished", default="refuse")
    args = parser.parse_args()

    if not args.init_after:
        dist.init_process_group("gloo")
    rank = int(os.environ["RANK"])
    seed = rank if args.seed_per_rank else 0
    seen: dict = {"rank": rank, "decisions": []}
    try:
        with powertrain.track(
            args.study,
            setup={"lr": 0.1},
            seed=seed,
            target=args.target,
            db=args.db,
            device="cpu",
            rank_timeout_s=args.timeout,
            retry_failed=args.retry_failed,
            if_finished=args.if_finished,
        ) as run:
            if args.init_after:
                dist.init_process_group("gloo")
            train(run, args, rank, seen)
        seen["outcome"] = None if run.outcome is None else run.outcome.status.value
        seen["points"], seen["skipped"] = len(run.points), run.skipped
    except powertrain.PowertrainError as exc:
        seen["error"] = str(exc)
        raise SystemExit(f"rank {rank}: {exc}") from None
    finally:
        Path(args.out, f"rank-{rank}.json").write_text(json.dumps(seen))
        if dist.is_initialized():
            dist.destroy_process_group()


def train(run, args, rank: int, seen: dict) -> None:
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for k in range(1, args.evaluations + 1):
        for _ in range(args.steps):
            x, y = torch.randn(16, 8), torch.randint(0, 2, (16,))
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if args.die_at == k and rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        stop = run.evaluate(val_accuracy=min(1.0, args.accuracy_step * k), step=k * args.steps)
        seen["decisions"].append(stop)
        if stop:
            break


if __name__ == "__main__":
    main()
