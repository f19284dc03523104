"""The PostgreSQL test cluster (tests/postgres.py) does what the store tests rely on: it serves
real connections, survives a stop/start with its data and port, dumps data, isolates databases,
and leaves no server or data behind, even when the process that owns it is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.postgres import PostgresError, PostgresServer
from tests.processes import REPO


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for a reaper does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_until(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def conninfo(url: str) -> str:
    """The libpq form of a fixture's SQLAlchemy URL, for plain psycopg."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_data_and_port_survive_an_immediate_stop(postgres_server: PostgresServer, postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE probe (id int PRIMARY KEY, note text)"))
            conn.execute(sa.text("INSERT INTO probe VALUES (1, 'kept')"))
        with psycopg.connect(conninfo(postgres_url)) as conn:
            assert conn.execute("SELECT note FROM probe").fetchall() == [("kept",)]
            assert conn.execute("SELECT current_user").fetchone() == ("bedside",)

        port, pid = postgres_server.port, postgres_server.pid
        postgres_server.stop("immediate")
        assert not postgres_server.running and pid is not None and not alive(pid)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(conninfo(postgres_url), connect_timeout=2)
        engine.dispose()  # its pooled connection died with the server

        postgres_server.start()
        assert postgres_server.port == port and postgres_server.pid != pid
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id, note FROM probe")).all() == [(1, "kept")]
    finally:
        engine.dispose()
        if not postgres_server.running:
            postgres_server.start()


def test_a_restart_on_a_taken_port_fails_with_the_server_log(postgres_server: PostgresServer) -> None:
    postgres_server.stop("fast")
    try:
        with socket.socket() as squatter:
            # SO_REUSEADDR as postgres itself: the port's TIME_WAIT connections must not matter.
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", postgres_server.port))
            squatter.listen()
            with pytest.raises(PostgresError, match="Address already in use"):
                postgres_server.start(timeout=20)
    finally:
        postgres_server.start()
    with psycopg.connect(conninfo(postgres_server.url())) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_dump_holds_schema_and_data(postgres_server: PostgresServer, postgres_url: str) -> None:
    db = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(conninfo(postgres_url)) as conn:
        conn.execute("CREATE TABLE call_probe (slot text)")
        conn.execute("INSERT INTO call_probe VALUES ('sentinel-4711')")
    dump = postgres_server.dump(db)
    assert b"CREATE TABLE public.call_probe" in dump
    # The store's "no slot values in the dump" test is only worth something if data shows here.
    assert b"sentinel-4711" in dump


def test_databases_are_isolated_and_dropped(postgres_server: PostgresServer) -> None:
    postgres_server.create_database("iso_a")
    postgres_server.create_database("iso_b")
    try:
        with psycopg.connect(conninfo(postgres_server.url("iso_a"))) as conn:
            conn.execute("CREATE TABLE only_in_a (x int)")
        with psycopg.connect(conninfo(postgres_server.url("iso_b"))) as conn:
            assert conn.execute("SELECT to_regclass('only_in_a')").fetchone() == (None,)
        held = psycopg.connect(conninfo(postgres_server.url("iso_a")))  # a leaked session
    finally:
        postgres_server.drop_database("iso_a")
        postgres_server.drop_database("iso_b")
    held.close()
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(conninfo(postgres_server.url("iso_a")))


def test_close_leaves_no_server_or_data(tmp_path: Path) -> None:
    with PostgresServer.create(tmp_path) as server:
        pid, port, run_dir = server.pid, server.port, server.run_dir
        assert pid is not None and alive(pid) and (run_dir / "data" / "PG_VERSION").is_file()
    assert not alive(pid) and not run_dir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host=127.0.0.1 port={port} user=bedside dbname=postgres", connect_timeout=2)
    assert b"database system is shut down" in (tmp_path / "postgres.log").read_bytes()


def test_a_killed_owner_leaves_no_server_behind(tmp_path: Path) -> None:
    """SIGKILL skips atexit and fixture finalizers; the watchdog still stops the server."""
    script = (
        "import sys, time; from pathlib import Path; from tests.postgres import PostgresServer\n"
        "s = PostgresServer.create(Path(sys.argv[1]))\n"
        "print(s.pid, s.run_dir, flush=True)\n"
        "time.sleep(120)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        line = owner.stdout.readline()  # type: ignore[union-attr]
        assert line, f"the owner died before starting PostgreSQL; log: {(tmp_path / 'postgres.log')}"
        pid_text, run_dir_text = line.split()
        pid, run_dir = int(pid_text), Path(run_dir_text)
        assert alive(pid)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    try:
        assert wait_until(lambda: not alive(pid)), "postgres outlived its killed owner"
        assert wait_until(lambda: not run_dir.exists()), "the data dir outlived its killed owner"
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_missing_binaries_fail_the_tests_that_need_them(tmp_path: Path) -> None:
    """Not a skip: CI must not pass with the PostgreSQL store untested."""
    env = {**os.environ, "BEDSIDE_PG_BINDIR": str(tmp_path / "no-postgres")}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--basetemp", str(tmp_path / "bt"), f"{__file__}::test_databases_are_isolated_and_dropped"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 error" in out.stdout and "skipped" not in out.stdout, out.stdout
    assert "scripts/install.sh --tests" in out.stdout, out.stdout
