"""Which machine a rank runs on, for counting a machine's device-wide counters (RAPL) once
(``ranks.machine``, ``combine.combine``): the kernel's boot id, which a machine's containers share
and a separately booted machine (a clone of one image too) does not. Where it cannot be read, the
machine is unknown: a hostname, which repeats, never merges two node ranks' counters."""

from __future__ import annotations

import dataclasses

from powertrain.tracking import ranks
from powertrain.tracking.combine import RankReading, combine


def rapl(rank: int, node: int, machine: str, joules: float = 50.0) -> RankReading:
    """A rank's reading of its machine's RAPL package (device-wide), on host "h"."""
    cpu = RankReading(rank, node, "h", {"cpu": joules}, scope={"cpu": "device"})
    return dataclasses.replace(cpu, machine=machine)


def test_the_boot_id_names_the_machine(tmp_path):
    (tmp_path / "sys/kernel/random").mkdir(parents=True)
    (tmp_path / "sys/kernel/random/boot_id").write_text("3f2a\n")
    assert ranks.machine(tmp_path) == "boot-3f2a"


def test_two_machines_sharing_a_hostname_without_a_readable_boot_id_are_not_merged(tmp_path):
    """No boot id (not Linux, a /proc that hides it): the hostname, which two machines may share
    ("localhost", a container image's), must not make their RAPL packages one."""
    unknown = ranks.machine(tmp_path)  # no sys/kernel/random/boot_id here
    readings = [rapl(0, 0, unknown), rapl(1, 1, unknown)]
    assert combine(readings).energy_j == {"cpu": 100.0}


def test_two_machines_one_node_number_and_hostname_count_each_package():
    """Launchers that number no nodes (mpirun: every rank's node is 0) on two machines that share a
    hostname: two boot ids are two machines, each package counted, not one for both."""
    readings = [rapl(0, 0, "boot-a"), rapl(1, 0, "boot-b")]
    combined = combine(readings)
    assert combined.energy_j == {"cpu": 100.0}
    assert sorted(r for n in combined.nodes for r in n["ranks"]) == [0, 1]
    one = combine([rapl(0, 0, "boot-a"), rapl(1, 0, "boot-a", joules=51.0)])
    assert one.energy_j == {"cpu": 50.0}  # one machine's two ranks: its package once
