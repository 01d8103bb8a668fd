"""A throwaway single-node Slurm for the cluster tests: munge with a key of its own, slurmctld and slurmd
on free ports of 127.0.0.1, all state in a temporary folder, stopped (by the pids they wrote) and removed
at the end. Debian's slurmctld, slurmd, slurm-client and munge (``make test`` installs them as root);
slurmd must run as root to start jobs.

``SlurmCluster(nodes=2)`` is two Slurm nodes on this one machine (``n1``, ``n2``: one slurmd each,
started with ``-N``), scheduled by ``sched/backfill``, which a heterogeneous job needs (and which will
not start one whose components cannot each have a node of their own)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from powertrain.testing.postgres import free_port


def missing() -> str | None:
    """Why this machine cannot start the cluster, or None."""
    for program in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo"):
        if shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            return f"{program} not found (apt-get install slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs"
    return None


class SlurmCluster:
    def __init__(self, nodes: int = 1) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="powertrain-slurm-"))
        self.host = socket.gethostname()
        self.env = {**os.environ, "SLURM_CONF": str(self.root / "slurm.conf")}
        #: Slurm's names of the nodes: this machine's, or n1, n2, ... all on it
        self.nodes = [self.host] if nodes == 1 else [f"n{i}" for i in range(1, nodes + 1)]

    def _path(self, name: str) -> str:
        return str(self.root / name)

    def start(self) -> None:
        sbin = "/usr/sbin/"
        subprocess.run([sbin + "mungekey", "-c", "-k", self._path("munge.key")], check=True)
        os.chmod(self._path("munge.key"), 0o600)
        socket_path = self._path("munge.socket")
        subprocess.run(
            [sbin + "munged", "--force", f"--socket={socket_path}",
             f"--key-file={self._path('munge.key')}", f"--pid-file={self._path('munged.pid')}",
             f"--log-file={self._path('munged.log')}", f"--seed-file={self._path('munged.seed')}"],
            check=True, capture_output=True,
        )  # fmt: skip
        (self.root / "slurm.conf").write_text(self._config(socket_path))
        subprocess.run([sbin + "slurmctld", "-c"], env=self.env, check=True, capture_output=True)
        for node in self.nodes:
            named = ["-N", node] if len(self.nodes) > 1 else []
            subprocess.run(
                [sbin + "slurmd", "-c", *named], env=self.env, check=True, capture_output=True
            )
        self._wait_until_idle()

    def _config(self, munge_socket: str) -> str:
        config = self._common(munge_socket)
        cpus = os.cpu_count() or 1
        if len(self.nodes) == 1:
            return (
                config
                + f"""SlurmdPort={free_port()}
SlurmdPidFile={self._path("slurmd.pid")}
SlurmdSpoolDir={self._path("spool")}
SlurmdLogFile={self._path("slurmd.log")}
SchedulerType=sched/builtin
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""
            )
        nodes = "".join(
            f"NodeName={node} NodeHostname={self.host} NodeAddr=127.0.0.1 Port={free_port()} "
            f"CPUs={cpus} State=UNKNOWN\n"
            for node in self.nodes
        )
        return (
            config
            + f"""SlurmdPidFile={self._path("slurmd.%n.pid")}
SlurmdSpoolDir={self._path("spool.%n")}
SlurmdLogFile={self._path("slurmd.%n.log")}
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
{nodes}PartitionName=test Nodes={",".join(self.nodes)} Default=YES MaxTime=INFINITE State=UP \
OverSubscribe=FORCE:4
"""
        )

    def _common(self, munge_socket: str) -> str:
        return f"""ClusterName=powertrain-test
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SlurmUser=root
SlurmctldPidFile={self._path("slurmctld.pid")}
StateSaveLocation={self._path("state")}
SlurmctldLogFile={self._path("slurmctld.log")}
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
"""

    def _wait_until_idle(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True
            )
            states = set(done.stdout.split())
            if states and states <= {"idle", "mix", "alloc"}:  # every node up
                return
            time.sleep(0.2)
        raise RuntimeError(f"the test Slurm never came up: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-2000:] for p in self.root.glob("*.log") if p.is_file()
        )

    def stop(self) -> None:
        """Stop the daemons (each slurmd, slurmctld, munged) by the pids they wrote, then remove the
        folder."""
        slurmds = sorted(self.root.glob("slurmd*.pid"))
        for pid_file in [*slurmds, self.root / "slurmctld.pid", self.root / "munged.pid"]:
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
