"""A real, throwaway PostgreSQL cluster for tests, from Debian's binaries (never mocked).

The call store must be tested against the server it runs on in production, including the server
going away mid-call, so tests get a cluster they may stop and start: one per test session (per
xdist worker), on its own loopback port, with trust auth and durability settings traded for speed.

PostgreSQL refuses to run as root. Under root (CI containers) every server-side binary runs as the
Debian ``postgres`` system user, and the data dir lives in a fresh directory under the system temp
dir that user owns (pytest's temp tree is root-only, 0700). The data and socket dir always live
there: a short path keeps the unix socket under the kernel's 107-byte limit. The server log is
kept in ``base_dir``, where it survives ``close()`` for a post-mortem.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import psycopg
from psycopg import sql

from tests.processes import free_port

SUPERUSER = "bedside"
INSTALL_HINT = "run `scripts/install.sh --tests` (Debian packages postgresql, postgresql-client)"

# Speed over durability: fsync off keeps commits in the OS page cache, which survives a server
# stop (even "immediate") but not a machine crash. synchronous_commit stays ON: off, a commit
# acknowledged just before an immediate stop can vanish, and the store-down tests would lie.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "logging_collector": "off",
}

# Runs beside the server, started in its own session, holding the read end of a pipe whose write
# end only this process has. EOF means the test process closed it or died (even SIGKILL, where
# atexit and fixture finalizers never run): it then stops the postmaster and removes the data.
_WATCHDOG = """
import os, shutil, signal, sys, time
sys.stdin.buffer.read()
run_dir = sys.argv[1]

def alive(pid):  # a zombie (no reaper above us) is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False

try:
    with open(os.path.join(run_dir, "data", "postmaster.pid")) as f:
        pid = int(f.readline())
    os.kill(pid, signal.SIGQUIT)
    for _ in range(200):
        if not alive(pid):
            break
        time.sleep(0.05)
except (OSError, ValueError):
    pass
shutil.rmtree(run_dir, ignore_errors=True)
"""


class PostgresError(RuntimeError):
    """The cluster could not be created, started or stopped; the message carries the log tail."""


class PostgresMissing(PostgresError):
    """Debian's PostgreSQL binaries (or its ``postgres`` user) are not installed here."""


def bin_dir() -> Path:
    """The newest installed PostgreSQL bin dir: ``pg_config --bindir``, else Debian's layout;
    ``BEDSIDE_PG_BINDIR``, when set, is the only place looked at (another build, or none)."""
    candidates: list[Path] = []
    if override := os.environ.get("BEDSIDE_PG_BINDIR"):
        candidates.append(Path(override))
    elif pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", p.parent.name)) or (0,)

    if not override:
        candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for d in candidates:
        if all((d / tool).is_file() for tool in ("initdb", "postgres", "pg_dump")):
            return d
    where = override or "pg_config --bindir, /usr/lib/postgresql/*/bin"
    raise PostgresMissing(f"PostgreSQL server binaries (initdb, postgres, pg_dump) not found in {where}; {INSTALL_HINT}")


def _server_user() -> str | None:
    """The user server-side binaries run as: ``postgres`` under root, else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresMissing(f"running as root needs the `postgres` system user; {INSTALL_HINT}") from None
    return "postgres"


class PostgresServer:
    """One test cluster: ``create()`` it, ``stop()``/``start()`` it at will (same port, same data),
    ``close()`` it (or use it as a context manager). Clients connect as ``bedside`` over TCP."""

    def __init__(self, base_dir: Path, run_dir: Path, bindir: Path, user: str | None) -> None:
        self.base_dir = base_dir
        self.run_dir = run_dir
        self.data_dir = run_dir / "data"
        self.socket_dir = run_dir / "socket"
        self.log_path = base_dir / "postgres.log"
        self.bindir = bindir
        self.user = user
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._log_from = 0  # where the current start's (or initdb's) output begins in the log

    @classmethod
    def create(cls, base_dir: Path, timeout: float = 60.0) -> PostgresServer:
        """initdb a fresh cluster and start it on a free loopback port (another one on a clash)."""
        bindir, user = bin_dir(), _server_user()
        base_dir.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="bedside-pg-"))
        server = cls(base_dir, run_dir, bindir, user)
        atexit.register(server.close)
        try:
            server._init()
            for attempt in range(5):
                server.port = free_port(socket.SOCK_STREAM)
                try:
                    server.start(timeout)
                    break
                except PostgresError as e:
                    if "already in use" not in str(e) or attempt == 4:
                        raise
        except BaseException:
            server.close()
            raise
        return server

    def _init(self) -> None:
        self.socket_dir.mkdir()
        if self.user:
            for d in (self.run_dir, self.socket_dir):
                shutil.chown(d, self.user, self.user)
        # The watchdog comes first, so a kill from here on still removes the run dir.
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.run_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
        )
        cmd = [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
               "--locale=C", "--auth-local=trust", "--auth-host=trust", "--no-sync", "--no-instructions"]
        out = subprocess.run(cmd, capture_output=True, check=False, **self._as_server_user())
        with self.log_path.open("ab") as log:
            self._log_from = log.tell()
            log.write(out.stdout + out.stderr)
        if out.returncode != 0:
            raise PostgresError(f"initdb failed ({out.returncode}):\n{self._log_tail()}")

    def _as_server_user(self) -> dict[str, Any]:
        """Popen arguments that drop root to the server user (nothing when not root)."""
        if not self.user:
            return {"cwd": self.run_dir}
        return {"user": self.user, "group": self.user, "extra_groups": [], "cwd": self.run_dir}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        return self._proc.pid if self.running and self._proc else None

    def start(self, timeout: float = 60.0) -> None:
        """Starts the server on ``self.port`` and waits until it accepts connections."""
        if self._closed:
            raise PostgresError("this PostgresServer is closed")
        if self.running:
            return
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
               "-k", str(self.socket_dir)]
        for name, value in SETTINGS.items():
            cmd += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._log_from = log.tell()
            # Its own session: a Ctrl-C on the terminal must not stop it behind the tests' back.
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          start_new_session=True, **self._as_server_user())
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise PostgresError(f"postgres exited with {self._proc.returncode} on port {self.port}:\n"
                                    f"{self._log_tail()}")
            try:
                # Over its own unix socket: a squatter on the TCP port would hold the probe.
                probe = f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname=postgres"
                psycopg.connect(probe, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                self.stop("immediate")
                raise PostgresError(f"postgres not accepting connections in {timeout}s on port {self.port}:\n"
                                    f"{self._log_tail()}")
            time.sleep(0.05)

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast", timeout: float = 30.0) -> None:
        """Stops the server. "fast" ends sessions cleanly; "immediate" is a crash as clients see
        it (the next start runs crash recovery). Killed, and an error, if it outlives ``timeout``."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise PostgresError(f"postgres did not stop ({mode}) in {timeout}s; killed:\n{self._log_tail()}") from None

    def url(self, db: str = "postgres") -> str:
        """The SQLAlchemy URL of ``db`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{db}"

    def _conninfo(self, db: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={db}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self._conninfo("postgres"), autocommit=True, connect_timeout=5)

    def create_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drops ``name``, ending any session a test (or a leaked pool) still holds on it."""
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def dump(self, db: str) -> bytes:
        """``pg_dump`` of ``db``, schema and data, as plain SQL."""
        cmd = [str(self.bindir / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER,
               "--no-password", "-d", db]
        out = subprocess.run(cmd, capture_output=True, check=False, **self._as_server_user())
        if out.returncode != 0:
            raise PostgresError(f"pg_dump {db} failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
        return out.stdout

    def close(self) -> None:
        """Stops the server and removes its data; the log stays in ``base_dir``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop("fast")
        except PostgresError:
            pass  # killed; the data goes anyway
        finally:
            if self._watchdog:
                self._watchdog.stdin.close()  # type: ignore[union-attr]
                try:
                    self._watchdog.wait(15)
                except subprocess.TimeoutExpired:
                    self._watchdog.kill()
                    self._watchdog.wait()
            shutil.rmtree(self.run_dir, ignore_errors=True)
            atexit.unregister(self.close)

    def _log_tail(self, chars: int = 3000) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_from)
                return f.read().decode(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
