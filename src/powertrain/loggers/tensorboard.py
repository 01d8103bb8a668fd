"""TensorBoard: event files written by torch's ``SummaryWriter``, one folder per run under the log
folder (``DIR/<study>/<run id> <setup> seed=<seed>``; the same study's run of that id from another
machine's store: ``...@<host>``), so ``tensorboard --logdir DIR`` shows every
run of every study side by side. Scalars are written in double precision (a joule figure keeps its
digits); params and tags go to the HPARAMS tab and as text."""

from __future__ import annotations

import re
from pathlib import Path

from powertrain.loggers.base import (
    Destination,
    Logged,
    RunInfo,
    RunLog,
    free_name,
    nodes_tags,
    outcome_metrics,
    outcome_tags,
    plain,
    point_metrics,
)
from powertrain.records import EvalPoint, RunOutcome

DEFAULT_DIR = "runs"  # torch's SummaryWriter writes under ./runs too


MAX_NAME_BYTES = 200  # file systems take 255 bytes a name; the run id first keeps a cut name apart


def run_folder(root: str | Path, info: RunInfo) -> Path:
    """Where a run's event file goes: a folder name a file system takes (a long one cut short)."""
    name = re.sub(r"[^\w.=+-]+", "_", f"{info.run_id} {info.name}")
    return Path(root) / _short(re.sub(r"[^\w.@+-]+", "_", info.study)) / _short(name)


def _short(name: str) -> str:
    """``name`` cut to ``MAX_NAME_BYTES``; one that is only dots (a study named ``..``, which
    would put its runs beside the log folder) or nothing as underscores."""
    name = name.encode()[:MAX_NAME_BYTES].decode(errors="ignore")
    return "_" * max(len(name), 1) if not name.strip(".") else name


class TensorBoardDestination(Destination):
    name = "tensorboard"

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder or DEFAULT_DIR)

    def open(self, info: RunInfo) -> RunLog:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(self._run_folder(info)))
        writer.add_text("powertrain/run", tags_table(info.tags()), 0, walltime=info.started_at)
        return TensorBoardRun(writer, info)

    def logged(self, info: RunInfo) -> Logged | None:
        """This attempt's event files in its run folder: its run table names its key, id and host
        and was written while it ran (live) or at its start (an export)."""
        folder = self._run_folder(info)
        events = _events(folder)
        if events is None or "powertrain/run/text_summary" not in (
            tags := events.Tags()["tensors"]
        ):
            return None
        if not any(
            table.get("powertrain.run_key") == info.run_key and info.same_attempt(table, began_s)
            for table, began_s in _tables(events)
        ):
            return None
        if "powertrain/outcome/text_summary" in tags:
            return Logged(finished=True)
        from torch.utils.tensorboard import SummaryWriter

        steps = frozenset(e.step for e in events.Tensors("energy_j")) if "energy_j" in tags else ()
        writer = SummaryWriter(log_dir=str(folder))
        return Logged(False, frozenset(steps), TensorBoardRun(writer, info))

    def _run_folder(self, info: RunInfo) -> Path:
        """``run_folder``, unless that holds another machine's run of the same study, id and name
        (its own store's ids count from 1 too): then beside it, ``<run folder>@<host>``."""
        folder = run_folder(self.folder, info)
        host = info.tags().get("powertrain.host")
        if host is None or (events := _events(folder)) is None:
            return folder
        hosts = {table.get("powertrain.host", host) for table, _ in _tables(events)}
        if not hosts or host in hosts:
            return folder
        suffix = "@" + _short(re.sub(r"[^\w.=+-]+", "_", host))[:63]
        cut = folder.name.encode()[: MAX_NAME_BYTES - len(suffix.encode())]
        return folder.with_name(cut.decode(errors="ignore") + suffix)  # a long name keeps it too


def _events(folder: Path):
    """The folder's events, read (TensorBoard's own reader), or None where it holds none."""
    if not any(folder.glob("events.out.tfevents.*")):
        return None
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return events


def _tables(events) -> list[tuple[dict[str, str], float]]:
    """Each run table in the events (``powertrain/run``): its tags, and when it was written."""
    from tensorboard.util import tensor_util

    if "powertrain/run/text_summary" not in events.Tags()["tensors"]:
        return []
    return [
        (table_tags(tensor_util.make_ndarray(e.tensor_proto).item().decode()), e.wall_time)
        for e in events.Tensors("powertrain/run/text_summary")
    ]


#: What a table cell cannot hold as it is, and how it is written there (a backslash first).
_CELL_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "|": "\\|"}
_CELL_TEXT = {escaped[1]: raw for raw, escaped in _CELL_ESCAPES.items()}


def tags_table(tags: dict[str, str]) -> str:
    """Tags as a Markdown table (``| tag | value |`` rows), each value on its one row: a newline,
    carriage return or pipe in it (a setup's text) written as ``\\n``, ``\\r``, ``\\|``."""
    lines = [f"| {k} | {_cell(str(v))} |" for k, v in tags.items()]
    return "| tag | value |\n|---|---|\n" + "\n".join(lines)


def _cell(text: str) -> str:
    return "".join(_CELL_ESCAPES.get(c, c) for c in text)


def table_tags(table: str) -> dict[str, str]:
    """The tags of a run's table as ``tags_table`` writes it."""
    rows = (re.fullmatch(r"\| (\S+) \| (.*) \|", line) for line in table.split("\n"))
    return {row[1]: _uncell(row[2]) for row in rows if row is not None}


def _uncell(text: str) -> str:
    return re.sub(r"\\([\\nr|])", lambda m: _CELL_TEXT[m[1]], text)


class TensorBoardRun(RunLog):
    def __init__(self, writer, info: RunInfo) -> None:
        self.writer, self.info = writer, info
        self.step = 0

    def _scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step, new_style=True, double_precision=True)

    def point(self, point: EvalPoint) -> None:
        self._scalars(point_metrics(point), point.step)
        self.step = point.step

    def nodes(self, nodes: list[dict]) -> None:
        """The run's tags again, at the last step written, with the job's measurement."""
        tags = {**self.info.tags(), **nodes_tags(nodes)}
        self.writer.add_text("powertrain/run", tags_table(tags), self.step)

    def finish(self, outcome: RunOutcome) -> None:
        from torch.utils.tensorboard.summary import hparams

        final = outcome_metrics(outcome)
        self._scalars(final, outcome.steps)
        tags = outcome_tags(outcome)
        self.writer.add_text("powertrain/outcome", tags_table(tags), outcome.steps)
        params = {k: plain(v) for k, v in self.info.params().items()}
        labels = {**self.info.tags(), **tags}  # a distributed run's nodes over rank 0's meters
        for name in ("powertrain.status", "powertrain.measurement", "powertrain.estimated"):
            params[free_name(name, params)] = labels[name]  # HPARAMS: how each row's J were had
        for summary in hparams(params, {k: v for k, v in final.items() if "/" not in k}):
            self.writer.file_writer.add_summary(summary)
        self.writer.close()
