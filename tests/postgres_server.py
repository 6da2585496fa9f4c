"""A real PostgreSQL server (the Debian package's binaries) on 127.0.0.1, for the tests
and `bench.load`: `initdb` into a temporary folder, `postgres` on a free port with no
unix socket, stopped (and its folder removed) by `stop()`.

PostgreSQL refuses to run as root: started by root, the server runs as the `postgres`
user (or `nobody`), in a data folder of its own that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ADMIN = "newsqa"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder with `initdb` and `postgres`: NEWSQA_PG_BIN, the newest
    /usr/lib/postgresql/N/bin, or the PATH's."""
    configured = os.environ.get("NEWSQA_PG_BIN")
    if configured:
        return Path(configured)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run as when this process is root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and neither a postgres nor a nobody user exists")


class PostgresServer:
    """Start and stop one throwaway server; `url` names its `postgres` database, and
    `new_database()` makes another, empty one."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = Path(path)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = _run_as()
        self._own_dir: Path | None = None
        self._count = 0

    def url_for(self, name: str) -> str:
        return f"postgresql://{ADMIN}@127.0.0.1:{self.port}/{name}"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def _popen_args(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60.0) -> PostgresServer:
        binaries = postgres_bin()
        if binaries is None or not (binaries / "postgres").exists():
            raise RuntimeError(
                "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
            )
        # Root's temporary folders are private: the server's user gets a folder of its own.
        base = self.path
        if self.user is not None:
            base = Path(tempfile.mkdtemp(prefix="newsqa-pg-"))
            os.chown(base, self.user.pw_uid, self.user.pw_gid)
            self._own_dir = base
        data = base / "data"
        log = base / "initdb.log"
        with log.open("wb") as out:
            if self.user is not None:
                os.chown(log, self.user.pw_uid, self.user.pw_gid)
            done = subprocess.run(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    ADMIN,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                cwd=base,
                check=False,
                **self._popen_args(),
            )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {log.read_text(errors='replace')[-500:]}")
        self.proc = subprocess.Popen(
            [
                str(binaries / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=32MB",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(base / "server.log").open("wb"),
            cwd=base,
            **self._popen_args(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (base / "server.log").read_text(errors="replace")[-500:]
                self._cleanup()
                raise RuntimeError(f"postgres exited with {self.proc.returncode}: {tail}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not answer within {timeout} s")

    def _answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def new_database(self, prefix: str = "test") -> str:
        """A fresh, empty database on this server; its URL."""
        import psycopg

        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # a fast shutdown
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
