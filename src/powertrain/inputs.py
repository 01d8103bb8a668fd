"""Reading what users hand us (study files, traces, intensity CSVs, label files) in bounded time and
memory, and refusing what cannot be read with one message: too large, not UTF-8, nested too deep, a
YAML alias bomb, a folder where a file belongs. Also the file-system checks the commands share.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import yaml

from powertrain.errors import PowertrainError

#: Size caps, in bytes, per kind of file.
MAX_STUDY_BYTES = 1 << 20  # a study file is a page of YAML
MAX_TABLE_BYTES = 256 << 20  # an intensity series, a data set's label file
MAX_LINE_BYTES = 1 << 20  # one line of a trace
#: Nesting deeper than this is no configuration anyone writes.
MAX_DEPTH = 64
#: A YAML file may reuse anchors, but not grow past this many nodes once its aliases are expanded.
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000


#: A study's name is one line a person types and reads: a report title, a --study value.
MAX_NAME_CHARS = 255


def name_problem(name: str) -> str | None:
    """What makes ``name`` no name for a study (one line of text, any script), or None."""
    import unicodedata

    if not name.strip():
        return "must not be empty"
    odd = next((c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if odd is not None:
        return (
            f"holds the control character U+{ord(odd):04X}; a study's name is one line of text, "
            "typed after --study"
        )
    if len(name) > MAX_NAME_CHARS:
        return f"is {len(name):,} characters long; keep it to {MAX_NAME_CHARS}"
    return None


def read_text(path: str | os.PathLike, what: str, max_bytes: int = MAX_TABLE_BYTES) -> str:
    """The UTF-8 text of a file of at most ``max_bytes``; PowertrainError naming ``what`` otherwise."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
    except IsADirectoryError:
        raise PowertrainError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise PowertrainError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise PowertrainError(
            f"{what} {path} is larger than {max_bytes:,} bytes; is it the right file?"
        )
    return decode(data, path, what)


def decode(data: bytes, path: str | os.PathLike, what: str) -> str:
    """UTF-8 (with or without a byte-order mark), or one message saying where it is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PowertrainError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None


def read_csv_table(
    path: str | os.PathLike, what: str, required: tuple[str, ...] = ()
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV file as its header and rows, each row with its line number; the one row model for files
    users hand us. A byte-order mark before the header is accepted; a header with an empty or repeated
    name, a missing ``required`` column, and a row with more or fewer cells than the header are refused
    naming the line, as is a quote left open or a stray one (read leniently, an open quote took the
    rest of the file into one cell). Blank lines are skipped; a quoted cell keeps its line breaks."""
    import csv
    import io

    text = read_text(path, what)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise PowertrainError(
                f"{what} {path} is empty: no header line naming its columns, and no rows"
                if not text.strip()
                else f"{what} {path}: its first line is blank; it must name the columns"
            )
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                raise PowertrainError(
                    f"{what} {path}, line {reader.line_num}: {len(cells)} cells, but the header "
                    f"has {len(header)} ({', '.join(header)}); a cell is missing or extra"
                )
            rows.append((reader.line_num, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        raise PowertrainError(
            f"{what} {path}: line {reader.line_num} is not a readable CSV: {exc}"
        ) from None
    empty = [i + 1 for i, name in enumerate(header) if not name]
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if empty or repeated:
        problem = (
            f"column {empty[0]} has no name"
            if empty
            else f"column {repeated[0]!r} appears more than once"
        )
        raise PowertrainError(f"{what} {path}: {problem} in the header line")
    missing = [c for c in required if c not in header]
    if missing:
        raise PowertrainError(
            f"{what} {path}: missing column(s) {', '.join(missing)}; found {', '.join(header)}"
        )
    return header, rows


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting (``[`` and ``{``) of a text, quotes ignored: a cheap upper bound,
    taken before a parser recurses into it."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def check_depth(text: str, path: str | os.PathLike, what: str) -> None:
    if nesting_depth(text) > MAX_DEPTH:
        raise PowertrainError(f"{what} {path} is nested more than {MAX_DEPTH} levels deep")


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses deep nesting and alias bombs before building anything, and a
    key written twice in one mapping (PyYAML keeps the last: a second ``name:`` renamed the study
    without a word); a number with an exponent and no point (``3e-3``) is a number, as in YAML 1.2
    (YAML 1.1 reads it as text, and a learning rate written so was refused as no number)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _no_key_twice(self, node)
        return super().construct_mapping(node, deep)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases (*name)")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _no_key_twice(loader: yaml.SafeLoader, node: yaml.MappingNode) -> None:
    """A key written twice in one mapping, refused naming the lines (merged keys, ``<<: *x``, are
    not counted: a key of the mapping's own overrides them, as YAML means it to)."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            where = f"on line {line}" if seen[key] == line else f"(lines {seen[key]} and {line})"
            raise yaml.YAMLError(f"key {key!r} twice {where}; keep one")
        seen[key] = line


def _expanded_size(root: yaml.Node | None) -> int:
    """How many nodes the document has once every alias is expanded (shared nodes counted each
    time they are used), worked out without expanding anything."""
    if root is None:
        return 0
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        children = _children(node)
        if children_done or not children:
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml(text: str, path: str | os.PathLike, what: str) -> Any:
    """``yaml.safe_load`` with limits: nesting, aliases and the expanded size are bounded."""
    check_depth(text, path, what)
    try:
        loader = _BoundedLoader(text)  # the reader refuses control characters (a NUL) up front
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise PowertrainError(
            f"{what} {path} is not YAML text: character U+{code:04X} on line {line}; YAML allows "
            "no control characters"
        ) from None
    try:
        node = loader.get_single_node()
        nodes = _expanded_size(node)
        if nodes > MAX_YAML_NODES:
            raise yaml.YAMLError(f"its aliases expand to more than {MAX_YAML_NODES:,} values")
        return loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PowertrainError(f"{what} {path} is not valid YAML{where}: {problem}") from None
    finally:
        loader.dispose()


def load_json_line(line: str, what: str) -> Any:
    """One JSON value, refusing non-finite numbers and deep nesting; ValueError when it is not."""
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"{what}: a line longer than {MAX_LINE_BYTES:,} characters")
    if nesting_depth(line) > MAX_DEPTH:
        raise ValueError(f"{what}: nested more than {MAX_DEPTH} levels deep")
    return json.loads(line, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


# -- the file system ---------------------------------------------------------------------------------
def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (the same path, a link, a hard link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_writable_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """A folder that exists or can be made, and that can be written in; PowertrainError otherwise.
    Makes the folder (and its parents) when it is missing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PowertrainError(f"the {what} {path} is a file; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PowertrainError(f"cannot make the {what} {path}: {exc.strerror or exc}") from None
    probe = path / f".powertrain-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PowertrainError(f"cannot write in the {what} {path}: {exc.strerror or exc}") from None
    return path


_FS_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "a folder where a file belongs",
    errno.ENOTDIR: "a file where a folder belongs",
    errno.ENOENT: "no such file or folder",
}


def file_system_error(exc: BaseException) -> PowertrainError | None:
    """One clear error for a failure of the disk or of permissions, or None for anything else."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        for clue, meaning in (
            ("readonly", "the results store cannot be written (a read-only file, folder or disk)"),
            ("disk is full", "the disk is full; free some space"),
            (
                "unable to open",
                "the results store cannot be opened (a missing or unwritable folder)",
            ),
            ("disk I/O error", "a disk I/O error (a full, read-only or failing disk)"),
            (
                "database is locked",
                "the results store stayed locked by another process past the wait for it "
                "(what was recorded before stays); try again once that process is done",
            ),
        ):
            if clue in text:
                return PowertrainError(f"{meaning} ({text}); or choose another --db")
        return None
    if isinstance(exc, OSError) and exc.errno in _FS_ERRNOS:
        where = f" {exc.filename}" if exc.filename else ""
        return PowertrainError(f"cannot write{where}: {_FS_ERRNOS[exc.errno]}")
    return None
