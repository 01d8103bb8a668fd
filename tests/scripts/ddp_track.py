"""A user's DDP training script, run by ``torchrun`` (or as SLURM tasks) in the distributed tests: a
tiny model on gloo, ``powertrain.track()`` around the loop, as the docs show. The validation accuracy
rises by 0.2 per evaluation, so the evaluation that reaches the target (0.7: the 4th) is known.

One launch runs several scenarios in sequence (``--scenarios``, comma-separated, each
``KIND[:STUDY[:pg]]``; ``init`` starts torch.distributed, after which the exchange goes over gloo):

- ``plain``: the loop (DDP without torch.distributed up: the launcher's store carries the exchange);
- ``fsdp2``: the model sharded with FSDP2's ``fully_shard``; ``hf``: a Hugging Face Trainer;
- ``seeds``: the ranks pass different seeds (misuse: one clear error);
- ``partial``: rank 1 never enters ``track()`` (misuse), then idles ``--timeout`` + 5 s; last;
- ``die``: rank 1 kills itself with SIGKILL at evaluation 3; ``hang``: rank 1 sleeps for ever there;
- ``retry``: the study again with ``retry_failed``; ``skip``: again with ``if_finished="skip"``;
  ``skipcheck``: the same, each rank training only if ``run.skipped`` is False, as the docs say;
- ``raise``: rank 1 raises a ValueError of its own before evaluation 2; ``exit``: rank 1 ends
  its process there (``sys.exit(0)``), which torchrun does not take for a failure;
- ``destroy``: every rank shuts torch.distributed down (``destroy_process_group``) inside the block,
  after evaluation 2; ``once``: rank 1 raises at evaluation 2 in the launch's first attempt only (a
  job that ``torchrun --max-restarts 1`` starts again; ``oncelocked``: the same, and another
  connection holds rank 0's SQLite store locked from then through that attempt's end, which is
  kept beside the store); ``storefail``: rank 0's store refuses
  evaluation 2's point (a locked database), the training goes on; ``endfail``: rank 0's store
  refuses the run's outcome (a full disk), which must not end rank 0's script; ``r0raise``:
  rank 0 raises a ValueError of its own before evaluation 2, which its script catches;
  ``ifdiff``: rank 0 passes ``if_finished="skip"``, rank 1 the default (misuse: one clear error);
  ``studydiff``, ``dbdiff``: rank 1 passes another study name, another store (misuse: the same);
  ``skipdiff``: every rank skips finished runs, and rank 1 passes another study name;
  ``handler``: a stopping handler of the user's raises at evaluation 2 (on rank 0, which runs it);
  ``r0die``: rank 0 is killed outright (SIGKILL) before evaluation 3 in the launch's first attempt.

Each rank writes what it saw (decisions, points, outcome, error) to ``--out/I-KIND-rank-N.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

import powertrain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--pg", help="a PostgreSQL URL, for the scenarios that name it")
    parser.add_argument("--out", required=True)
    parser.add_argument("--scenarios", default="init,plain")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
    for i, token in enumerate(args.scenarios.split(",")):
        if token == "init":
            dist.init_process_group("gloo")
            continue
        kind, study, store = (token.split(":") + [None, None])[:3]
        db = args.pg if store == "pg" else args.db
        if kind == "dbdiff" and rank == 1:  # a store of its own (a db per rank)
            db = str(Path(args.db).with_name("rank-1.db"))
        if kind in ("studydiff", "skipdiff") and rank == 1:
            study = f"{study or kind}-rank-1"
        seen = scenario(kind, study or kind, db, args, rank)
        Path(args.out, f"{i}-{kind}-rank-{rank}.json").write_text(json.dumps(seen))
        if "error" in seen and kind in ("die", "hang"):
            raise SystemExit(1)  # as a user's script would: the launcher then ends the other ranks
    if dist.is_initialized():
        dist.destroy_process_group()


def scenario(kind: str, study: str, db: str, args, rank: int) -> dict:
    seen: dict = {"rank": rank, "decisions": []}
    if kind == "partial" and rank == 1:  # never enters the block; stays alive past rank 0's wait
        time.sleep(args.timeout + 5)
        return seen
    options = {
        "handlers": [failing_handler] if kind == "handler" else [],
        "retry_failed": kind == "retry",
        "if_finished": "skip"
        if kind in ("skip", "skipcheck", "skipdiff") or (kind == "ifdiff" and rank == 0)
        else "refuse",
    }
    if kind == "storefail" and rank == 0:
        refuse_second_point()
    if kind == "oncelocked":
        from powertrain.store import sqlite_open

        sqlite_open.BUSY_TIMEOUT_S = 0.2  # the wait for a lock, shortened
    if kind == "endfail" and rank == 0:
        refuse_the_outcome()
    start = time.monotonic()
    try:
        with powertrain.track(
            study,
            setup={"lr": 0.1},
            seed=rank if kind == "seeds" else 0,
            target=0.7,
            db=db,
            device="cpu",
            rank_timeout_s=args.timeout,
            **options,
        ) as run:
            train(run, kind, rank, seen)
        seen["outcome"] = None if run.outcome is None else run.outcome.status.value
        seen["points"], seen["skipped"] = len(run.points), run.skipped
    except powertrain.PowertrainError as exc:
        seen["error"] = str(exc)
        print(f"rank {rank}: {exc}", flush=True)  # the user's one line
        if type(exc).__name__ == "JobStopped":  # the launcher is ending the job: so do we
            seen["seconds"] = time.monotonic() - start
            Path(args.out, f"stopped-rank-{rank}.json").write_text(json.dumps(seen))
            raise SystemExit(1) from None
    except Exception as exc:  # noqa: BLE001 a script that goes on after its store refused the end
        if kind not in ("endfail", "r0raise", "handler"):
            raise
        seen["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for other in LOCKS:  # the other program ends its transaction
            other.rollback()
            other.close()
        LOCKS.clear()
    seen["seconds"] = time.monotonic() - start
    return seen


LOCKS: list = []  # another program's connections, holding the store locked


def failing_handler(point):
    """A user's stopping handler with a bug that shows at evaluation 2."""
    if point.index == 1:
        raise ZeroDivisionError("the handler's own")
    return None


def refuse_second_point() -> None:
    """This process's SQLite store refuses evaluation 2's point, as a locked database would."""
    import sqlite3

    from powertrain.store.sqlite import SqliteStore

    add = SqliteStore.add_eval_point

    def refusing(self, run_id, point):
        if point.index == 1:
            raise sqlite3.OperationalError("database is locked")
        return add(self, run_id, point)

    SqliteStore.add_eval_point = refusing


def refuse_the_outcome() -> None:
    """This process's SQLite store refuses the run's outcome, as a full disk would."""
    import sqlite3

    from powertrain.store.sqlite import SqliteStore

    def refusing(self, run_id, outcome):
        raise sqlite3.OperationalError("database or disk is full")

    SqliteStore.finish_run = refusing


def train(run, kind: str, rank: int, seen: dict) -> None:
    if kind == "skipcheck" and run.skipped:
        return
    if kind == "hf":
        from tests.integration.test_track_hf import train as hf_train

        out = Path(os.environ.get("TMPDIR", "/tmp"), f"hf-{os.getpid()}")
        seen["epochs"] = hf_train(run, out, epochs=8).state.epoch
        return
    torch.manual_seed(0)
    model, wrapped = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)), None
    if kind == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        for layer in model:
            if isinstance(layer, nn.Linear):
                fully_shard(layer)
        wrapped = fully_shard(model)
    elif dist.is_initialized() and kind != "partial":  # DDP's start waits for every rank itself
        wrapped = nn.parallel.DistributedDataParallel(model)
    loop(run, wrapped or model, kind, rank, seen)


def loop(run, model, kind: str, rank: int, seen: dict) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for k in range(1, 7):
        for _ in range(3):
            x, y = torch.randn(16, 8), torch.randint(0, 2, (16,))
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if k == 3 and rank == 1 and kind == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if k == 3 and rank == 1 and kind == "hang":
            time.sleep(10**6)
        first = os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0"
        if k == 2 and rank == 0 and kind == "oncelocked" and first:
            import sqlite3

            LOCKS.append(sqlite3.connect(str(run.tracker.db), isolation_level=None))
            LOCKS[-1].execute("BEGIN IMMEDIATE")
        if k == 2 and rank == 1 and kind in ("once", "oncelocked") and first:
            raise ValueError("fails in the launch's first attempt")
        if k == 3 and rank == 0 and kind == "r0die" and first:  # the OOM killer, say
            os.kill(os.getpid(), signal.SIGKILL)
        if k == 2 and rank == 0 and kind == "r0raise":
            raise ValueError("rank 0's own error")
        if k == 2 and rank == 1 and kind == "raise":
            raise ValueError("rank 1's own error")
        if k == 2 and rank == 1 and kind == "exit":
            raise SystemExit(0)
        if k == 3 and kind == "destroy":
            dist.destroy_process_group()
            break
        stop = run.evaluate(val_accuracy=min(1.0, 0.2 * k), step=k * 3)
        seen["decisions"].append(stop)
        if stop:
            break


if __name__ == "__main__":
    main()
