"""A throwaway PostgreSQL server for tests and benchmarks: a new cluster (``initdb``) in a temporary
folder, started with ``pg_ctl`` on 127.0.0.1 and a free port, as an unprivileged user (``initdb``
refuses root: as root, a system user ``powertrain-pg`` is made and the server runs as it), stopped and
removed by ``stop()``. Nothing is mocked: the store talks to a real server over TCP::

    with PostgresServer() as server:
        url = server.url(schema="t1")    # postgresql://powertrain@127.0.0.1:PORT/postgres?schema=t1

The binaries are looked for on the PATH, then in Debian's ``/usr/lib/postgresql/*/bin`` (``make test``
installs Debian's ``postgresql`` package when they are missing and it runs as root).
``durable=False`` (tests) turns fsync off; the benchmark keeps PostgreSQL's defaults.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SYSTEM_USER = "powertrain-pg"
SUPERUSER = "powertrain"
PASSWORD_ROLE = (
    "alice"  # a role that logs in with a password (scram-sha-256), for the password tests
)


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.bin = binaries()
        if self.bin is None:
            raise FileNotFoundError(
                "PostgreSQL's initdb and pg_ctl were not found (apt-get install postgresql)"
            )
        self.root: Path | None = None
        self.port = 0
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(
        self, dbname: str = "postgres", schema: str | None = None, user: str = SUPERUSER
    ) -> str:
        query = f"?schema={schema}" if schema else ""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}{query}"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """A new cluster, configured and started."""
        self.root = Path(tempfile.mkdtemp(prefix="powertrain-pg-"))
        if self._run_as:
            _ensure_system_user(self._run_as)
            shutil.chown(self.root, self._run_as, self._run_as)
        self._pg(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--no-sync", "--locale=C",
        )  # fmt: skip
        self.port = free_port()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "200",
            "logging_collector": "off",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        (self.data / "pg_hba.conf").write_text(
            f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
            "local all all trust\n"
        )
        self.start_server()

    def start_server(self) -> None:
        """Start (again) the cluster made by ``start``."""
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                 "-t", "60", "start")  # fmt: skip

    def stop_server(self) -> None:
        """Stop the server, keeping its cluster (``start_server`` brings it back)."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        """Stop the server and remove its folder. Idempotent."""
        if self.root is None:
            return
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop_server()
            except subprocess.CalledProcessError:
                self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def sql(self, statement: str, dbname: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser, in autocommit; its rows (empty when none)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def add_password_role(self, password: str) -> str:
        """The role ``alice``, who logs in with ``password``; returns its name."""
        exists = self.sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{PASSWORD_ROLE}'")
        verb = "ALTER" if exists else "CREATE"
        self.sql(f"{verb} ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{password}'")
        self.sql(f"GRANT CREATE ON DATABASE postgres TO {PASSWORD_ROLE}")
        return PASSWORD_ROLE

    def _pg(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin / program), *args]
        if self._run_as:
            command = ["runuser", "-u", self._run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if check and done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
