"""Weights & Biases: one W&B run per powertrain run, grouped by study. W&B's own settings decide
where: ``WANDB_PROJECT`` (default: the study's name), ``WANDB_MODE=offline`` (a run folder under
``./wandb``, or ``WANDB_DIR``), ``WANDB_ENTITY``, the login. Params go to the run's config, the
provenance and identity to its config under ``powertrain`` and as short tags."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from powertrain.loggers.base import (
    Destination,
    Logged,
    RunInfo,
    RunLog,
    free_name,
    nodes_method,
    nodes_tags,
    outcome_metrics,
    outcome_tags,
    plain,
    point_metrics,
    through_proxy,
)
from powertrain.meters.base import is_estimated, method_label
from powertrain.records import FAILED, EvalPoint, RunOutcome, estimated_on_nodes
from powertrain.store.location import mask_urls

REACH_S = 5.0  # how long the W&B server has to accept a connection
OFFLINE_MODES = ("offline", "dryrun", "disabled")  # W&B's modes that reach no server
MAX_TAG_CHARS = 64  # W&B refuses longer tags
MAX_PROJECT_CHARS = 128  # and longer project names (the group keeps the whole study name)


class WandbDestination(Destination):
    name = "wandb"

    def open(self, info: RunInfo) -> RunLog:
        import wandb

        check_reachable(wandb.setup().settings)  # W&B itself waits 90 s for a server not there
        project = (
            os.environ.get("WANDB_PROJECT")
            or re.sub(r"[^\w.-]+", "-", info.study)[:MAX_PROJECT_CHARS]
        )
        config = {k: plain(v) for k, v in info.params().items()}
        ours = free_name("powertrain", config)  # a hyperparameter of that name keeps it
        config[ours] = info.tags()
        tags = ["estimate" if is_estimated(info.provenance) else "measured"]
        tags += [f"{c}:{method_label(p)}" for c, p in info.provenance.items()]
        again = {} if info.started_at is None else {"id": run_id(info), "resume": "allow"}
        run = wandb.init(
            project=project,
            group=info.study,
            name=info.name,
            config=config,
            tags=[t[:MAX_TAG_CHARS] for t in tags],
            reinit="create_new",  # one W&B run per powertrain run, several open at once
            settings=wandb.Settings(x_disable_meta=secret_in_args()),
            **again,  # the attempt's own id, live or exported: an export is the live run again
        )
        return WandbRun(run, ours)

    def logged(self, info: RunInfo) -> Logged | None:
        """Offline, the attempt's run folder from its live logging or an earlier export (both
        ``offline-run-*-<id>`` under ``WANDB_DIR``) where that run got its outcome; one cut short (the
        tool's error, an interrupt, a killed job) is written again, whole, under the same id. Online
        W&B itself makes an export the same run (its id) as the live one or an earlier export."""
        if info.started_at is None or os.environ.get("WANDB_MODE") not in ("offline", "dryrun"):
            return None
        root = Path(os.environ.get("WANDB_DIR") or ".") / "wandb"
        folders = root.glob(f"offline-run-*-{run_id(info)}")
        return Logged(finished=True) if any(ended(f) for f in folders) else None


def check_reachable(settings, timeout_s: float = REACH_S) -> None:
    """Online, a W&B server that does not take a connection within ``timeout_s`` is refused at once
    (``wandb.init`` waits ``init_timeout``, 90 s by default, at every run, saying nothing): a
    ConnectionError saying what to do, for the one warning that disables W&B for the session.
    Behind a proxy (``HTTPS_PROXY``, as W&B honours it) the proxy is what must answer."""
    if settings.mode in OFFLINE_MODES:
        return
    parts = urlsplit(settings.base_url or "")
    if not parts.hostname:
        return
    what, where = "W&B server", parts
    proxy = through_proxy(
        parts.scheme, parts.hostname, getattr(settings, f"{parts.scheme}_proxy", None)
    )
    if proxy is not None:
        what, where = "proxy to the W&B server", proxy
    port = where.port or (443 if where.scheme == "https" else 80)
    try:
        socket.create_connection((where.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectionError(
            f"the {what} {where.hostname}:{port} does not answer ({exc}); no network, or "
            "WANDB_BASE_URL (or the proxy) is wrong: set WANDB_MODE=offline to log to ./wandb and "
            "`wandb sync` the runs later"
        ) from None


def secret_in_args() -> bool:
    """Whether this program's arguments hold a URL with a password (``--db postgresql://u:pw@...``).
    W&B keeps the arguments in each run's metadata, and uploads them: its system metadata is then
    left out of the run, since W&B takes no masked arguments."""
    return any("***" in mask_urls(arg) and "***" not in arg for arg in sys.argv)


BLOCK = 32768  # W&B's record log: a 7-byte header, then 32 KiB blocks of (crc, length, type, data)


def records(path: Path) -> Iterator:
    """The records of a W&B run file (``run-<id>.wandb``), parsed with W&B's own protobuf; a file
    cut short (its process killed) ends at its last whole record."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, chunk = path.read_bytes(), 7, b""
    if data[:4] != b":W&B":
        return
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            return
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            try:
                record.ParseFromString(chunk)
            except DecodeError:
                return
            yield record
            chunk = b""


def ended(folder: Path) -> bool:
    """Whether the offline run in ``folder`` got its outcome (``WandbRun.finish``: the summary's
    ``powertrain.status``); W&B's own exit record does not tell, W&B ends a run cut short too."""
    return any(
        (item.key or ".".join(item.nested_key)) == "powertrain.status"  # nested: a W&B that splits
        for path in folder.glob("run-*.wandb")
        for record in records(path)
        if record.WhichOneof("record_type") == "summary"
        for item in record.summary.update
    )


def run_id(info: RunInfo) -> str:
    """The W&B run id of an attempt, logged live or exported: its study, run key and start (the
    store's record's), hashed."""
    identity = f"{info.study}\0{info.run_key}\0{info.started_at!r}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class WandbRun(RunLog):
    def __init__(self, run, ours: str = "powertrain") -> None:
        self.run, self.ours = run, ours  # the config's key of powertrain's tags

    def point(self, point: EvalPoint) -> None:
        self.run.log(point_metrics(point), step=point.step)

    def nodes(self, nodes: list[dict]) -> None:
        """The "measured" tag becomes "estimate", and the config's measurement says which node."""
        tags = nodes_tags(nodes)
        if tags:
            methods = {
                c: f"{c}:{nodes_method(nodes, c)}" for c in estimated_on_nodes(nodes)
            }  # "cpu:counter" -> "cpu:counter+estimate"
            self.run.tags = tuple(
                "estimate" if t == "measured" else methods.get(t.split(":")[0], t)
                for t in self.run.tags
            )
            self.run.config.update(
                {self.ours: {**dict(self.run.config.get(self.ours, {})), **tags}},
                allow_val_change=True,
            )

    def finish(self, outcome: RunOutcome) -> None:
        self.nodes(outcome.nodes)  # a run whose nodes were heard only now (spawned ranks)
        self.run.summary.update({**outcome_metrics(outcome), **outcome_tags(outcome)})
        self.run.finish(exit_code=1 if outcome.status == FAILED else 0)
