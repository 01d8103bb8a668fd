"""Which rank a process is (launcher environments), and one run's figures out of many ranks' readings:
each device once per node (GPUs by UUID), each rank's processes once, nodes summed."""

from __future__ import annotations

import dataclasses
import math

import pytest

from powertrain import PowertrainError
from powertrain.meters.nvml import NvmlMeter
from powertrain.records import EvalPoint
from powertrain.tracking import board, job
from powertrain.tracking.combine import RankReading, combine
from powertrain.tracking.ranks import from_environment
from tests.fakes.nvml import FakeGpu, FakeNvml


def test_torchrun_environment_names_rank_node_and_local_rank():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "GROUP_RANK": "1"}
    info = from_environment(env)
    assert (info.rank, info.world_size, info.local_rank, info.node_rank) == (3, 4, 1, 1)
    assert info.distributed and not info.leader and info.source == "torchrun"


def test_slurm_is_read_where_torch_names_are_absent():
    env = {"SLURM_PROCID": "9", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1", "SLURM_NODEID": "1"}
    env["SLURM_STEP_ID"] = "0"  # a task of an srun step
    info = from_environment(env)
    assert (info.rank, info.world_size, info.node_rank, info.source) == (9, 16, 1, "SLURM")
    both = {**env, "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}  # torchrun inside SLURM
    assert from_environment(both).source == "torchrun" and from_environment(both).leader


def test_lightning_children_are_not_rank_zero_and_a_lone_process_is():
    child = {"LOCAL_RANK": "1", "NODE_RANK": "0", "WORLD_SIZE": "2"}
    assert not from_environment(child).leader
    assert from_environment({}).leader and not from_environment({}).distributed


@pytest.mark.parametrize(
    "env", [{"RANK": "x", "WORLD_SIZE": "2"}, {"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}]
)
def test_a_nonsense_environment_is_one_clear_error(env):
    with pytest.raises(PowertrainError, match="RANK"):
        from_environment(env)


def reading(rank, node=0, gpus=None, cpu=10.0, rapl=None, host="h"):
    energy = {"cpu": cpu if rapl is None else rapl}
    scope = {"cpu": "process" if rapl is None else "device"}
    if gpus is not None:
        energy["gpu"], scope["gpu"] = sum(gpus.values()), "device"
    return RankReading(rank, node, host, energy, gpus or {}, scope, {"cpu": "estimate"})


def test_a_gpu_two_ranks_see_counts_once_and_each_ranks_processes_are_summed():
    both = {"GPU-a": 300.0, "GPU-b": 100.0}
    combined = combine([reading(1, gpus=both, cpu=7.0), reading(0, gpus=both, cpu=5.0)])
    assert combined.energy_j == {"gpu": 400.0, "cpu": 12.0}
    [node] = combined.nodes
    assert node["ranks"] == [0, 1] and node["gpus"] == ["GPU-a", "GPU-b"]


def test_ranks_bound_to_one_gpu_each_add_up_to_the_union():
    combined = combine([reading(0, gpus={"GPU-a": 300.0}), reading(1, gpus={"GPU-b": 100.0})])
    assert combined.energy_j["gpu"] == 400.0


def test_a_device_wide_counter_is_read_once_per_node_and_nodes_add_up():
    readings = [
        reading(0, node=0, rapl=50.0),
        reading(1, node=0, rapl=51.0),  # the same package, read by another rank of the node
        reading(2, node=1, rapl=30.0),
        reading(3, node=1, rapl=31.0),
    ]
    combined = combine(readings)
    assert combined.energy_j == {"cpu": 80.0}
    assert [n["ranks"] for n in combined.nodes] == [[0, 1], [2, 3]] and combined.ranks == 4


def test_two_node_ranks_on_one_machine_count_its_gpus_and_counters_once():
    """Two torchrun agents on one machine (``--nnodes 2`` twice on a host, or two per SLURM node)
    are two node ranks of one machine: its RAPL package and its GPUs are counted once, not once per
    agent; two machines that share a hostname are two machines."""
    both = {"GPU-a": 300.0, "GPU-b": 100.0}
    one_machine = [
        dataclasses.replace(reading(rank, node=rank // 2, gpus=both, rapl=50.0), machine="boot-1")
        for rank in range(4)
    ]
    combined = combine(one_machine)
    assert combined.energy_j == {"cpu": 50.0, "gpu": 400.0}
    assert [n["ranks"] for n in combined.nodes] == [[0, 1], [2, 3]]
    parts = [n["energy_j"] for n in combined.nodes]
    assert {c: sum(p[c] for p in parts) for c in ("cpu", "gpu")} == combined.energy_j
    assert "node 0" in combined.nodes[1]["read_by"]["cpu"]
    assert "['GPU-a', 'GPU-b'] counted with node [0]" in combined.nodes[1]["read_by"]["gpu"]
    twins = [  # one hostname, two machines, each its own package
        dataclasses.replace(reading(rank, node=rank, rapl=50.0), machine=f"boot-{rank}")
        for rank in range(2)
    ]
    assert combine(twins).energy_j == {"cpu": 100.0}


def test_a_rank_started_as_another_ranks_child_has_its_processes_counted_once():
    """Lightning's ``ddp`` runs the script again for ranks 1.. as children of rank 0's process, whose
    CPU-time and memory estimates count its descendants: rank 1's processes are in rank 0's figure
    already, so its own is not added again."""
    parent = dataclasses.replace(reading(0, cpu=30.0), pid=100, tree_pids=(101, 102))
    child = dataclasses.replace(reading(1, cpu=12.0), pid=101)
    apart = dataclasses.replace(reading(2, cpu=7.0), pid=200)  # torchrun's: no rank's child
    combined = combine([parent, child, apart])
    assert combined.energy_j == {"cpu": 37.0}
    assert "rank 1 counted with rank 0" in combined.nodes[0]["read_by"]["cpu"]
    elsewhere = dataclasses.replace(child, node=1)  # the same pid on another node: not the child
    assert combine([parent, elsewhere]).energy_j == {"cpu": 42.0}


def test_the_nvml_meter_reads_each_gpu_apart_by_uuid():
    nvml = FakeNvml([FakeGpu("GPU-a", energy_mj=0), FakeGpu("GPU-b", energy_mj=0)])
    meter = NvmlMeter(nvml=nvml, environ={})
    nvml.gpus[0].energy_mj, nvml.gpus[1].energy_mj = 3000, 1000
    assert meter.energy_by_gpu_j() == {"GPU-a": 3.0, "GPU-b": 1.0}
    assert meter.energy_j() == pytest.approx(4.0)
    meter.close()


def test_a_lone_process_in_a_slurm_allocation_is_one_run_and_a_launched_rank_needs_a_route():
    from powertrain.tracking.links import link

    def no_store():
        raise AssertionError("no store is opened for a process that exchanges nothing")

    batch = {"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}
    batch["SLURM_JOB_ID"] = "7"  # the batch script's own process: no srun step
    assert link(from_environment(batch), "key", {}, {}, 5.0, no_store, batch) is None
    torchrun = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}  # no agent store offered
    with pytest.raises(PowertrainError, match="init_process_group"):
        link(from_environment(torchrun), "key", {}, {}, 5.0, no_store, torchrun)


def test_lightnings_spawned_ranks_without_world_size_are_not_rank_zero():
    info = from_environment({"LOCAL_RANK": "1", "RANK": "1"})  # what a ddp_spawn child has
    assert info.distributed and not info.leader


def test_ranks_exchange_through_the_store_and_one_that_never_comes_ends_the_wait(tmp_path):
    """The store route of SLURM tasks, two ranks as two threads on one SQLite file: rank 0 gets
    both readings and its decision reaches rank 1; alone, rank 0 gives up at the timeout."""
    import threading

    from powertrain.store import open_store
    from powertrain.tracking import job
    from powertrain.tracking.ranks import RankInfo

    def rank_job(rank, timeout_s=10.0, channel="j/key/0"):
        store = open_store(tmp_path / "s.db")
        info = RankInfo(rank, 2, rank, 0, "h", "SLURM")
        return board.BoardJob(info, "key", {}, {}, timeout_s, board.StoreBoard(store, channel))

    follower_got = []

    def follow(channel="j/key/0"):
        j = rank_job(1, channel=channel)
        j.gather(job.POINT, reading(1, cpu=7.0), 0)
        follower_got.append(j.decide())

    thread = threading.Thread(target=follow)
    thread.start()
    leader = rank_job(0)
    messages = leader.gather(job.POINT, reading(0, cpu=5.0), 0)
    assert leader.problem(messages) is None and leader.combine(messages).energy_j == {"cpu": 12.0}
    leader.decide(job.Decision(status="reached", stop_reason="every target reached"))
    thread.join(10)
    assert follower_got[0].status == "reached" and follower_got[0].stop_reason.startswith("every")
    # a diverged point's NaN loss crosses the store's JSON too (JSON itself has no NaN)
    thread = threading.Thread(target=follow, args=("j/key/nan",))
    thread.start()
    leader = rank_job(0, channel="j/key/nan")
    leader.gather(job.POINT, reading(0, cpu=6.0), 0)
    point = EvalPoint(0, 1, 1.0, 0, float("nan"), 0.1, 1.0, {"cpu": 13.0})
    leader.decide(job.Decision(point=point, status="diverged", stop_reason="loss is nan"))
    thread.join(10)
    got = follower_got[1].point
    assert math.isnan(got.train_loss) and got.energy_j == {"cpu": 13.0}
    # a rank that fails tells rank 0 at once, rather than leaving it to wait out the timeout
    failing = rank_job(1, channel="j/key/failed")
    failing.leave(reading(1), 0, "ValueError: the user's bug")
    leader = rank_job(0, timeout_s=60.0, channel="j/key/failed")
    messages = leader.gather(job.POINT, reading(0), 0)
    assert not leader.open and leader.problem(messages) == (
        "rank 1 failed after 0 evaluations: ValueError: the user's bug"
    )
    alone = rank_job(0, timeout_s=0.3)
    alone.board.channel = "j/key/1"
    with pytest.raises(job.RanksLost, match="rank 1 did not post its figures .* within 0.3 s"):
        alone.gather(job.POINT, reading(0), 0)
    assert not alone.open


def test_sigterm_on_rank_0_fails_the_run_but_waits_while_its_end_is_written():
    import os
    import signal

    from powertrain.tracking import job

    # A library started earlier in this process (ray.init in another test) may have left its own
    # handler, which stop_on_sigterm rightly leaves alone: start from SIGTERM's default action.
    original = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        previous = job.stop_on_sigterm()
        try:
            with pytest.raises(job.JobStopped, match="SIGTERM"):
                os.kill(os.getpid(), signal.SIGTERM)
                signal.getsignal(signal.SIGTERM)  # a bytecode for the handler to run at
            written = []
            with pytest.raises(job.JobStopped), job.sigterm_deferred(True):
                os.kill(os.getpid(), signal.SIGTERM)
                written.append("the outcome")  # not cut short
            assert written == ["the outcome"]
        finally:
            job.restore_sigterm(previous)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, original)


def test_sigterm_handler_of_the_users_own_is_left_alone():
    import signal

    from powertrain.tracking import job

    def theirs(signum, frame):
        pass

    original = signal.signal(signal.SIGTERM, theirs)
    try:
        assert job.stop_on_sigterm() is None
        assert signal.getsignal(signal.SIGTERM) is theirs
    finally:
        signal.signal(signal.SIGTERM, original)


@pytest.mark.parametrize(
    "env, says",
    [
        ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE=0 in the environment is not a job's number"),
        ({"SLURM_PROCID": "0", "SLURM_NTASKS": "0", "SLURM_STEP_ID": "0"}, "SLURM_NTASKS=0"),
        ({"RANK": "0", "WORLD_SIZE": "-3"}, "WORLD_SIZE=-3"),
        ({"RANK": "0", "WORLD_SIZE": str(10**24)}, "not a job's number of processes"),
        ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "-1"}, "LOCAL_RANK=-1 .* not a rank"),
        ({"RANK": "0", "WORLD_SIZE": "2", "GROUP_RANK": "-5"}, "GROUP_RANK=-5"),
        ({"LOCAL_RANK": "0", "NODE_RANK": "-1", "WORLD_SIZE": "2"}, "NODE_RANK=-1"),
        ({"LOCAL_RANK": "-1"}, "LOCAL_RANK=-1 in the environment is not a rank"),
        ({"RANK": "4", "WORLD_SIZE": "4"}, "RANK=4 in the environment is not a rank of a job of"),
        (
            {"SLURM_PROCID": "-2", "SLURM_NTASKS": "4", "SLURM_STEP_ID": "0"},
            "SLURM_PROCID=-2 .* SLURM_NTASKS=4",
        ),
    ],
)
def test_a_launcher_environment_no_job_can_have_is_one_error_naming_the_variable(env, says):
    """World size 0 read as 'unsaid' made a lone process; a negative local or node rank went into
    the run's breakdown; a world size of 10**24 made rank 0 wait for that many ranks."""
    with pytest.raises(PowertrainError, match=says):
        from_environment(env)


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "29500.0", "２９５００"])
def test_a_master_port_that_is_no_port_is_one_clear_error(port):
    from powertrain.tracking.board import torchrun_store

    env = {"TORCHELASTIC_USE_AGENT_STORE": "True", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    with pytest.raises(PowertrainError, match="MASTER_PORT=.* is not a TCP port"):
        torchrun_store(env)
    assert torchrun_store({**env, "MASTER_PORT": " 29500 "}) == ("127.0.0.1", 29500)


def test_torchrun_store_that_does_not_answer_is_ranks_lost_not_a_cpp_traceback():
    from powertrain.tracking import job
    from powertrain.tracking.ranks import RankInfo

    info = RankInfo(1, 2, 1, 0, "h", "torchrun")
    with pytest.raises(job.RanksLost, match="torchrun's store did not answer") as raised:
        board.tcp_board(("127.0.0.1", 1), "key", info, 0.5)  # nothing listens on port 1
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), 1e300, "60"])
def test_a_rank_timeout_that_is_no_wait_is_refused_before_the_run_begins(timeout):
    """NaN made rank 0 wait forever (a comparison with NaN is never true); inf and 1e300 overflowed
    torch's timedelta at the first evaluate; 0 and below gave up before any rank could answer."""
    import powertrain

    with pytest.raises(PowertrainError, match="rank_timeout_s must be a number"):
        powertrain.track("s", db=":memory:", rank_timeout_s=timeout)


def _board_job(store, rank, timeout_s=0.2):
    from powertrain.tracking.ranks import RankInfo

    info = RankInfo(rank, 2, rank, 0, "h", "SLURM")
    return board.BoardJob(info, "key", {}, {}, timeout_s, board.StoreBoard(store, "j/key/0"))


@pytest.mark.parametrize(
    "foreign",
    [
        {"kind": "point", "hello": "from another program"},
        {"rank": 0, "kind": "point", "run_key": "key", "evaluations": 0, "reading": {}},
        {**dataclasses.asdict(job.Message(0, "point", "key", reading(0), 0)), "rank": 0},
    ],
)
def test_a_foreign_message_on_the_channel_ends_the_run_with_the_reason_on_every_rank(foreign):
    """Another program's (or another version's, or another rank's) message where rank 1's belongs
    raised a TypeError on rank 0 with a traceback, and rank 1 waited out its timeout; now it is a
    problem rank 0 sends every rank as its decision."""
    from powertrain.store.memory import MemoryStore

    store = MemoryStore()
    store.post_rank_message("j/key/0", 0, 1, foreign)
    leader = _board_job(store, 0)
    messages = leader.gather(job.POINT, reading(0), 0)
    assert "not what this powertrain posts as rank 1" in leader.problem(messages)


def test_a_body_in_the_table_that_is_not_json_is_one_clear_error(tmp_path):
    from powertrain.store import open_store

    with open_store(tmp_path / "s.db") as store:
        store.db.execute("INSERT INTO rank_messages VALUES ('j/key/0', 0, 1, 'not json', 0)")
        store.db.commit()
        with pytest.raises(PowertrainError, match="from sender 1 is not a JSON object"):
            _board_job(store, 0).gather(job.POINT, reading(0), 0)


def test_a_foreign_decision_is_ranks_lost_on_the_rank_that_reads_it():
    from powertrain.store.memory import MemoryStore
    from powertrain.tracking import job

    store = MemoryStore()
    store.post_rank_message("j/key/0", 0, board.DECISION, {"status": "reached"})
    follower = _board_job(store, 1)
    follower.gather(job.POINT, reading(1), 0)
    with pytest.raises(job.RanksLost, match="rank 0's decision on the board is not what"):
        follower.decide()


def test_two_clusters_of_one_name_with_one_job_id_get_two_channels():
    from powertrain.tracking.board import slurm_step

    here = {"SLURM_JOB_ID": "812", "SLURM_STEP_ID": "0", "SLURM_CLUSTER_NAME": "cluster"}
    there = {**here, "SLURM_JOB_NODELIST": "gpu[01-04]"}
    here["SLURM_JOB_NODELIST"] = "node[001-004]"
    assert slurm_step(here) != slurm_step(there)
    assert slurm_step(here) == slurm_step(dict(here))  # every task of one job: one channel


def test_ranks_lost_in_a_large_job_names_a_few_and_counts_the_rest():
    from powertrain.store.memory import MemoryStore
    from powertrain.tracking.ranks import RankInfo

    info = RankInfo(0, 1000, 0, 0, "h", "SLURM")
    alone = board.BoardJob(info, "key", {}, {}, 0.05, board.StoreBoard(MemoryStore(), "j/k/0"))
    with pytest.raises(job.RanksLost, match="rank 1, rank 2, .*rank 8 and 991 more did not") as e:
        alone.gather(job.POINT, reading(0), 0)
    assert len(str(e.value)) < 400


def test_the_other_ranks_faults_travel_with_the_combined_figures():
    """A rank's figures come with what its meters noted (a counter reset on its node, a window too
    short for its meter): rank 0's travel with its own window; the others' with the combined run."""
    import json
    from types import SimpleNamespace

    from powertrain.monitor import Measurement
    from powertrain.tracking.ranked import RankedRun

    note = "cpu: 0.3 J in 0.4 s is below what the estimate meter resolves well"
    own = dataclasses.replace(reading(0), faults=("cpu: rank 0's own",))
    other = dataclasses.replace(reading(1), faults=(note,))
    combined = combine([other, own])
    assert combined.faults == [f"rank 1: {note}"]
    # a rank's reading carries its run window's faults, as the board's JSON does too
    info = from_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    so_far = Measurement("run", 0.0, 0.4, {"cpu": 0.3}, {}, (note,))
    sent = job.Job(info, "key", {}, {}, 5.0).reading(so_far)
    assert sent.faults == (note,)
    through_json = json.loads(json.dumps(dataclasses.asdict(sent)))  # as the board sends it
    assert list(RankReading(**through_json).faults) == [note]
    # the run's outcome: rank 0's faults (its window's) and the other ranks' (the combined figures')
    leader = SimpleNamespace(_job=object(), points=[])
    assert RankedRun._figures(leader, so_far, combined)[2] == [f"rank 1: {note}"]
    leader._job = SimpleNamespace(last=combined, shut_down=False, failures=list)  # close lost
    assert RankedRun._figures(leader, so_far, None)[2][1:] == [f"rank 1: {note}"]


def _mixed_nodes():
    """Node 0 reads its CPU package's RAPL counter; node 1 has none and estimates its ranks' CPU."""
    rapl = reading(0, node=0, rapl=50.0, host="a")
    counter = dataclasses.replace(rapl, method={"cpu": "counter"}, estimated={"cpu": False})
    estimate = dataclasses.replace(reading(1, node=1, cpu=30.0, host="b"), estimated={"cpu": True})
    return combine([counter, estimate])


def test_a_node_that_estimates_what_rank_0s_node_measures_makes_the_run_an_estimate():
    """Rank 0's meters begin the record: with RAPL there, a job whose other node only estimated its
    CPU was labelled measured, though its sum held that node's estimate."""
    import json

    from powertrain.records import REACHED, RunOutcome, RunRecord

    combined = _mixed_nodes()
    assert [n["estimated"] for n in combined.nodes] == [{"cpu": False}, {"cpu": True}]
    rank_0 = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False, "details": {}}}
    outcome = RunOutcome(REACHED, "target", 80.0, combined.energy_j, 1.0, 1, nodes=combined.nodes)
    stored = json.loads(json.dumps(outcome.to_dict()))  # as a store keeps it
    run = RunRecord(
        1,
        "s",
        "k",
        {},
        {},
        0,
        "reached",
        {},
        rank_0,
        0.0,
        RunOutcome(**{**stored, "status": REACHED, "verdict": None}),
    )
    assert run.estimated and run.method_label.startswith("ESTIMATE")
    assert "estimated on node 1 (b)" in run.provenance["cpu"]["details"]["nodes"]
    assert rank_0["cpu"]["estimated"] is False  # what it was given is left as it was


def test_nodes_that_all_measure_or_do_not_say_leave_the_label_as_rank_0s():
    from powertrain.records import REACHED, RunOutcome, RunRecord

    rank_0 = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False, "details": {}}}
    measured = [
        dataclasses.replace(reading(r, node=r, rapl=50.0), estimated={"cpu": False}) for r in (0, 1)
    ]
    older = [reading(r, node=r, rapl=50.0) for r in (0, 1)]  # a version that did not say
    for readings in (measured, older):
        nodes = combine(readings).nodes
        outcome = RunOutcome(REACHED, "target", 100.0, {"cpu": 100.0}, 1.0, 1, nodes=nodes)
        run = RunRecord(1, "s", "k", {}, {}, 0, "reached", {}, rank_0, 0.0, outcome)
        assert not run.estimated and run.method_label.startswith("measured")


def test_a_component_only_another_node_estimated_is_added_as_an_estimate():
    from powertrain.records import REACHED, RunOutcome, RunRecord

    rank_0 = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False, "details": {}}}
    ram = RankReading(1, 1, "b", {"ram": 5.0}, {}, {"ram": "process"}, {"ram": "estimate"})
    cpu = RankReading(0, 0, "a", {"cpu": 50.0}, {}, {"cpu": "device"}, {"cpu": "counter"})
    nodes = combine([cpu, dataclasses.replace(ram, estimated={"ram": True})]).nodes
    outcome = RunOutcome(REACHED, "target", 55.0, {"cpu": 50.0, "ram": 5.0}, 1.0, 1, nodes=nodes)
    run = RunRecord(1, "s", "k", {}, {}, 0, "reached", {}, rank_0, 0.0, outcome)
    assert run.estimated and run.provenances["ram"].method.value == "estimate"


def test_a_ranks_reading_says_which_figures_are_estimates_through_json_too():
    import json

    from powertrain.meters.base import Component, Method, Provenance
    from powertrain.monitor import Measurement

    class Estimating:
        scope = "process"
        provenance = Provenance("estimate", Method.ESTIMATE, True, {})

    info = from_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    sent = job.Job(info, "key", {Component.CPU: Estimating()}, {}, 5.0).reading(
        Measurement("run", 0.0, 1.0, {"cpu": 3.0}, {}, ())
    )
    assert sent.estimated == {"cpu": True}
    through_json = json.loads(json.dumps(dataclasses.asdict(sent)))  # as the board sends it
    assert RankReading(**through_json).estimated == {"cpu": True}


def test_a_logger_is_told_at_the_end_that_a_node_estimated():
    """The tools' run tags come from rank 0's meters at the start; the outcome says it again."""
    from powertrain.loggers.base import outcome_tags
    from powertrain.records import REACHED, RunOutcome

    nodes = _mixed_nodes().nodes
    tags = outcome_tags(RunOutcome(REACHED, "target", 80.0, {"cpu": 80.0}, 1.0, 1, nodes=nodes))
    assert tags["powertrain.estimated"] == "true"
    assert tags["powertrain.measurement"] == "ESTIMATE (cpu estimated on node 1 (b))"
    alone = outcome_tags(RunOutcome(REACHED, "target", 80.0, {"cpu": 80.0}, 1.0, 1))
    assert "powertrain.estimated" not in alone


def test_the_reports_per_node_table_marks_the_node_that_estimated():
    from types import SimpleNamespace

    from powertrain.render.context import nodes_html

    page = nodes_html([SimpleNamespace(id=1, nodes=_mixed_nodes().nodes)])
    assert "cpu 50.0 J (counter;" in page  # node 0's RAPL
    assert "cpu 30.0 J (ESTIMATE: estimate;" in page


def test_the_default_wait_for_the_ranks_is_no_shorter_than_torch_distributeds_own():
    """Ranks waiting at an evaluate while rank 0 validates alone wait as long as torch's own
    collectives would (its default process-group timeout): powertrain must not end a job that torch
    would let run."""
    import inspect

    from torch.distributed.constants import default_pg_timeout

    from powertrain.tracking.core import Tracker

    default = inspect.signature(Tracker).parameters["rank_timeout_s"].default
    assert default >= default_pg_timeout.total_seconds()


def test_a_batch_scripts_own_process_is_one_process_whatever_its_allocation():
    """Outside an srun step, SLURM_PROCID and SLURM_NTASKS number the allocation's tasks, not
    processes: the batch script's process is alone (no rank 0 of 4 waiting for ranks that will
    never come, nor refusing to hand its run to processes it spawns)."""
    batch = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0"}
    assert not from_environment(batch).distributed
    assert not from_environment({**batch, "SLURM_STEP_ID": "batch"}).distributed
    assert from_environment({**batch, "SLURM_STEP_ID": "0"}).world_size == 4


def test_a_batch_scripts_process_that_starts_torch_distributed_itself_is_its_rank(monkeypatch):
    """A batch script's own process (no srun step) sees the allocation's SLURM_NTASKS; the ranks it
    starts itself (``torch.multiprocessing.spawn``, Lightning's ``ddp``) are torch.distributed's,
    not a second launcher's contradicting it. Inside an srun step SLURM's numbers must agree."""
    from powertrain.tracking import ranks

    monkeypatch.setattr(ranks, "_torch_rank", lambda: (1, 2))
    batch = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0"}
    info = ranks.current(batch)
    assert (info.rank, info.world_size, info.source) == (1, 2, "torch.distributed")
    with pytest.raises(PowertrainError, match="start the job with one launcher"):
        ranks.current({**batch, "SLURM_STEP_ID": "0"})
