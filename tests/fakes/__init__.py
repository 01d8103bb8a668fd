"""Fakes built the way the real interfaces behave: NVML (nvidia-ml-py) and the powercap sysfs tree."""
