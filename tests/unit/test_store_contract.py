"""One contract, every backend (as Optuna tests its storages): the suite ships in the package."""

from __future__ import annotations

import sqlite3

import pytest

from powertrain.errors import PowertrainError
from powertrain.store.memory import MemoryStore
from powertrain.store.sqlite import SqliteStore
from powertrain.testing.store_contract import StoreContract, begin, point


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        with MemoryStore() as s:
            yield s


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        with SqliteStore(tmp_path / "r.db") as s:
            yield s


def test_sqlite_store_survives_reopening(tmp_path):
    path = tmp_path / "r.db"
    with SqliteStore(path) as store:
        store.save_study("st", {})
        run_id = begin(store)
        store.add_eval_point(run_id, point(0))
    with SqliteStore(path) as store:
        assert store.eval_points(run_id) == [point(0)]


def test_sqlite_store_keeps_model_files_beside_its_file(tmp_path):
    with SqliteStore(tmp_path / "sub" / "powertrain.db") as store:  # where it always kept them
        assert store.artifacts_dir == tmp_path / "sub" / "artifacts"
    with SqliteStore(tmp_path / "sub" / "r.db") as store:  # its own: not another store's
        assert store.artifacts_dir == tmp_path / "sub" / "r.db-artifacts"


def test_sqlite_store_refuses_a_file_that_is_not_a_store(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("hello, this is not SQLite at all" * 10)
    with pytest.raises(PowertrainError, match="not a powertrain results store"):
        SqliteStore(path)


def test_sqlite_store_waits_for_another_process_that_holds_the_file_while_opening(
    tmp_path, monkeypatch
):
    # SQLite says "database is locked" at once, without its busy wait, to a second process switching
    # a file that another is creating to WAL (seen in CI with two `powertrain run` on one new store).
    from powertrain.store import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "OPEN_RETRY_S", (0.0, 0.0, 0.0, None))
    real, calls = SqliteStore._open, []

    def locked_twice(self, path):
        calls.append(path)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")
        return real(self, path)

    monkeypatch.setattr(SqliteStore, "_open", locked_twice)
    with SqliteStore(tmp_path / "r.db") as store:
        assert store.runs() == [] and len(calls) == 3

    def always_locked(self, path):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(SqliteStore, "_open", always_locked)
    with pytest.raises(PowertrainError, match="stayed locked by another process"):
        SqliteStore(tmp_path / "r.db")


def test_sqlite_store_refuses_another_schema_version(tmp_path):
    path = tmp_path / "r.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(PowertrainError, match="schema version 99"):
        SqliteStore(path)


class TestPostgresStore(StoreContract):
    """The same contract on a real PostgreSQL server (started for the session by conftest)."""

    @pytest.fixture
    def store(self, pg_url):
        from powertrain.store.postgres import PostgresStore

        with PostgresStore(pg_url) as s:
            yield s
