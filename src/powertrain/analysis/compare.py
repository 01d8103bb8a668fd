"""Two studies, or one study on several machines, side by side: energy-to-target per setup."""

from __future__ import annotations

from dataclasses import dataclass

from powertrain.analysis.serial import fields_of, jsonable
from powertrain.analysis.summary import GroupSummary, SetupSummary, summarise
from powertrain.errors import PowertrainError
from powertrain.store.base import ResultStore


@dataclass(frozen=True)
class Comparison:
    columns: tuple[GroupSummary, ...]
    rows: tuple[tuple[str, tuple[SetupSummary | None, ...]], ...]  # setup label, it in each column

    def to_dict(self) -> dict:
        return {
            "columns": [
                fields_of(
                    g, ("study", "hardware", "energy_method", "waste_ratio_max", "sweep_energy_j")
                )
                for g in self.columns
            ],
            "rows": [
                {"setup": label, "cells": [jsonable(s) for s in cells]}
                for label, cells in self.rows
            ],
        }


def compare(store: ResultStore, first: str, second: str | None = None) -> Comparison:
    configs = {s["name"]: s["config"] for s in store.studies()}
    for name in filter(None, (first, second)):
        if name not in configs:
            raise PowertrainError(
                f"no study named {name!r} in the store; it has {', '.join(configs) or 'none'}"
            )
    runs = store.runs(first) + (store.runs(second) if second else [])
    columns = summarise(runs, configs)
    if len(columns) < 2:
        raise PowertrainError(
            f"nothing to compare: study {first!r} ran on one machine only; name a second study "
            "(powertrain compare A B), or merge stores from other machines"
        )
    labels = list(dict.fromkeys(s.label for g in columns for s in g.setups))
    rows = tuple(
        (label, tuple(next((s for s in g.setups if s.label == label), None) for g in columns))
        for label in labels
    )
    return Comparison(tuple(columns), rows)
