"""One connection to a PostgreSQL store, shared by a process's threads (its work and the claims'
heartbeat) under one lock, with every store call one transaction retried on a lost connection.

A call that loses its connection is rolled back by the server (PostgreSQL never commits half a
transaction), so trying it again on a new connection is safe; every write of the store is written so
that doing it twice leaves what doing it once does (a point already there is not added again, a
finished run is not changed). Retries wait longer each time (``RETRY_S``); when they are spent the
call raises ``StoreUnreachable`` and the store decides what to keep (see ``postgres.PostgresStore``).

libpq reads the URL, so what it honours applies: ``PGPASSWORD``, ``~/.pgpass`` (``PGPASSFILE``),
``PGSERVICE`` and ``?service=``, ``sslmode=`` and the rest. The URL is only ever shown masked.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from powertrain.errors import PowertrainError
from powertrain.store.location import mask_url, scrub, split_query

log = logging.getLogger(__name__)
T = TypeVar("T")

#: waits between tries of a call whose connection was lost (about a minute in all)
RETRY_S = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
DEFAULT_SCHEMA = "powertrain"


class StoreUnreachable(PowertrainError):
    """The PostgreSQL server could not be reached, after every retry."""


def driver():
    """The psycopg module, or a clear message saying how to install it."""
    try:
        import psycopg
    except ImportError:
        raise PowertrainError(
            "a postgresql:// store needs the psycopg driver: pip install 'powertrain[postgres]'"
        ) from None
    return psycopg


def split_url(url: str) -> tuple[str, str]:
    """The URL libpq is given (without powertrain's own ``schema=`` parameter) and the schema the
    store's tables live in (``powertrain`` unless ``?schema=NAME``)."""
    base, _, query = split_query(url)
    pairs = parse_qsl(query, keep_blank_values=True)
    schema = next((v for k, v in pairs if k == "schema"), DEFAULT_SCHEMA)
    if not schema.replace("_", "").isalnum() or schema[0].isdigit():
        raise PowertrainError(
            f"--db {mask_url(url)}: schema={schema!r} must be letters, digits and _ "
            "(not starting with a digit)"
        )
    query = urlencode([(k, v) for k, v in pairs if k != "schema"])
    return base + (f"?{query}" if query else ""), schema


class PgSession:
    """The connection, the lock, the transaction depth and the retries of one store."""

    def __init__(self, url: str, retry_s: tuple[float, ...] = RETRY_S) -> None:
        self.psycopg = driver()
        self.shown = mask_url(url)
        self.conninfo, self.schema = split_url(url)
        self.retry_s = retry_s
        self.lock = threading.RLock()
        self.depth = 0  # transactions open: inside atomic(), calls join the outer one
        self.closed = False
        self._conn = None
        self._connect_with_retries()

    # -- connecting ---------------------------------------------------------------------------------
    def _connect(self) -> None:
        psycopg = self.psycopg
        given = psycopg.conninfo.conninfo_to_dict(self.conninfo)
        extra = {"connect_timeout": 10, "application_name": "powertrain"}
        extra = {k: v for k, v in extra.items() if k not in given}
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = psycopg.connect(self.conninfo, autocommit=True, **extra)
        self._conn.execute(
            psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(self.schema))
        )

    def _connect_with_retries(self) -> None:
        """The first connection: a server that is starting is waited for a little; a refusal that
        retrying cannot fix (a wrong password, no such database) is said at once."""
        for wait_s in (*self.retry_s[:4], None):
            try:
                self._connect()
                return
            except self.psycopg.ProgrammingError as exc:  # a malformed URL
                raise PowertrainError(f"--db {self.shown}: {self._said(exc)}") from None
            except self.psycopg.OperationalError as exc:
                if wait_s is None or _is_refusal(exc):
                    raise PowertrainError(
                        f"could not connect to the PostgreSQL store {self.shown}: {self._said(exc)}"
                    ) from None
                time.sleep(wait_s)

    @property
    def conn(self):
        if self.closed or self._conn is None:
            raise PowertrainError("the results store is closed")
        return self._conn

    # -- transactions -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One transaction (or, inside another, part of it), holding the lock."""
        with self.lock:
            if self.depth:
                self.depth += 1
                try:
                    yield self.conn
                finally:
                    self.depth -= 1
                return
            self.depth = 1
            try:
                with self.conn.transaction():
                    yield self.conn
            finally:
                self.depth = 0

    def call(
        self,
        fn: Callable[[Any], T],
        *,
        tries: tuple[float, ...] | None = None,
        one_statement: bool = False,
    ) -> T:
        """``fn(connection)`` in one transaction, tried again on a new connection while the server is
        unreachable (waiting ``tries``, default ``retry_s``); StoreUnreachable when it stays so.
        ``one_statement``: ``fn`` runs a single statement, its own transaction (one round trip, no
        BEGIN and COMMIT around it). Inside ``atomic()`` a lost connection loses the whole block: it is
        raised, not retried."""
        if self.closed:
            raise PowertrainError("the results store is closed")
        if self.depth:
            try:
                with self.transaction() as conn:
                    return fn(conn)
            except self.psycopg.OperationalError as exc:
                self._refused(exc)
                raise StoreUnreachable(
                    f"the PostgreSQL store {self.shown} was lost inside one transaction; nothing of"
                    f" it was written: {self._said(exc)}"
                ) from None
        waits = iter(self.retry_s if tries is None else tries)
        while True:
            if self._conn is None or self._conn.closed:
                self._reconnect()
            try:
                if one_statement:
                    with self.lock:
                        return fn(self.conn)
                with self.transaction() as conn:
                    return fn(conn)
            except self.psycopg.OperationalError as exc:
                if self.closed:
                    raise PowertrainError("the results store is closed") from None
                self._refused(exc)
                wait_s = next(waits, None)
                if wait_s is None:
                    raise StoreUnreachable(
                        f"the PostgreSQL store {self.shown} is unreachable: {self._said(exc)}"
                    ) from None
                log.debug("store connection lost (%s); again in %.2f s", self._said(exc), wait_s)
                time.sleep(wait_s)
                self._reconnect()

    def _refused(self, exc: BaseException) -> None:
        """A PowertrainError for what the server refuses whatever the retries (its "program
        limits", SQLSTATE class 54: a run key longer than its index takes), which psycopg files
        with a lost connection: said at once, as a refusal, never as a server gone."""
        if str(getattr(exc, "sqlstate", None) or "").startswith("54"):
            raise PowertrainError(
                f"the PostgreSQL store {self.shown} refused the write: {self._said(exc)} (a study "
                "name or setup this long goes beyond what the server keeps; shorten it)"
            ) from None

    def _said(self, exc: BaseException) -> str:
        """The first line of psycopg's message, which may echo the URL or a piece of it (a bad
        percent-escape in the password, say), with every password in the URL masked."""
        return scrub(_first_line(exc), self.conninfo)

    def _reconnect(self) -> None:
        with self.lock:
            try:
                self._connect()
            except self.psycopg.OperationalError as exc:
                log.debug("reconnecting failed: %s", self._said(exc))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_refusal(exc: BaseException) -> bool:
    """A connection error that no retry mends: authentication, or a database or role not there."""
    text = str(exc).lower()
    return any(
        words in text
        for words in (
            "authentication failed",
            "does not exist",
            "no password supplied",
            "no pg_hba",
        )
    )
