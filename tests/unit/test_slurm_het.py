"""Heterogeneous SLURM jobs (``sbatch -n4 : -n2``), from the environment SLURM documents for them
(slurm.schedmd.com/heterogeneous_jobs.html): one ``srun a : b`` numbers the tasks across the components
(``SLURM_PROCID``, ``SLURM_NTASKS``), sets ``SLURM_HET_SIZE`` and lists every component's nodes in
``SLURM_JOB_NODELIST``, while ``SLURM_NODEID`` counts a node once per component it runs, so a node
two components share has two numbers. powertrain counts such a job as one run with each node, and so
each device, once. A real heterogeneous job runs in tests/integration/test_slurm_het_job.py, but
Slurm's backfill scheduler gives components a shared node only when it chooses to, so the shared node
is an environment fake, with the variables that job showed (Slurm 22.05)."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.slurm import expand_nodelist, het_node_rank, slurm_job
from powertrain.tracking.combine import DEVICE, RankReading, combine
from powertrain.tracking.ranks import from_environment

#: salloc -N1 -n2 : -N2 -n2, then srun --het-group=0,1: component 0 on nid00011, component 1 on
#: nid00011 and nid00012 (SLURM_NODEID offset by component 0's one node)
HET_STEP = {
    "SLURM_JOB_ID": "11751",
    "SLURM_HET_SIZE": "2",
    "SLURM_STEP_ID": "0",
    "SLURM_NTASKS": "4",
    "SLURM_JOB_NODELIST": "nid[00011-00012]",
}
TASKS = [  # (SLURM_PROCID, SLURM_LOCALID, SLURM_NODEID, SLURMD_NODENAME)
    (0, 0, 0, "nid00011"),
    (1, 1, 0, "nid00011"),
    (2, 0, 1, "nid00011"),  # component 1's first node is component 0's node
    (3, 0, 2, "nid00012"),
]


def task_env(procid, localid, nodeid, name, **more) -> dict[str, str]:
    return {
        **HET_STEP,
        "SLURM_PROCID": str(procid),
        "SLURM_LOCALID": str(localid),
        "SLURM_NODEID": str(nodeid),
        "SLURMD_NODENAME": name,
        **more,
    }


def test_a_node_two_components_share_is_one_node_and_its_devices_count_once():
    infos = [from_environment(task_env(*task)) for task in TASKS]
    assert [(i.rank, i.world_size, i.source) for i in infos] == [(r, 4, "SLURM") for r in range(4)]
    assert [i.node_rank for i in infos] == [0, 0, 0, 1]  # nid00011 is node 0 for all three
    readings = [  # each rank reads its node's RAPL package: 100 J on every node
        RankReading(i.rank, i.node_rank, task[3], {"cpu": 100.0}, scope={"cpu": DEVICE})
        for i, task in zip(infos, TASKS, strict=True)
    ]
    combined = combine(readings)
    assert combined.energy_j == {"cpu": 200.0}  # two machines, not three (nor four)
    assert [(n["host"], n["ranks"]) for n in combined.nodes] == [
        ("nid00011", [0, 1, 2]),
        ("nid00012", [3]),
    ]


def test_an_ordinary_job_keeps_slurms_node_numbers():
    plain = {k: v for k, v in task_env(*TASKS[3]).items() if k != "SLURM_HET_SIZE"}
    assert from_environment(plain).node_rank == 2
    assert het_node_rank({}, 5) == 5


def test_slurm_before_20_02_says_pack_and_is_read_the_same():
    old = {k: v for k, v in task_env(*TASKS[2]).items() if k != "SLURM_HET_SIZE"}
    assert from_environment({**old, "SLURM_PACK_SIZE": "2"}).node_rank == 0


@pytest.mark.parametrize(
    "change, said",
    [
        ({"SLURMD_NODENAME": "elsewhere"}, "'elsewhere' is not in SLURM_JOB_NODELIST"),
        ({"SLURM_JOB_NODELIST": "nid[00011-"}, "is not a SLURM host list"),
        ({"SLURM_JOB_NODELIST": "nid[9-1]"}, "is not a SLURM host list"),
        ({"SLURM_JOB_NODELIST": "n[0-99999999]"}, "names over"),
        # each bracket under the limit, their product far over it: refused before it is made
        ({"SLURM_JOB_NODELIST": "r[1-60000]-n[1-60000]"}, "names over"),
        ({"SLURM_JOB_NODELIST": "nid[1-]"}, "is not a SLURM host list"),
        ({"SLURM_HET_SIZE": "two"}, "SLURM_HET_SIZE='two' in the environment is not a count"),
    ],
)
def test_what_cannot_be_placed_is_one_clear_error(change, said):
    with pytest.raises(PowertrainError, match=said.replace("[", r"\[")):
        from_environment(task_env(*TASKS[0], **change))


@pytest.mark.parametrize(
    "text, names",
    [
        ("nid00011", ["nid00011"]),
        ("nid[00001,00011-00012]", ["nid00001", "nid00011", "nid00012"]),
        ("gpu[1-2],login1,gpu2", ["gpu1", "gpu2", "login1"]),
        ("rack[1-2]-n[08-09]", ["rack1-n08", "rack1-n09", "rack2-n08", "rack2-n09"]),
        ("a[7]", ["a7"]),
    ],
)
def test_slurm_host_lists_expand_as_slurm_writes_them(text, names):
    assert expand_nodelist(text) == names


def test_the_hardware_record_says_the_job_is_heterogeneous():
    assert slurm_job(task_env(*TASKS[2]))["het_size"] == "2"
    assert "het_size" not in slurm_job({"SLURM_JOB_ID": "7"})
