"""A throwaway PostgreSQL server for tests.

:func:`postgres_server` runs ``initdb`` into a fresh temporary directory, starts the cluster with
``pg_ctl`` on a free port of 127.0.0.1 (unix socket inside the same directory), creates a database
and yields its ``postgresql+psycopg://`` URL; on exit it stops the server and deletes the directory.
As root it runs the server binaries as the ``postgres`` OS user (``initdb`` refuses root).

Missing binaries are an error, never a skip: run ``scripts/install-test-deps.sh`` (as root).

Use it from a session-scoped fixture::

    @pytest.fixture(scope="session")
    def postgres_url() -> Iterator[str]:
        with postgres_server() as url:
            yield url
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

__all__ = [
    "PostgresUnavailableError",
    "create_database",
    "find_postgres_bindir",
    "postgres_server",
]

INSTALL_HINT = "run `bash scripts/install-test-deps.sh` as root to install PostgreSQL"
DEFAULT_DATABASE = "cds_test"


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL server could not be found or started."""


def find_postgres_bindir(search_root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The newest ``<search_root>/<major>/bin`` holding ``initdb`` (else the one on ``PATH``)."""
    candidates = sorted(
        search_root.glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else -1,
    )
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    raise PostgresUnavailableError(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Runner:
    """Runs server binaries, as the ``postgres`` OS user when we are root."""

    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailableError(
                    f"running as root but there is no `postgres` OS user: {INSTALL_HINT}"
                ) from exc
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            self.prefix = [runuser, "-u", "postgres", "--"]
            os.chown(workdir, user.pw_uid, user.pw_gid)

    def run(self, tool: str, args: Sequence[str], timeout: float = 60) -> None:
        cmd = [*self.prefix, str(self.bindir / tool), *args]
        result = subprocess.run(
            cmd,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"{tool} failed ({result.returncode}): {result.stdout}\n{result.stderr}".strip()
            )


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@contextmanager
def postgres_server(database: str = DEFAULT_DATABASE) -> Iterator[str]:
    """Start a throwaway cluster, yield a ``postgresql+psycopg://`` URL, then stop and delete it."""
    bindir = find_postgres_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="cds-pg-"))
    data = workdir / "data"
    log = workdir / "server.log"
    started = False
    try:
        runner = _Runner(bindir, workdir)
        runner.run(
            "initdb",
            ["-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "-N"],
        )
        port = 0
        for attempt in range(3):  # the free port may be taken between probing and binding
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir}"
                " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            )
            try:
                runner.run(
                    "pg_ctl",
                    ["-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
                    timeout=90,
                )
            except PostgresUnavailableError as exc:
                if attempt == 2:
                    raise PostgresUnavailableError(f"{exc}\nserver log:\n{_log_tail(log)}") from exc
                continue
            started = True
            break
        _wait_and_create(port, database)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    finally:
        if started:
            with suppress(PostgresUnavailableError, subprocess.TimeoutExpired):
                runner.run("pg_ctl", ["-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_and_create(port: int, database: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            _create(port, database)
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _create(port: int, database: str) -> None:
    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def create_database(server_url: str, database: str) -> str:
    """Create another database on the server behind ``server_url`` and return its URL (gives each
    test an empty schema without starting another cluster)."""
    parsed = make_url(server_url)
    if parsed.port is None:
        raise ValueError(f"{server_url} names no port")
    _create(parsed.port, database)
    return parsed.set(database=database).render_as_string(hide_password=False)
