"""One task of a heterogeneous SLURM job's step (``srun --het-group=0,1 python het_track.py DB OUT``):
``powertrain.track()`` around a loop, no torch.distributed, so the tasks exchange through the store.
The accuracy reaches the target (0.7) at the third evaluation. Each task writes what it saw (its
node, its decisions, the error it stopped with) to ``OUT/rank-N.json``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import powertrain


def main() -> None:
    db, out = sys.argv[1], Path(sys.argv[2])
    rank = int(os.environ["SLURM_PROCID"])
    seen: dict = {"rank": rank, "node": os.environ.get("SLURMD_NODENAME"), "decisions": []}
    try:
        with powertrain.track(
            "het", setup={"lr": 0.1}, target=0.7, db=db, device="cpu", rank_timeout_s=60
        ) as run:
            for step, accuracy in enumerate((0.3, 0.5, 0.7, 0.9), start=1):
                stop = run.evaluate(val_accuracy=accuracy, step=step)
                seen["decisions"].append(bool(stop))
                if stop:
                    break
        seen["outcome"] = None if run.outcome is None else run.outcome.status.value
    except powertrain.PowertrainError as exc:
        seen["error"] = str(exc)
        print(f"rank {rank}: {exc}", flush=True)
    (out / f"rank-{rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
