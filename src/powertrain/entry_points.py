"""Installed packages' entry points, read once per interpreter path and without
``importlib.metadata``: importing that (and the ``email`` package it parses metadata with) and letting it
build every distribution's metadata cost more than all of starting a measurement.

The scan lists the ``*.dist-info`` and ``*.egg-info`` folders on ``sys.path`` (the first of a name
wins, as ``importlib.metadata`` has it) and reads only their ``entry_points.txt``; a package's name is
read from its ``METADATA`` (or ``PKG-INFO``) only when it has a point in a group asked for. What is
installed does not change under a running process, so the result is kept per ``sys.path``; a changed
path (a test's temporary plugin folder) is scanned afresh. Distributions inside zip files are not seen.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache

# NAME-VERSION.dist-info, NAME-VERSION.egg-info, and a source tree's NAME.egg-info (no version)
_INFO = re.compile(r"^(?P<name>[^-]+?)(?:-[^-]*)?\.(?:dist|egg)-info$", re.IGNORECASE)


@dataclass(frozen=True)
class EntryPoint:
    """One ``name = module:attribute`` line of a group, and the package that declared it."""

    name: str
    value: str  # module:attribute
    group: str
    package: str

    def load(self):
        import importlib

        module, _, attribute = self.value.partition(":")
        obj = importlib.import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` (one of powertrain's, ``powertrain.*``) in the installed
    packages."""
    return [p for p in _scan(tuple(sys.path)) if p.group == group]


@lru_cache(maxsize=8)
def _scan(path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    points: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            match = _INFO.match(name)
            if match is None:
                continue
            key = match["name"].lower().replace("-", "_").replace(".", "_")
            if key in seen:
                continue
            seen.add(key)
            points += _read(f"{entry or '.'}/{name}", match["name"])
    return tuple(points)


def _read(folder: str, fallback: str) -> list[EntryPoint]:
    """The powertrain groups' points a package declares (other groups are not parsed)."""
    try:
        with open(f"{folder}/entry_points.txt", "rb") as file:
            data = file.read()
        if b"[powertrain." not in data:
            return []
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    points, group, package = [], None, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            continue
        name, sep, value = line.partition("=")
        if group is None or not sep:
            continue
        value = re.sub(r"\s*\[.*\]\s*$", "", value).strip()  # extras: not ours to check
        package = package or _package_name(folder, fallback)
        points.append(EntryPoint(name.strip(), value, group, package))
    return points


def _package_name(folder: str, fallback: str) -> str:
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, file), encoding="utf-8") as metadata:
                for line in metadata:
                    if line.startswith("Name:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():
                        break
        except (OSError, UnicodeDecodeError):
            continue
    return fallback
