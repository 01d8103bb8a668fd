"""The PostgreSQL store's tables, schema versions and migrations.

A version number means the same data model in both backends (``migrations.SCHEMA_VERSION``): a
PostgreSQL store begins at version 5 (SQLite's version with claims, the power limit journal, typed
verdicts and search costs), and a later version adds a migration to both. Setting up (creating the tables, or migrating older ones) happens in one
transaction under an advisory lock, so processes that open a new database at once wait for each
other, and a migration lands whole or not at all (PostgreSQL's DDL is transactional).

The tables live in their own schema (``powertrain``, or ``?schema=NAME`` in the URL), apart from
anything else in the database. ``claim_locks`` holds one row per (study, run key): the row a claim
locks, so that two processes claiming one run at once take turns (see ``PostgresStore.begin_run``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.store.migrations import RANK_MESSAGES_TABLE, SCHEMA, SCHEMA_VERSION

FIRST_VERSION = 5  # the first version a PostgreSQL store was written at

#: SQLite words -> PostgreSQL's, for the one schema both stores share (``migrations.SCHEMA``)
_DIALECT = (
    ("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    ("run_id INTEGER", "run_id BIGINT"),
    (" REAL", " DOUBLE PRECISION"),
)
CLAIM_LOCKS = """
CREATE TABLE IF NOT EXISTS claim_locks (
    study TEXT NOT NULL,
    run_key TEXT NOT NULL,
    PRIMARY KEY (study, run_key)
);
"""


def in_postgres_words(ddl: str) -> str:
    for sqlite_words, postgres_words in _DIALECT:
        ddl = ddl.replace(sqlite_words, postgres_words)
    return ddl


def tables() -> str:
    """The PostgreSQL store's tables: SQLite's schema in PostgreSQL's words (the same tables and
    columns, so the two never drift), and the claims' lock rows."""
    return in_postgres_words(SCHEMA) + CLAIM_LOCKS


#: version N -> the function that brings a store at N to N + 1, in the caller's transaction (none yet:
#: 5 is the first)
MIGRATIONS: dict[int, Callable[[Any], None]] = {}


def set_up(conn: Any, sql: Any, schema: str, shown: str, create: bool) -> int:
    """Create the tables (when ``create``) or migrate them to SCHEMA_VERSION, inside the caller's
    transaction; returns the version found (SCHEMA_VERSION for a new store)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"powertrain set-up {schema}",))
    exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.meta",)).fetchone()[0]
    if exists is None:
        if not create:
            raise PowertrainError(
                f"no results store at {shown} (no powertrain tables in schema {schema!r}); "
                "run a study into it first (powertrain run STUDY.yaml --db URL)"
            )
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(tables())
        conn.execute("INSERT INTO meta VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),))
        return SCHEMA_VERSION
    (found,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(found)
    if version > SCHEMA_VERSION:
        raise PowertrainError(
            f"{shown} has schema version {version}; this powertrain reads {SCHEMA_VERSION} "
            "(and migrates older ones): use a newer powertrain"
        )
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](conn)
    if create:  # the ranks' messages are transient: their table is made where missing, unversioned
        conn.execute(in_postgres_words(RANK_MESSAGES_TABLE))
    conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    return version
