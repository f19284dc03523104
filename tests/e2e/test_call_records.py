"""Every call is kept (issue 16), over real SIP calls: the clinic graph, the QA caller, a real
records store. What a caller asked for survives the server being killed, the database going
away, and a broken store; and the files hold no plaintext PHI."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.services.records import schema
from agent.services.records.crypto import KeyRing
from agent.services.records.rows import context
from agent.services.records.store import RecordStore
from tests.e2e.harness import Server, start_call, start_server

pytestmark = [pytest.mark.call, pytest.mark.slow]

PHONE = "5550104477"
DOB = "03031985"
# Consent, name, date of birth (keyed), the reason, the call-back number (keyed).
RESULTS_CALL = ("--say", "Yes, that's fine.", "--say", "My name is Maria Lopez.", "--dtmf", DOB,
                "--say", "I'm calling about my test results.", "--dtmf", PHONE)


def _store(records: Path, url: str | None = None) -> RecordStore:
    keys = KeyRing.load(records / "records.key")
    return RecordStore(url or f"sqlite:///{records / 'records.sqlite3'}", keys)


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def _callback_decided(server: Server, timeout: float = 150.0) -> dict:
    return _wait(lambda: next((e for e in server.events_named("agent_action") if e.get("action") == "callback"), None),
                 timeout, f"a call-back decided ({server.log_path})")


def _end(caller: subprocess.Popen[bytes]) -> None:
    if caller.poll() is None:
        caller.send_signal(signal.SIGTERM)
        try:
            caller.wait(20)
        except subprocess.TimeoutExpired:
            caller.kill()
            caller.wait()


def _heard(caller: subprocess.Popen[bytes], words: str, timeout: float) -> dict:
    """Reads the QA caller's JSON lines as they come until the agent has said ``words``."""
    found: list[dict] = []

    def read() -> None:
        assert caller.stdout is not None
        for line in caller.stdout:
            if line.startswith(b"{"):
                event = json.loads(line)
                if event.get("event") == "agent_said" and words in event.get("text", "").lower():
                    found.append(event)
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found, f"the caller never heard {words!r} within {timeout} s"
    return found[0]


def test_a_call_back_survives_the_server_being_killed_right_after_confirming_it(tmp_path: Path) -> None:
    records = tmp_path / "records"
    server = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=3", f"records.data_dir={records}")
    caller = start_call(server.uri, *RESULTS_CALL, "--duration", "150")
    try:
        _heard(caller, "clinician will call you", timeout=170)  # the agent has confirmed the call-back
        server.proc.kill()  # SIGKILL: no drain, no close, no atexit
        server.proc.wait(10)
        (decided,) = [e for e in server.events_named("agent_action") if e.get("action") == "callback"]
        assert decided["team"] == "clinician" and PHONE not in json.dumps(decided)
    finally:
        _end(caller)
        server.stop()
    # Killed mid-call: the call row is still "active" until a process on this host starts again.
    restarted = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=3", f"records.data_dir={records}")
    try:
        store = _store(records)
        with store.reading() as db:
            (call,) = db.execute(select(schema.calls)).mappings().all()
        assert call["status"] == "interrupted" and call["end_reason"].startswith("interrupted"), call
        with store.reading() as db:
            (item,) = db.execute(select(schema.work_items)).mappings().all()
            action = db.execute(select(schema.actions).where(schema.actions.c.kind == "callback")).mappings().one()
        assert (item["state"], item["kind"], item["team"], item["call_id"]) == ("open", "callback", "clinician", call["id"])
        slots = json.loads(store.keys.decrypt(action["slots_enc"], context("actions", call["id"], action["seq"])))
        assert slots["callback_phone"].replace(" ", "").replace("-", "") == PHONE and slots["date_of_birth"] == "1985-03-03"
        # The same call row was written before the crash; the restart only marked it.
        assert restarted.events_named("records_calls_interrupted")[0]["calls"] == [call["id"]]
        raw = b"".join(p.read_bytes() for p in records.glob("records.sqlite3*"))
        for secret in (PHONE, "1985-03-03", "Maria", "Lopez"):
            assert secret.encode() not in raw, secret
    finally:
        assert restarted.stop() == 0


def _said(caller: subprocess.Popen[bytes]) -> str:
    out, _ = caller.communicate(timeout=60)
    events = [json.loads(line) for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    return " ".join(e.get("text", "") for e in events if e.get("event") == "agent_said").lower()


def test_postgresql_stopped_mid_call_the_call_goes_on_and_the_spool_fills_the_gap(tmp_path: Path, postgres_server,
                                                                                postgres_url: str) -> None:
    records = tmp_path / "records"
    server = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=3", f"records.data_dir={records}",
                          f"records.url={postgres_url}", "records.retry_s=1")
    caller = start_call(server.uri, *RESULTS_CALL, "--say", "No, that's all, thank you.", "--duration", "170")
    try:
        server.wait_for("turn", timeout=120)  # the caller has said yes: the call is under way
        postgres_server.stop("immediate")
        stopped_at = time.monotonic()
        _callback_decided(server)  # decided while the database was down
        down = server.wait_for("records_store_unavailable", timeout=30)
        assert down[0]["spool"].startswith(str(records / "spool")), down
        time.sleep(max(0.0, 3.0 - (time.monotonic() - stopped_at)))
        postgres_server.start()
        back = server.wait_for("records_store_available", timeout=30)
        assert back[0]["replayed"] > 0, back
        said = _said(caller)
        assert "clinician will call you" in said and "take care" in said, said  # the call went on to its goodbye
        server.wait_for("call_ended", timeout=30)
    finally:
        _end(caller)
        if not postgres_server.running:
            postgres_server.start()
        assert server.stop() == 0
    # Nothing missing: every action, turn and reply the server logged is in the database, once.
    store = _store(records, postgres_url)
    with store.reading() as db:
        (call,) = db.execute(select(schema.calls)).mappings().all()
        actions = db.execute(select(schema.actions.c.kind).order_by(schema.actions.c.seq)).scalars().all()
        turns = db.execute(select(schema.turn_timings.c.turn).order_by(schema.turn_timings.c.turn)).scalars().all()
        items = db.execute(select(schema.work_items.c.kind)).scalars().all()
        segments = db.execute(select(schema.emotion_segments.c.seq).order_by(schema.emotion_segments.c.seq)).scalars().all()
    logged = server.events()
    assert call["status"] == "ended" and call["end_reason"] == "responder ended call", call
    assert actions == [e["action"] for e in logged if e.get("event") == "agent_action"]
    assert turns == [e["turn"] for e in logged if e.get("event") == "turn"]
    (emotion,) = [e for e in logged if e.get("event") == "call_emotion"]
    assert items == ["callback"] and segments == list(range(emotion["segments"])) and segments, (segments, emotion)
    assert not list((records / "spool").glob("*.jsonl"))  # replayed, then removed
    dump = postgres_server.dump(postgres_url.rsplit("/", 1)[1])
    for secret in (PHONE, "1985-03-03", "Maria", "Lopez"):
        assert secret.encode() not in dump, secret


# ---- a broken store: clear errors, calls still answered, nothing silently dropped ------------

ONE_PROCESS = ("sip.max_calls=3",)  # no SIP workers: one writer, one spool, one log to read


def _replayed(server: Server) -> int:
    return sum(e["replayed"] for e in server.events_named("records_store_available"))


SHORT_CALL = ("--say", "Hello, I have a question about my appointment.", "--duration", "40")


def _answered(server: Server) -> str:
    caller = start_call(server.uri, *SHORT_CALL)
    said = _said(caller)
    assert said, "the call was not answered"
    server.wait_for("call_ended", timeout=30)
    return said


def _spooled(spool: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(spool.glob("*.jsonl")) for line in path.read_text().splitlines()]


def test_a_corrupt_sqlite_file_is_named_calls_are_answered_and_spooled_until_it_is_moved_aside(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    database = records / "records.sqlite3"
    database.write_bytes(b"this is not a database\x00" * 200)
    server = start_server(tmp_path, *ONE_PROCESS, f"records.data_dir={records}", "records.retry_s=1")
    try:
        (ready,) = server.events_named("ready")
        assert ready["records"] is False
        (error,) = server.events_named("records_store_unavailable")[:1]
        assert str(database) in error["error"] and "not a usable SQLite database" in error["error"], error
        _answered(server)
        rows = _spooled(records / "spool")
        assert {r["t"] for r in rows} >= {"calls", "replies"}, rows  # kept, waiting
        database.rename(records / "corrupt.sqlite3")  # what the message says to do
        _wait(lambda: _replayed(server) == len(rows), 30, "the spool replayed once the file was moved aside")
    finally:
        assert server.stop() == 0
    store = _store(records)
    with store.reading() as db:
        (call,) = db.execute(select(schema.calls)).mappings().all()
    assert call["status"] == "ended"


def test_a_wrong_key_is_refused_clearly_and_the_calls_records_wait_in_the_spool(tmp_path: Path) -> None:
    records = tmp_path / "records"
    first = start_server(tmp_path, *ONE_PROCESS, f"records.data_dir={records}")
    assert first.stop() == 0  # the database now holds the first key's check value
    old = KeyRing.load(records / "records.key")
    (records / "records.key").unlink()  # a new key file replaces the database's key
    server = start_server(tmp_path, *ONE_PROCESS, f"records.data_dir={records}", "records.retry_s=1")
    try:
        error = server.wait_for("records_store_unavailable", timeout=30)[0]["error"]
        assert f"written with key(s) {old.current}" in error and str(records / "records.key") in error, error
        _answered(server)
    finally:
        assert server.stop() == 0
    rows = _spooled(records / "spool")
    assert any(r["t"] == "calls" for r in rows)  # nothing dropped: the call waits for the right key
    assert not server.events_named("records_lost")


def test_a_full_database_disk_keeps_the_records_in_a_spool_on_another_disk(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    assert mounted.returncode == 0, f"this test needs root to mount a small tmpfs: {mounted.stderr}"
    try:
        records, spool = disk / "records", tmp_path / "spool"
        server = start_server(tmp_path, *ONE_PROCESS, f"records.data_dir={records}", f"records.spool_dir={spool}",
                              "records.retry_s=1")
        try:
            filler = disk / "filler"
            with filler.open("wb") as out:  # fill the disk the database is on
                try:
                    while True:
                        out.write(b"\0" * 65536)
                        out.flush()
                except OSError:
                    pass
            _answered(server)
            error = server.wait_for("records_store_unavailable", timeout=30)[0]["error"]
            assert "full" in error, error
            assert not server.events_named("records_lost")
            waiting = _spooled(spool)
            assert any(r["t"] == "calls" for r in waiting), waiting
            filler.unlink()
            _wait(lambda: _replayed(server) > 0, 30, "the spool replayed once there was room")
        finally:
            assert server.stop() == 0
        store = _store(records)
        with store.reading() as db:
            assert db.execute(select(schema.calls.c.status)).scalars().all() == ["ended"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
