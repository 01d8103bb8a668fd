"""The worker's side of ``powertrain run --workers N``: a Ctrl-C that reaches a worker while it is
still starting (importing torch, opening its meters) ends it quietly; the coordinator says the
study was interrupted, and a worker's traceback would only bury that."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# In a process of its own: a worker (forked, so that it keeps the patch) whose start is cut by a
# real SIGINT, as a Ctrl-C sends one to every process of the terminal's group.
WORKER = textwrap.dedent(
    """
    import dataclasses, multiprocessing, os, signal, time, types
    from powertrain.study import execute
    from powertrain.study.executors.worker_side import worker_main

    @dataclasses.dataclass
    class Study:
        threads: int = 1

    def interrupted(*args, **kwargs):  # the Ctrl-C lands while the worker opens its RunEnv
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        raise AssertionError("no SIGINT came")

    execute.RunEnv.open = interrupted
    slot = types.SimpleNamespace(environ=lambda: {}, threads=1)
    options = {"artifacts_dir": None, "apportion": False}
    context = multiprocessing.get_context("fork")
    mine, theirs = context.Pipe(duplex=True)
    worker = context.Process(
        target=worker_main, args=(slot, Study(), options, theirs, os.getpid()), name="w0"
    )
    worker.start()
    theirs.close()
    worker.join(timeout=30)
    try:
        print("sent", mine.recv())
    except EOFError:
        print("sent nothing")
    print("exit code", worker.exitcode)
    """
)


def test_a_worker_interrupted_while_starting_exits_quietly_and_sends_nothing():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert "sent nothing" in done.stdout  # not a Fatal: nothing went wrong with the worker
    assert "exit code 130" in done.stdout  # a shell's code for an interrupted program


# A Ctrl-C as a worker is spawned: the new interpreter is still importing powertrain and torch
# (unpickling worker_main) when it comes, before worker_main could catch it.
SPAWNED = textwrap.dedent(
    """
    import os, signal
    from powertrain.study.executors.workers import WorkersExecutor

    executor = WorkersExecutor(1)
    worker = executor.start(executor.slots[0], None)
    os.kill(worker.process.pid, signal.SIGINT)
    worker.process.join(timeout=90)
    try:
        print("sent", worker.conn.recv())
    except EOFError:
        print("sent nothing")
    print("exit code", worker.process.exitcode)
    """
)


def test_a_worker_interrupted_while_it_is_spawned_exits_quietly_and_sends_nothing():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", SPAWNED], capture_output=True, text=True, timeout=180, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert "sent nothing" in done.stdout and "exit code 130" in done.stdout, done.stdout
