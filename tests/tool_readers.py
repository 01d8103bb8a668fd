"""What each tool recorded, read back with the tool's own reader: MLflow's client, TensorBoard's
EventAccumulator, and a W&B offline run file (W&B's record log, parsed with W&B's own protobuf)."""

from __future__ import annotations

import json
from pathlib import Path


def mlflow_runs(tracking_uri: str, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    return client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])


def mlflow_history(tracking_uri: str, run_id: str, key: str) -> dict[int, float]:
    from mlflow.tracking import MlflowClient

    history = MlflowClient(tracking_uri=tracking_uri).get_metric_history(run_id, key)
    return {m.step: m.value for m in history}


def tensorboard_scalars(folder: Path) -> dict[str, dict[int, float]]:
    """Every scalar of one run folder: tag -> {step: value} (double-precision tensors)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    scalars = {
        tag: {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)}
        for tag in events.Tags()["tensors"]
        if not tag.startswith("powertrain/")
    }
    for tag in events.Tags()["scalars"]:
        scalars[tag] = {e.step: e.value for e in events.Scalars(tag)}
    return scalars


def tensorboard_text(folder: Path, tag: str) -> str:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return "\n".join(
        tensor_util.make_ndarray(e.tensor_proto).item().decode()
        for e in events.Tensors(f"{tag}/text_summary")
    )


def tensorboard_hparams(folder: Path) -> dict:
    """The HPARAMS tab's values of one run folder (its session start): name -> number or text."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    for content in events.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            values = data.session_start_info.hparams.items()
            return {k: getattr(v, v.WhichOneof("kind")) for k, v in values}
    return {}


def wandb_records(path: Path) -> list:
    from powertrain.loggers.wandb import records

    assert path.read_bytes()[:4] == b":W&B"
    return list(records(path))


def wandb_run(folder: Path) -> dict:
    """One offline run folder: its name, tags, config, history rows (by step) and summary."""
    (path,) = folder.glob("run-*.wandb")
    run: dict = {"history": {}, "summary": {}}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["name"], run["tags"] = record.run.display_name, list(record.run.tags)
            run["group"] = record.run.run_group
            run["config"] = {i.key: json.loads(i.value_json) for i in record.run.config.update}
        elif kind == "config":  # a later change of the config (``config.update``)
            run["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            row = {
                i.key or "/".join(i.nested_key): json.loads(i.value_json)
                for i in record.history.item
            }
            run["history"][int(row["_step"])] = row
        elif kind == "summary":
            run["summary"].update(
                {i.key: json.loads(i.value_json) for i in record.summary.update if i.key}
            )
        elif kind == "exit":
            run["exit_code"] = record.exit.exit_code
    return run
