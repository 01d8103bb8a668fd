"""What a search's stop question costs a run on a worker, per evaluation point: the worker sends the
point, asks whether to stop and waits for the coordinator's answer (the typed messages of
``study/executors/messages.py``, through the real ``PipeSink`` on the worker's side and the real
``WorkerSession.wait`` on the coordinator's), against the same decision as a plain call in the process
that trains (the local executor: the handler called inline).

Printed side by side, per point (median of ``--reps``):

- ``plain call``: the stopping handler called in the run's own process;
- ``point only``: a point sent down the pipe with no question (the grid on workers: it never asks);
- ``typed``: the point sent, then ``AskStop`` answered by ``Answer`` (what a search's run pays);
- ``bare``: the typed messages answered in a bare loop (a ``match`` on the record, no session), so
  that the types' own cost shows apart from the session's loop;
- ``tuple``: the same exchange with string-tagged tuples and a bare if-chain on the same pipe, with
  the same wait before each receive (what the typed messages replaced; the real session's loop does
  more per message than this bare one: it looks for dead workers and for work to hand out);

and the question's own cost (typed minus point only), its ratio to the plain call and to the tuple
exchange, the median and the best of the repetitions, with the load average before and after. Two
processes on a busy 2-core machine wait on each other's scheduling: say the load with the figure.

    python benchmarks/stop_question.py [--points 20000] [--reps 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from multiprocessing.connection import wait

from powertrain.records import EvalPoint
from powertrain.study.executors.base import Job
from powertrain.study.executors.messages import Answer, AskStop, Idle, Point
from powertrain.study.executors.worker_side import POLL_S, PipeSink
from powertrain.study.executors.workers import Worker, WorkerSession
from powertrain.train.stopping import first_stop

BOUND_J = 1e12  # never reached: every answer is "go on", as for most points of a real run


def point(i: int) -> EvalPoint:
    """An evaluation point as a run sends it: cumulative energy per component."""
    return EvalPoint(
        i, 10 * i, i / 50, 160 * i, 0.5, 0.8, 0.1 * i, {"cpu": 0.3 * i, "dram": 0.02 * i}
    )


def bound(p: EvalPoint) -> str | None:
    """The decision: a bound on the run's energy, like the strategies' and the rung budget."""
    return "past the bound" if p.total_energy_j > BOUND_J else None


def plain_call_s(points: int) -> float:
    """Seconds per point, the handler called inline (the local executor's path)."""
    handlers = [bound]
    ps = [point(i) for i in range(points)]
    start = time.perf_counter()
    for p in ps:
        first_stop(handlers, p)
    return (time.perf_counter() - start) / points


def typed_worker(conn, points: int, ask: bool) -> None:
    """The worker's side, through the real PipeSink: each point sent, then (``ask``) the question."""
    sink = PipeSink(conn)
    ps = [point(i) for i in range(points)]
    start = time.perf_counter()
    for p in ps:
        sink.eval_point(1, p)
        if ask:
            sink.ask_stop(p)
    elapsed = time.perf_counter() - start
    conn.send(Idle())
    conn.send(elapsed / points)


def tuple_worker(conn, points: int, ask: bool) -> None:
    ps = [point(i) for i in range(points)]
    start = time.perf_counter()
    for p in ps:
        conn.send(("point", p))
        if ask:
            conn.send(("ask", p))
            conn.recv()
    elapsed = time.perf_counter() - start
    conn.send(("idle",))
    conn.send(elapsed / points)


class NullSink:
    """The coordinator's sink, writing nothing: the store's cost is not the question's."""

    def eval_point(self, run_id, p) -> None:
        pass


def serve_typed(conn, process) -> None:
    """The coordinator's side: the real session's wait, until the worker is done with its task."""
    worker = Worker(None, process, conn, ready=True, job=Job(None, bound), run_id=1)
    WorkerSession(None, None, NullSink(), [worker]).wait()


def serve_typed_bare(conn, process) -> None:
    """The typed messages in a bare loop (no session): the types' own cost, apart from the loop's."""
    while True:
        wait([conn], timeout=POLL_S)
        match conn.recv():
            case Point(p):
                NullSink().eval_point(1, p)
            case AskStop(p):
                conn.send(Answer(bound(p)))
            case Idle():
                return


def serve_tuple(conn, process) -> None:
    while True:
        wait([conn], timeout=POLL_S)
        message = conn.recv()
        if message[0] == "point":
            NullSink().eval_point(1, message[1])
        elif message[0] == "ask":
            conn.send(("answer", bound(message[1])))
        elif message[0] == "idle":
            return


def exchange_s(kind: str, points: int, ask: bool) -> float:
    """Seconds per point on the worker's side, for one task of ``points`` points."""
    context = mp.get_context("spawn")  # as the workers start
    mine, theirs = context.Pipe(duplex=True)
    target, serve = {
        "typed": (typed_worker, serve_typed),
        "bare": (typed_worker, serve_typed_bare),
        "tuple": (tuple_worker, serve_tuple),
    }[kind]
    process = context.Process(target=target, args=(theirs, points, ask), daemon=True)
    process.start()
    serve(mine, process)
    per_point_s = mine.recv()
    process.join()
    return per_point_s


def report(name: str, us: dict[str, float], args) -> None:
    question, tuple_question = us["typed"] - us["point"], us["tuple"] - us["point"]
    print(f"{args.points} points x {args.reps} reps, {os.cpu_count()} CPUs; {name} per point:")
    print(f"  plain call (the handler inline):      {us['plain']:8.2f} µs")
    print(f"  point only (sent, no question):       {us['point']:8.2f} µs")
    print(f"  point + typed question (AskStop):     {us['typed']:8.2f} µs")
    print(f"  point + typed question, bare loop:    {us['bare']:8.2f} µs")
    print(f"  point + tuple-tagged question:        {us['tuple']:8.2f} µs")
    print(f"  the question itself: typed {question:.1f} µs, tuple-tagged {tuple_question:.1f} µs")
    print(f"  ratio typed question / plain call: {question / us['plain']:.0f}x")
    print(f"  ratio typed / tuple-tagged exchange (per point): {us['typed'] / us['tuple']:.2f}")
    print(
        f"  ratio typed bare loop / tuple-tagged (the types alone): {us['bare'] / us['tuple']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs: dict[str, list[float]] = {"plain": [], "point": [], "typed": [], "bare": [], "tuple": []}
    exchanges = [("point", "typed", False), ("typed", "typed", True), ("bare", "bare", True)]
    exchanges.append(("tuple", "tuple", True))
    for rep in range(args.reps):
        runs["plain"].append(plain_call_s(args.points))
        for name, kind, ask in exchanges[rep % 4 :] + exchanges[: rep % 4]:  # no fixed order
            runs[name].append(exchange_s(kind, args.points, ask))
    load_after = os.getloadavg()
    for name, pick in (("median", statistics.median), ("best", min)):
        report(name, {k: pick(v) * 1e6 for k, v in runs.items()}, args)
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
