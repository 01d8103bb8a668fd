"""What may happen to a SQLite store's file while processes use it, and what the store does then.

**Removed or replaced.** A process keeps writing to the file it opened: removed from its folder
(``rm runs/powertrain.db``, ``rm -r runs``), that file lives on, nameless, until the last connection
closes, and everything written to it then goes with it. So after each write the store checks that its
path still names the file it opened (device and inode). The first write that finds it gone has landed
in the nameless file; the whole of that file (every study and run it held, that write included) is
then copied, through the connection that still reads it, to a new file beside the path
(``powertrain.rescued-HOST-PID.db``, numbered on past an earlier copy, never written over), and
``StoreRemoved`` says where. Every later write is refused with the same message, so a run cut
short by it stays unfinished in the copy and runs again once the copy is merged back (``powertrain
merge``). Nothing is ever written over whatever now has the path's name.

**Locked.** A write waits ``BUSY_TIMEOUT_S`` for another process's transaction on the file, then
raises ``StoreLocked`` (never sqlite3's own error); a tracked run keeps what the store refused and
tries again (``store/pending.py``).

**Shared by machines.** SQLite's locks do not hold over a network file system, and each machine
judges the others' claims by its own clock. A claim that finds another machine's live claim on a run
says so once (``shared_warning``); the store route of a distributed job refuses several nodes
(``tracking/links.py``).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.store.claims import other_live_hosts, this_host


class StoreRemoved(PowertrainError):
    """The store's file was removed or replaced while this process wrote it."""


class StoreLocked(PowertrainError):
    """Another process held the store's file locked past the wait for it; nothing of the write
    that met it was written (what was written before stays)."""


def is_locked(exc: BaseException) -> bool:
    """Whether a SQLite error is another connection's lock on the file ("database is locked")."""
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


#: What to do where several processes write one store at once.
WRITERS_AT_ONCE = (
    "for writers at once, use one SQLite store per process (merge them after: powertrain merge), "
    "or a postgresql:// store"
)


def locked_error(path: Path, waited_s: float) -> StoreLocked:
    error = StoreLocked(
        f"the results store {path} stayed locked by another process for {waited_s:g} s (a long "
        "write, or a transaction left open in another program); what was recorded before stays; "
        f"try again once that process is done. {WRITERS_AT_ONCE[0].upper()}{WRITERS_AT_ONCE[1:]}"
    )
    error.path, error.waited_s = path, waited_s
    return error


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names now; None when it names none."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_dev, st.st_ino


def rescue(db: sqlite3.Connection, path: Path) -> StoreRemoved:
    """Copy what ``db`` still reads to a new file beside ``path``; the error that says where (or,
    should the copy fail too, that nothing could be kept)."""
    now = "removed" if file_identity(path) is None else "replaced by another file"
    target = rescue_path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = sqlite3.connect(str(target))
        try:
            db.backup(copy)
        finally:
            copy.close()
    except (OSError, sqlite3.Error) as exc:
        return StoreRemoved(
            f"the results store {path} was {now} while this process wrote it, and what it held "
            f"could not be saved beside it either ({exc}); this process's writes since are lost"
        )
    return StoreRemoved(
        f"the results store {path} was {now} while this process wrote it; everything it held, "
        f"with this process's writes until now, is saved in {target}. Merge that into a store "
        f"(powertrain merge {target} -o {path}) and run the study again: unfinished runs run again"
    )


def rescue_path(path: Path, kind: str = "rescued") -> Path:
    """A new file beside ``path`` for its rescued copy: ``STEM.rescued-HOST-PID.db`` (``kind``),
    numbered on (``-2``, ``-3``...) past any such copy there already, which is never written over
    (an earlier removal's, not merged yet, from this process or one that had its host name and
    number)."""
    stem, suffix = f"{path.stem}.{kind}-{this_host()}-{os.getpid()}", path.suffix or ".db"
    target, n = path.with_name(stem + suffix), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{stem}-{n}{suffix}")
    return target


def shared_warning(path: Path, attempts, lease_s: float) -> str | None:
    """What to tell when ``attempts`` (status, owner, heartbeat_at) hold a live claim from another
    machine; None when they do not."""
    hosts = other_live_hosts(attempts, lease_s)
    if not hosts:
        return None
    return (
        f"{path} is written by processes on {', '.join(sorted(hosts))} too: a SQLite file is one "
        "machine's store (its locks do not hold over a network file system, and each machine "
        "judges the others' claims by its own clock); use a postgresql:// store for a study that "
        "runs on several machines"
    )
