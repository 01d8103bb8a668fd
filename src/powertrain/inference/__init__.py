"""Inference energy, in one room: ``measure`` (a model answering inputs in batches, per 1,000) and
``study`` (``powertrain infer``: a study's trained models rebuilt from their saved weights, measured
round-robin, into the store)."""

from powertrain.inference.measure import InferenceResult, measure_inference

__all__ = ["InferenceResult", "measure_inference"]
