"""Data sets, one loader per module, each returning tensors in memory (``base.Dataset``)."""
