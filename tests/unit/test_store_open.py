"""Opening a results store: what a file is, is settled before anything is written to it. A file that
is refused is left byte for byte as it was (no tables added, no journal mode switched, no -wal file),
and a place that cannot be written is told apart from "not a store"."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess

import pytest

from powertrain.errors import PowertrainError
from powertrain.store import existing_store, open_store
from powertrain.store.merge import merge_stores
from powertrain.store.migrations import SCHEMA_VERSION
from powertrain.store.sqlite import SqliteStore


def state(folder) -> dict[str, str]:
    """Every file in ``folder`` and a digest of its bytes: what a refused open must not change."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def foreign_db(path, *tables: str) -> None:
    db = sqlite3.connect(path)
    for table in tables:
        db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, value TEXT)")
        db.execute(f"INSERT INTO {table} (value) VALUES ('theirs')")
    db.commit()
    db.close()


def store_with_version(path, version: str) -> None:
    """A real store whose meta row then says ``version``."""
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    db.commit()
    db.close()


@contextlib.contextmanager
def read_only(path):
    """``path`` (a file or folder) made unwritable for real: ``chattr +i`` for root (whom permission
    bits do not stop), read-only permission bits for anyone else."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if made.returncode != 0:  # a file system without the immutable flag (tmpfs before 6.0)
            pytest.skip(f"chattr +i is not supported here: {made.stderr.strip()[:200]}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)


# -- another program's file ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tables",
    [("runs",), ("studies", "runs", "eval_points"), ("meta",), ("notes", "users")],
    ids=["a runs table", "our table names", "a meta table", "anything"],
)
@pytest.mark.parametrize("opener", [existing_store, open_store], ids=["reading", "writing"])
def test_another_programs_sqlite_file_is_never_adopted(tmp_path, tables, opener):
    path = tmp_path / "theirs.sqlite"
    foreign_db(path, *tables)
    before = state(tmp_path)
    with pytest.raises(PowertrainError, match="another program"):
        opener(path)
    assert state(tmp_path) == before


@pytest.mark.parametrize(
    "content", [b"", b"\0" * 100, b"SQLite format 2\0" + b"\0" * 200, b"name: study\n"]
)
def test_a_reading_command_never_writes_into_a_file_that_is_no_store(tmp_path, content):
    path = tmp_path / "x.db"
    path.write_bytes(content)
    with pytest.raises(PowertrainError, match="not a powertrain results store"):
        existing_store(path)
    assert state(tmp_path) == {"x.db": hashlib.sha256(content).hexdigest()}


def test_an_empty_sqlite_database_is_no_store_to_read_but_can_become_one(tmp_path):
    path = tmp_path / "empty.db"
    sqlite3.connect(path).execute("PRAGMA user_version = 0").close()
    with pytest.raises(PowertrainError, match="empty SQLite database"):
        existing_store(path)
    with open_store(path) as store:  # a writing command may make it a store: nothing is in it
        assert store.runs() == []


# -- schema versions ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["3x", "", "v4", "-1", "0", "4.0", "٤"])
def test_a_version_that_no_powertrain_writes_is_refused_unchanged(tmp_path, version):
    path = tmp_path / "s.db"
    store_with_version(path, version)
    before = state(tmp_path)
    with pytest.raises(PowertrainError, match="which no powertrain writes"):
        existing_store(path)
    assert state(tmp_path) == before


@pytest.mark.parametrize("opener", [existing_store, open_store], ids=["reading", "writing"])
def test_a_newer_store_is_refused_before_any_change(tmp_path, opener):
    path = tmp_path / "s.db"
    store_with_version(path, str(SCHEMA_VERSION + 3))
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = DELETE")
    db.execute("DROP TABLE power_limits")  # a table that version has, say, dropped
    db.close()
    before = state(tmp_path)
    with pytest.raises(PowertrainError, match=f"schema version {SCHEMA_VERSION + 3}, from a newer"):
        opener(path)
    assert state(tmp_path) == before
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "power_limits" not in tables


def test_a_store_without_its_core_tables_is_damaged_not_rebuilt(tmp_path):
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE eval_points")
    db.close()
    with pytest.raises(PowertrainError, match="damaged .* no eval_points table"):
        existing_store(path)


# -- places that cannot be written -----------------------------------------------------------------------
def _store_with_a_study(path) -> None:
    with SqliteStore(path) as store:
        store.save_study("kept", {"name": "kept"})


def test_a_store_in_a_read_only_folder_is_read_not_called_foreign(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    _store_with_a_study(folder / "s.db")
    before = state(folder)
    with read_only(folder):
        with existing_store(folder / "s.db") as store:
            assert [s["name"] for s in store.studies()] == ["kept"]
            assert store.read_only
        with pytest.raises(PowertrainError, match="its folder is read-only"):
            open_store(folder / "s.db")
        with pytest.raises(PowertrainError, match="its folder is read-only"):
            open_store(folder / "new.db")
    assert state(folder) == before


def test_a_read_only_store_file_is_told_apart_from_a_foreign_one(tmp_path):
    path = tmp_path / "s.db"
    _store_with_a_study(path)
    with read_only(path):
        with pytest.raises(PowertrainError, match="the file is read-only"):
            open_store(path)
        with existing_store(path) as store:
            assert store.studies()[0]["name"] == "kept"


# -- merge ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", [b"", b"not a database at all", None], ids=["zero bytes", "text", "foreign sqlite"]
)
def test_merge_checks_every_input_before_writing_the_output(tmp_path, bad):
    good, out = tmp_path / "good.db", tmp_path / "out.db"
    _store_with_a_study(good)
    _store_with_a_study(out)
    broken = tmp_path / "broken.db"
    if bad is None:
        foreign_db(broken, "items")
    else:
        broken.write_bytes(bad)
    before = state(tmp_path)
    with pytest.raises(PowertrainError, match="not a powertrain results store|another program"):
        merge_stores([good, broken], out)
    assert state(tmp_path) == before  # neither the output nor the bad input was touched


def test_merge_that_fails_half_way_leaves_the_output_as_it_was(tmp_path, monkeypatch):
    first, second, out = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "out.db"
    for path, name in ((first, "one"), (second, "two")):
        with SqliteStore(path) as store:
            store.save_study(name, {"name": name})
    calls = []

    def copy_then_fail(src, out, result=None, differs=None):
        calls.append(src)
        if len(calls) == 2:
            raise PowertrainError("the second input broke half-way")
        return real(src, out, result, differs)

    import powertrain.store.merge as merge

    real = merge.copy_store
    monkeypatch.setattr(merge, "copy_store", copy_then_fail)
    with pytest.raises(PowertrainError, match="half-way"):
        merge_stores([first, second], out)
    with SqliteStore(out) as store:
        assert store.studies() == []  # not "one" without "two"


# -- a store on a read-only file system (EROFS: a read-only export, an image, a remounted disk) ----------
READ_ONLY_MOUNT_SCRIPT = """
import json, sys
from pathlib import Path
from powertrain.errors import PowertrainError
from powertrain.store import existing_store, open_store
folder = Path(sys.argv[1])
told = {}
for name in ("s.db", "new.db"):
    try:
        open_store(folder / name).close()
        told[name] = None
    except PowertrainError as exc:
        told[name] = str(exc)
with existing_store(folder / "s.db") as store:
    told["read"] = [s["name"] for s in store.studies()]
    told["read_only"] = store.read_only
print(json.dumps(told))
"""


def in_private_mount(folder, script: str) -> subprocess.CompletedProcess:
    """``script`` (shell) in a mount namespace of its own, where ``folder`` is a fresh tmpfs: root's
    namespace, or a user namespace's for anyone else. Nothing outside sees the mount."""
    import shutil

    if shutil.which("unshare") is None:
        pytest.skip("util-linux's unshare is not installed")
    probe = subprocess.run(
        ["unshare", "--map-root-user", "--mount", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.strip()[:200]}")
    mount = f"mount -t tmpfs tmpfs {folder} && {script}"
    return subprocess.run(
        ["unshare", "--map-root-user", "--mount", "sh", "-c", mount],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_store_on_a_read_only_file_system_is_read_and_never_written(tmp_path):
    """A real read-only mount, which no permission bits or root override: reading commands read
    the store; writing ones are refused with the file system named, not "not a store"."""
    import json
    import sys

    folder = tmp_path / "mnt"
    folder.mkdir()
    (tmp_path / "check.py").write_text(READ_ONLY_MOUNT_SCRIPT)
    make = (
        f'{sys.executable} -c "from powertrain.store.sqlite import SqliteStore; '
        f"s = SqliteStore('{folder}/s.db'); s.save_study('kept', {{}}); s.close()\""
    )
    ran = in_private_mount(
        folder,
        f"{make} && mount -o remount,ro {folder} && {sys.executable} {tmp_path / 'check.py'} "
        f"{folder} && {sys.executable} -m powertrain ls --db {folder}/s.db",
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    told = json.loads(ran.stdout.splitlines()[0])
    for name in ("s.db", "new.db"):
        assert told[name] is not None and "its file system is read-only" in told[name]
    assert told["read"] == ["kept"] and told["read_only"] is True
