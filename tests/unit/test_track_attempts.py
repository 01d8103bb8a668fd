"""A restarted torchrun launch (``--max-restarts``) replaces the run its earlier attempt failed, and
only that one (``tracking/attempts.py``): rank 0 notes the run it began in torchrun's store, a real
TCPStore here, as the launcher's agent keeps it."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import torch.distributed as dist

from powertrain.records import FAILED, REACHED
from powertrain.tracking import attempts
from tests.distributed_helpers import free_port


@pytest.fixture
def launch():
    """torchrun's environment for a launch of one restart, its store listening (the agent's)."""
    port = free_port()
    agent = dist.TCPStore("127.0.0.1", port, None, True, timeout=timedelta(seconds=5))
    env = {
        "TORCHELASTIC_USE_AGENT_STORE": "True",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "TORCHELASTIC_MAX_RESTARTS": "1",
        "TORCHELASTIC_RESTART_COUNT": "0",
    }
    yield env
    del agent


def store_of(*runs):
    return SimpleNamespace(runs=lambda study: [SimpleNamespace(**r) for r in runs])


def test_a_restart_replaces_the_run_its_launch_began_and_failed(launch):
    attempts.note_begun("s", "key", 7, launch)
    restarted = {**launch, "TORCHELASTIC_RESTART_COUNT": "1"}
    failed = store_of({"id": 7, "run_key": "key", "status": FAILED})
    assert attempts.failed_earlier(failed, "s", "key", restarted)
    assert not attempts.failed_earlier(failed, "s", "key", launch)  # the first attempt
    assert not attempts.failed_earlier(failed, "other study", "key", restarted)
    reached = store_of({"id": 7, "run_key": "key", "status": REACHED})
    assert not attempts.failed_earlier(reached, "s", "key", restarted)  # finished: refused


def test_a_run_an_earlier_launch_failed_is_not_replaced_on_a_restart(launch):
    attempts.note_begun("s", "key", 8, launch)  # this launch's run died before it was begun anew
    restarted = {**launch, "TORCHELASTIC_RESTART_COUNT": "1"}
    earlier = store_of({"id": 3, "run_key": "key", "status": FAILED})
    assert not attempts.failed_earlier(earlier, "s", "key", restarted)


def test_nothing_is_noted_where_no_restart_is_left(launch):
    last = {**launch, "TORCHELASTIC_RESTART_COUNT": "1"}
    attempts.note_begun("s", "key", 9, last)
    restarted = {**launch, "TORCHELASTIC_MAX_RESTARTS": "2", "TORCHELASTIC_RESTART_COUNT": "2"}
    failed = store_of({"id": 9, "run_key": "key", "status": FAILED})
    assert not attempts.failed_earlier(failed, "s", "key", restarted)


def test_a_requeued_slurm_job_replaces_the_run_it_failed_and_only_that_job_does():
    """``scontrol requeue`` (or a node failure with ``--requeue``) starts the job again under its own
    id, SLURM_RESTART_COUNT counting up: the run that job failed is replaced, not refused."""
    job = {"SLURM_JOB_ID": "4242", "SLURM_CLUSTER_NAME": "c1", "SLURM_RESTART_COUNT": "1"}
    mine = {"slurm": {"job_id": "4242", "cluster": "c1"}}
    failed = store_of({"id": 5, "run_key": "key", "status": FAILED, "hardware": mine})
    assert attempts.failed_earlier(failed, "s", "key", job)
    assert not attempts.failed_earlier(failed, "s", "key", {**job, "SLURM_RESTART_COUNT": "0"})
    other = {"slurm": {"job_id": "4242", "cluster": "c2"}}  # another cluster's job of that id
    theirs = store_of({"id": 5, "run_key": "key", "status": FAILED, "hardware": other})
    assert not attempts.failed_earlier(theirs, "s", "key", job)
    reached = store_of({"id": 5, "run_key": "key", "status": REACHED, "hardware": mine})
    assert not attempts.failed_earlier(reached, "s", "key", job)
