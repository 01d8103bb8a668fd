"""Turns stored runs into the study's answers: ``analyse(store) -> Analysis`` (energy-to-target per
setup, waste, intervals, fronts, paradigms, machines, carbon, and the context to trust them)."""

from powertrain.analysis.analyse import Analysis, analyse
from powertrain.analysis.footprints import CarbonSettings

__all__ = ["Analysis", "CarbonSettings", "analyse"]
