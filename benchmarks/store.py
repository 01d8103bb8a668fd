"""Store latency and claim throughput, SQLite beside PostgreSQL, on this machine.

Latency: one process begins (claims) runs, adds evaluation points, saves a timeline, finishes them; microseconds per
operation, median and 99th percentile. Throughput: N processes start at once on one study of many
short runs and claim as fast as they can (claim, then finish at once, no training): runs claimed per
second, all processes together. Then what a study of 10,000 runs spends in the store (a claim, POINTS
points, a timeline and a finish per run), from the medians.

PostgreSQL is a throwaway server started here (``powertrain.testing.postgres``) with its default,
durable settings (fsync and synchronous commit on), over TCP on 127.0.0.1, and again with
``synchronous_commit=off`` for the connection (``?options=-csynchronous_commit%3Doff`` in the URL: a
commit returns before its WAL reaches the disk; a server crash loses the last fraction of a second of
writes, never consistency); SQLite is a file in WAL mode in a temporary folder. The load average is printed beside the figures: other work on the machine
slows both.

    python benchmarks/store.py [--runs 300] [--points 20] [--processes 1,2,4,8] [--claims 400]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

from powertrain.errors import RunClaimed
from powertrain.store import open_store
from powertrain.testing.postgres import PostgresServer
from powertrain.testing.store_contract import PROVENANCE, outcome, point, spec


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(db: str, runs: int, points: int) -> dict[str, list[float]]:
    """Seconds per claim, add-point and finish over ``runs`` runs of ``points`` points."""
    times: dict[str, list[float]] = {"claim": [], "add point": [], "timeline": [], "finish": []}
    with open_store(db) as store:
        store.save_study("st", {})
        for i in range(runs):
            t = time.perf_counter()
            run_id = store.begin_run(spec(f"k{i}"), {"host": "h"}, PROVENANCE)
            times["claim"].append(time.perf_counter() - t)
            for j in range(points):
                t = time.perf_counter()
                store.add_eval_point(run_id, point(j))
                times["add point"].append(time.perf_counter() - t)
            t = time.perf_counter()
            store.save_timeline(run_id, {"t_s": [0, 1]})
            times["timeline"].append(time.perf_counter() - t)
            t = time.perf_counter()
            store.finish_run(run_id, outcome())
            times["finish"].append(time.perf_counter() - t)
    return times


def _claimer(db: str, keys: list[str], go, done) -> None:
    with open_store(db) as store:
        go.wait()
        claimed = 0
        for key in keys:
            try:
                run_id = store.begin_run(spec(key), {"host": "h"}, PROVENANCE)
            except (RunClaimed, ValueError):  # another process has it, or finished it
                continue
            store.finish_run(run_id, outcome())
            claimed += 1
        done.put(claimed)


def throughput(db: str, processes: int, claims: int) -> float:
    """Runs claimed per second by ``processes`` processes at once, over ``claims`` runs."""
    with open_store(db) as store:
        store.save_study("st", {})
    keys = [f"p{processes}-k{i}" for i in range(claims)]
    ctx = multiprocessing.get_context("spawn")
    go, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(db, keys, go, done)) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(3.0)  # every process has opened its store
    start = time.perf_counter()
    go.set()
    total = sum(done.get(timeout=600) for _ in procs)
    wall_s = time.perf_counter() - start
    for p in procs:
        p.join()
    assert total == claims, f"{total} runs claimed of {claims}: a run was claimed twice or never"
    return claims / wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--processes", default="1,2,4,8")
    parser.add_argument("--claims", type=int, default=400)
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    with tempfile.TemporaryDirectory() as tmp, PostgresServer(durable=True) as server:
        relaxed = server.url(schema="relaxed") + "&options=-csynchronous_commit%3Doff"
        backends = {
            "SQLite": str(Path(tmp) / "bench.db"),
            "PostgreSQL": server.url(schema="bench"),
            "PG async commit": relaxed,
        }
        lat = {name: latency(db, args.runs, args.points) for name, db in backends.items()}
        rates = {
            name: [throughput(db, n, args.claims) for n in counts] for name, db in backends.items()
        }
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores; load average (1, 5, 15 min) at the end: {load}")
    print(f"latency over {args.runs} runs of {args.points} points, us per operation:")
    print(f"{'':12}" + "".join(f"{name:>26}" for name in lat))
    print(f"{'':12}" + "".join(f"{'median':>13}{'p99':>13}" for _ in lat))
    for op in ("claim", "add point", "timeline", "finish"):
        cells = "".join(
            f"{statistics.median(t[op]) * 1e6:>13,.0f}{percentile(t[op], 0.99) * 1e6:>13,.0f}"
            for t in lat.values()
        )
        print(f"{op:12}{cells}")
    print(f"claims per second, {args.claims} runs, N processes claiming at once:")
    print(f"{'processes':12}" + "".join(f"{name:>18}" for name in rates))
    for i, n in enumerate(counts):
        print(f"{n:<12}" + "".join(f"{rates[name][i]:>18,.0f}" for name in rates))
    print(f"a study of 10,000 runs ({args.points} points each) spends in the store:")
    for name, t in lat.items():
        per_run_s = sum(
            statistics.median(t[op]) * (args.points if op == "add point" else 1) for op in t
        )
        print(f"  {name}: {per_run_s * 1e3:.1f} ms per run, {per_run_s * 1e4 / 60:.1f} min in all")


if __name__ == "__main__":
    main()
