"""Where a results store is, from the one string users give (``--db``, ``POWERTRAIN_DB``, ``track(db=)``):
a path is a SQLite file; ``postgresql://`` (or ``postgres://``) is a PostgreSQL database; any other
``scheme://`` is refused by name, so that a URL powertrain does not serve never becomes a file of that
name. A URL is shown with its password masked, wherever it is printed, logged or stored."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode

from powertrain.errors import PowertrainError

DEFAULT_DB = Path("runs") / "powertrain.db"
ENV_VAR = "POWERTRAIN_DB"
POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_SECRET_PARAMS = ("password", "sslpassword")


@dataclass(frozen=True)
class StoreLocation:
    """A parsed ``--db``: ``path`` for SQLite, else ``url`` for PostgreSQL."""

    path: Path | None = None
    url: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def __str__(self) -> str:
        """What is printed: the path, or the URL with its password masked."""
        return str(self.path) if self.url is None else mask_url(self.url)


def default_db() -> str:
    """``POWERTRAIN_DB`` when set (a path or a URL), else ``runs/powertrain.db``."""
    return os.environ.get(ENV_VAR) or str(DEFAULT_DB)


def locate(db: str | os.PathLike | None) -> StoreLocation:
    """The store ``db`` names (None: the default). Refuses a URL of a scheme there is no store for."""
    text = os.fspath(db) if db is not None else default_db()
    match = _SCHEME.match(str(text))
    if match is None:
        return StoreLocation(path=Path(text))
    scheme = match.group(1).lower()
    if scheme not in POSTGRES_SCHEMES:
        raise PowertrainError(
            f"--db {mask_url(str(text))}: powertrain has no results store for {scheme}:// URLs; "
            "give a file path (SQLite, e.g. runs/powertrain.db) or "
            "postgresql://user@host:port/dbname"
        )
    if _hidden_userinfo(str(text).partition("://")[2]) is not None:
        raise PowertrainError(
            f"--db {mask_url(str(text))}: an '@' after the first '/' of the URL; libpq ends the "
            "user and password at the first '/', so it would read them as a host and port. "
            "Percent-encode '/' as %2F in a user or password (and '@' as %40 in a database name), "
            "or give the password in PGPASSWORD or ~/.pgpass instead"
        )
    return StoreLocation(url=str(text))


def mask_url(url: str) -> str:
    """``url`` with any password (in the authority or a ``password=`` parameter) shown as ``***``;
    also one libpq would not read as a password (an unencoded '/' in it, ``_hidden_userinfo``)."""
    scheme, colon_slashes, after = url.partition("://")
    hidden = _hidden_userinfo(after)
    if hidden is not None:
        tail = mask_url(f"{scheme}{colon_slashes}{after[hidden + 1 :]}").partition("://")[2]
        return f"{scheme}{colon_slashes}{_masked(after[:hidden])}@{tail}"
    base, sep, query = split_query(url)
    scheme, colon_slashes, rest = base.partition("://")
    userinfo, at, rest = _split_userinfo(rest)
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs]
        query = urlencode(masked, safe="*/:")
    return f"{scheme}{colon_slashes}{_masked(userinfo)}{at}{rest}{sep}{query}"


def _masked(userinfo: str) -> str:
    return userinfo.split(":", 1)[0] + ":***" if ":" in userinfo else userinfo


def split_query(url: str) -> tuple[str, str, str]:
    """(the URL up to its query, ``?`` or nothing, the query). The query begins at the first ``?``
    after the user and password, which may hold a ``?`` or ``#`` of their own (libpq takes them
    raw there)."""
    scheme, colon_slashes, rest = url.partition("://")
    userinfo, at, rest = _split_userinfo(rest)
    hosts, sep, query = rest.partition("?")
    return f"{scheme}{colon_slashes}{userinfo}{at}{hosts}", sep, query


def _split_userinfo(rest: str) -> tuple[str, str, str]:
    """(user and password, ``@`` or nothing, the hosts onward) of a URL after its ``://``: they end
    at the last ``@`` before the host, found as libpq finds it (an ``@`` ahead of the first ``/``;
    a query after the host may hold an ``@`` of its own)."""
    authority = rest.split("/", 1)[0]
    first_at = authority.find("@")
    if first_at < 0:
        return "", "", rest
    query_at = authority.find("?", first_at)
    last_at = authority.rfind("@", 0, query_at if query_at >= 0 else len(authority))
    return rest[:last_at], "@", rest[last_at + 1 :]


def _hidden_userinfo(rest: str) -> int | None:
    """Where a user and password that libpq does not read whole end (the index of their ``@``) in a
    URL after its ``://``: an ``@`` after the first ``/``, not in a query's ``key=value``
    (``postgresql://u:pa/ss@h/db``: a '/' in the password, which libpq ends there). None when
    there is none."""
    slash = rest.find("/")
    if slash < 0:
        return None
    candidates = [i for i in range(slash, len(rest)) if rest[i] == "@" and "=" not in rest[:i]]
    return candidates[-1] if candidates else None


def secrets_in(url: str) -> list[str]:
    """The passwords ``url`` holds (its user's, ``password=`` and ``sslpassword=``), as written and
    percent-decoded: what must never appear in a message about it."""
    scheme, colon_slashes, after = url.partition("://")
    hidden = _hidden_userinfo(after)
    if hidden is not None:
        userinfo, url = after[:hidden], f"{scheme}{colon_slashes}{after[hidden + 1 :]}"
    base, _, query = split_query(url)
    if hidden is None:
        userinfo = _split_userinfo(base.partition("://")[2])[0]
    found = [userinfo.split(":", 1)[1]] if ":" in userinfo else []
    found += [v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() in _SECRET_PARAMS]
    return [s for secret in found if secret for s in {secret, unquote(secret)}]


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message about ``url``, which may echo its conninfo) with every URL masked
    and every password ``url`` holds shown as ``***``."""
    text = mask_urls(text)
    for secret in sorted(secrets_in(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")  # quotes too: a password may hold one


def mask_urls(text: str) -> str:
    """``text`` (another tool's error message, say) with every URL in it masked as ``mask_url``."""
    return _URL.sub(lambda m: mask_url(m.group(0)), text)


def same_store(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two ``--db`` strings name one store: one file, or one database and schema."""
    from powertrain.inputs import same_file

    first, second = locate(a), locate(b)
    if first.is_postgres != second.is_postgres:
        return False
    if not first.is_postgres:
        return same_file(first.path, second.path)
    return mask_url(first.url) == mask_url(second.url)


#: The file name of the default store (``runs/powertrain.db``), whose artifacts folder is ``artifacts``.
DEFAULT_STORE_NAME = DEFAULT_DB.name


def store_artifacts_dir(db_path: str | Path) -> Path:
    """The artifacts folder of the SQLite store at ``db_path``: ``artifacts/`` beside the default
    store (``runs/artifacts``, where its checkpoints and models always were), ``<file name>-artifacts/``
    beside any other (``runs/a.db-artifacts``; named like SQLite's own ``-wal`` file beside it). One
    folder per store: a run key and a study name are the same in two stores of one study, so files
    shared by name would be continued, overwritten or removed by the other store's search."""
    path = Path(db_path)
    if path.name == DEFAULT_STORE_NAME:
        return path.parent / "artifacts"
    return path.parent / f"{path.name}-artifacts"
