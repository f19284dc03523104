"""``bedside records ...`` in-process through ``main`` (and once as the installed console script):
readable tables and JSON that never hold ciphertext, PHI only where staff act on it, an audit row
for every read under ``--by`` or the OS user, and one clear line — exit 1, no traceback — for a
missing or corrupt database, a wrong key, an unknown id or a closed item."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.app.cli import main
from agent.services.records import queries, schema
from agent.services.records.config import KEYS_ENV
from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.ids import work_item_id
from agent.services.records.store import RecordStore, head_revision
from tests.agent.services.records.test_queries import BIRTH, PATIENT, SAID, add_call, caller_of

RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
CIPHERTEXT = re.compile(r"v1\.[0-9a-f]{8}\.")


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated records directory, with the OS user pinned for the audit rows."""
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.delenv("BEDSIDE_CONFIG", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    assert main(["records", "migrate", *where(tmp_path)]) == 0
    return tmp_path


def where(data: Path) -> list[str]:
    return ["--set", f"records.data_dir={data}"]


def open_store(data: Path) -> RecordStore:
    return RecordStore(f"sqlite:///{data / 'records.sqlite3'}", KeyRing.load(data / "records.key"))


def seed(data: Path) -> RecordStore:
    store = open_store(data)
    add_call(store, "call-old", RECENT - timedelta(days=10))
    add_call(store, "call-urgent", RECENT, urgent=True, webhook=True)
    add_call(store, "call-plain", RECENT + timedelta(hours=1), callback=False)
    return store


def run(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code = main(["records", *args, *where(data)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert not CIPHERTEXT.search(out + err), "ciphertext on screen"
    return code, out, err


def audit_rows(data: Path) -> list[tuple[str, str, str, str | None]]:
    store = open_store(data)
    try:
        return [(e.actor, e.via, e.what, e.call_id) for e in reversed(queries.audit_entries(store))]
    finally:
        store.dispose()


def test_migrate_and_status(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, data, "migrate")
    assert code == 0 and "already up to date" in out
    seed(data).dispose()
    code, out, _ = run(capsys, data, "status")
    assert code == 0
    assert re.search(r"calls\s+3 \(0 active\)", out) and re.search(r"work items\s+2 open", out)
    assert re.search(r"outbox\s+.*1 pending", out) and f"schema       {head_revision()}" in out
    code, out, _ = run(capsys, data, "status", "--json")
    report = json.loads(out)
    assert (report["calls"], report["open_items"], report["outbox"]["pending"]) == (3, 2, 1)
    assert audit_rows(data) == []  # counts hold no PHI: not audited


def test_list_show_and_callbacks_show_phi_only_where_staff_act(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(data).dispose()
    code, out, _ = run(capsys, data, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["CALL", "STARTED", "LENGTH"]
    assert [line.split()[0] for line in lines[1:]] == ["call-plain", "call-urgent", "call-old"]
    assert "sip:" not in out and PATIENT not in out
    code, out, _ = run(capsys, data, "list", "--urgent", "--since", "7d", "--json", "--by", "dr kim")
    assert [c["id"] for c in json.loads(out)["calls"]] == ["call-urgent"]

    code, out, _ = run(capsys, data, "show", "call-urgent")
    assert code == 0
    for shown in (caller_of("call-urgent"), PATIENT, BIRTH, SAID, "URGENT", "https://ehr.example:8443/hooks/booked",
                  "sigh", "warm (greeting)"):
        assert shown in out
    assert "s3cret" not in out
    code, out, _ = run(capsys, data, "show", "call-urgent", "--json")
    detail = json.loads(out)
    assert detail["caller"] == caller_of("call-urgent") and detail["transcripts"][0]["text"] == SAID

    code, out, _ = run(capsys, data, "callbacks", "--open")
    assert code == 0
    assert out.index(work_item_id("call-old", 3)) < out.index(work_item_id("call-urgent", 3))  # oldest first
    assert caller_of("call-old") in out and f"name: {PATIENT}" in out
    code, out, _ = run(capsys, data, "callbacks", "--json", "--by", "nurse jo")
    items = json.loads(out)["items"]
    assert [i["call_id"] for i in items] == ["call-urgent", "call-old"] and items[0]["slots"]["date_of_birth"] == BIRTH

    assert audit_rows(data) == [
        ("os-user", "cli", "list", None), ("dr kim", "cli", "list", None), ("os-user", "cli", "show", "call-urgent"),
        ("os-user", "cli", "show", "call-urgent"), ("os-user", "cli", "callbacks", None),
        ("nurse jo", "cli", "callbacks", None),
    ]


def test_done_and_cancel_close_once(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(data).dispose()
    item = work_item_id("call-old", 3)
    code, out, _ = run(capsys, data, "done", item[:8], "--by", "nurse jo")
    assert code == 0 and out.startswith(f"{item}: done by nurse jo") and caller_of("call-old") in out
    code, out, err = run(capsys, data, "cancel", item, "--by", "dr kim")
    assert code == 1 and out == "" and err.count("\n") == 1 and "already done (by nurse jo" in err
    code, _, err = run(capsys, data, "done", "ffffffff")
    assert code == 1 and err == "bedside records: no work item ffffffff\n"
    code, out, _ = run(capsys, data, "cancel", work_item_id("call-urgent", 3))
    assert code == 0 and ": cancelled by os-user" in out
    code, out, _ = run(capsys, data, "callbacks", "--open")
    assert out == "no open work items\n"
    assert [row for row in audit_rows(data) if row[2] in ("done", "cancel")] == [
        ("nurse jo", "cli", "done", "call-old"), ("os-user", "cli", "cancel", "call-urgent")]


def test_show_of_an_unknown_call_is_one_line_and_exit_1(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, data, "show", "no-such-call")
    assert code == 1 and out == ""
    assert err == "bedside records: no call no-such-call (wrong id, or purged after records.retention_days)\n"
    assert audit_rows(data) == [("os-user", "cli", "show", "no-such-call")]  # the attempt is audited too


def test_export_jsonl_and_csv(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(data).dispose()
    since = (RECENT - timedelta(days=1)).date().isoformat()
    code, out, _ = run(capsys, data, "export", "--since", since, "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == ["call-urgent", "call-plain"]
    assert rows[0]["urgent"] is True and rows[0]["actions"] == "urgency callback webhook"
    code, out, _ = run(capsys, data, "export", "--since", "30d", "--format", "csv")
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == list(queries.EXPORT_FIELDS) and [r[0] for r in table[1:]] == ["call-old", "call-urgent", "call-plain"]
    assert "sip:" not in out and PATIENT not in out and SAID not in out
    assert [row[2] for row in audit_rows(data)] == ["export", "export"]
    code, _, err = run(capsys, data, "export", "--since", "last week")
    assert code == 1 and "not a date" in err and err.count("\n") == 1


def test_purge_follows_retention_and_is_audited(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(data).dispose()
    retention = ["--set", "records.retention_days=5"]
    code, out, _ = run(capsys, data, "purge", "--dry-run", *retention)
    assert code == 0 and out.startswith("would delete 1 call(s)")
    code, out, err = run(capsys, data, "purge", "--json", *retention)
    assert code == 0 and json.loads(out)["calls"] == 1 and "1 of those calls' work items were still open" in err
    code, out, _ = run(capsys, data, "list", "--json")
    assert [c["id"] for c in json.loads(out)["calls"]] == ["call-plain", "call-urgent"]
    assert ("os-user", "cli", "purge", None) in audit_rows(data)


def test_rekey_rotation_procedure(data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seed(data).dispose()
    old = [line for line in (data / "records.key").read_text().splitlines() if line and not line.startswith("#")][0]
    fresh = new_key()
    monkeypatch.setenv(KEYS_ENV, f"{fresh},{old}")  # 1. the new key first, the old one after it
    code, out, _ = run(capsys, data, "rekey")  # 2. everything moves to the new key
    current = KeyRing.of([fresh], "x").current
    assert code == 0 and out.startswith(f"re-encrypted 10 value(s) under key {current}")
    monkeypatch.setenv(KEYS_ENV, fresh)  # 3. the old key goes
    code, out, _ = run(capsys, data, "show", "call-urgent")
    assert code == 0 and caller_of("call-urgent") in out and SAID in out
    monkeypatch.setenv(KEYS_ENV, old)  # the old key alone can no longer read (nor write) this database
    code, out, err = run(capsys, data, "show", "call-urgent")
    assert code == 1 and out == "" and err.startswith("bedside records: a value is encrypted under key") and err.count("\n") == 1


@pytest.mark.parametrize("damage", ["corrupt", "missing", "unmigrated", "no key"])
def test_a_broken_store_is_one_clear_line(data: Path, capsys: pytest.CaptureFixture[str], damage: str) -> None:
    db = data / "records.sqlite3"
    expected = {
        "corrupt": "not a usable SQLite database", "missing": "no records database at",
        "unmigrated": "run `bedside records migrate`", "no key": "no records key file",
    }[damage]
    if damage == "corrupt":
        for extra in data.glob("records.sqlite3-*"):
            extra.unlink()
        db.write_bytes(b"this is not a database at all, it is a text file that got copied over it" * 100)
    elif damage == "missing":
        db.unlink()
    elif damage == "unmigrated":
        db.unlink()
        open_store(data).engine.connect().close()  # an empty SQLite file
    else:
        (data / "records.key").unlink()
    for command in (["list"], ["show", "call-1"], ["callbacks", "--open"], ["status"], ["export", "--since", "1d"]):
        code, out, err = run(capsys, data, *command)
        assert code == 1 and out == "" and err.startswith("bedside records: ") and err.count("\n") == 1, (command, err)
        assert expected in err


def test_api_refuses_to_start_unsafely(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, data, "api")
    assert code == 1 and "records.api.tokens is empty" in err
    code, _, err = run(capsys, data, "api", "--set", "records.api.tokens.jo=short")
    assert code == 1 and "shorter than 24" in err
    code, _, err = run(capsys, data, "api", "--host", "0.0.0.0", "--set", "records.api.tokens.jo=" + "t" * 32)
    assert code == 1 and "not loopback" in err and "--certfile" in err


def test_help_stays_light() -> None:
    """``bedside --help`` builds the records parser: records_cli imports only the standard library
    at module level (the store, SQLAlchemy and the API load inside the handlers)."""
    import ast

    import agent.app.records_cli as records_cli

    tree = ast.parse(Path(records_cli.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {alias.name for n in top if isinstance(n, ast.Import) for alias in n.names}
    names |= {n.module for n in top if isinstance(n, ast.ImportFrom) and n.module}
    assert names and all(name.split(".")[0] in sys.stdlib_module_names or name == "__future__" for name in names), names


def test_console_script_end_to_end(data: Path) -> None:
    """The installed ``bedside`` on a corrupt file: one line on stderr, exit 1, no traceback."""
    for extra in data.glob("records.sqlite3-*"):
        extra.unlink()
    (data / "records.sqlite3").write_bytes(b"\x00garbage" * 4096)
    bedside = Path(sys.executable).with_name("bedside")
    bad = subprocess.run([bedside, "records", "show", "call-old", *where(data)], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("bedside records: ") and "not a usable SQLite database" in bad.stderr
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_audit_command_lists_reads(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(data).dispose()
    run(capsys, data, "show", "call-old", "--by", "dr kim")
    run(capsys, data, "list")
    code, out, _ = run(capsys, data, "audit", "--call", "call-old")
    assert code == 0 and "dr kim" in out and "show" in out and "os-user" not in out
    code, out, _ = run(capsys, data, "audit", "--json")
    assert [e["what"] for e in json.loads(out)] == ["list", "show"]
    with open_store(data).reading() as conn:  # reading the audit log is not itself a row in it
        assert len(conn.execute(select(schema.audit_log.c.id)).all()) == 2


# ---- similar calls -------------------------------------------------------------------------


def test_similar_ranks_calls_by_how_they_sounded_and_is_audited(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.agent.services.records.test_similar_calls import T0, clinic

    store = open_store(data)
    clinic(store)
    store.dispose()
    code, out, _ = run(capsys, data, "similar", "query")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("calls that sounded like call query (5 segment(s) compared")
    assert lines[1].split()[:4] == ["RANK", "CALL", "STARTED", "SCORE"]
    assert [line.split()[1] for line in lines[2:]] == ["copy", "two-manners", "one-manner", "unlike"]
    assert re.search(r"^1\s+copy\s+\S+ \S+\s+1\.00\s+0:0\d ↔ 0:0\d \(1\.00\)", lines[2]) and "ended, urgent" in lines[2]
    assert "sip:" not in out and (data / "similar.index").is_file()

    code, out, _ = run(capsys, data, "similar", "query", "--json", "--k", "2", "--by", "dr kim")
    result = json.loads(out)
    assert code == 0 and [c["call_id"] for c in result["calls"]] == ["copy", "two-manners"]
    assert result["query_call_id"] == "query" and result["calls"][0]["moments"][0]["similarity"] > 0.99
    since = (T0 + timedelta(hours=2)).astimezone().isoformat()  # a local time, as staff type it
    code, out, _ = run(capsys, data, "similar", "query", "--since", since, "--json")
    assert {c["call_id"] for c in json.loads(out)["calls"]} == {"one-manner", "two-manners", "unlike"}

    assert audit_rows(data) == [("os-user", "cli", "similar", "query"), ("dr kim", "cli", "similar", "query"),
                                ("os-user", "cli", "similar", "query")]
    from agent.services.records.similar import SegmentIndex

    held = len(SegmentIndex.load(data / "similar.index"))
    code, _, _ = run(capsys, data, "purge", "--set", "records.retention_days=1")  # every call here is older
    assert code == 0 and len(SegmentIndex.load(data / "similar.index")) == 0 < held  # purge reaches the index file
    store = open_store(data)
    try:
        details = [e.detail for e in reversed(queries.audit_entries(store))]
    finally:
        store.dispose()
    assert details[:3] == ["k=10", "k=2", f"k=10 since={since}"]


@pytest.mark.parametrize("args, message", [
    (["similar", "nope"], "no call nope (wrong id, or purged after records.retention_days)"),
    (["similar", "call-old"], "call call-old has no audio embeddings to compare"),
    (["similar"], "give a CALL_ID or --audio FILE, one of them"),
    (["similar", "call-old", "--audio", "x.wav"], "give a CALL_ID or --audio FILE, one of them"),
    (["similar", "call-old", "--k", "0"], "--k 0: between 1 and 100"),
    (["similar", "call-old", "--since", "last tuesday"], "not a date"),
    (["similar", "--audio", "no-such.wav"], "no-such.wav: no such audio file"),
    (["similar", "--audio", "records.key"], "records.key: cannot decode audio"),
])
def test_similar_failures_are_one_line(data: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    from tests.agent.services.records.test_similar_calls import add_call

    store = open_store(data)
    add_call(store, "call-old", RECENT, [None, [0.0] * 64])  # no embedding kept, then silence: nothing to compare
    store.dispose()
    args = [str(data / a) if a.endswith((".wav", ".key")) else a for a in args]
    code, out, err = run(capsys, data, *args)
    assert code == 1 and out == "" and err.startswith("bedside records: ") and err.count("\n") == 1, err
    assert message in err
    if args == ["similar", "nope"]:
        assert audit_rows(data) == [("os-user", "cli", "similar", "nope")]  # the attempt is audited too


@pytest.mark.slow
def test_similar_to_an_audio_file(data: Path, capsys: pytest.CaptureFixture[str], shared: Path) -> None:
    """A RAVDESS clip finds the call whose segments are that clip's (same model, same cuts) first."""
    import numpy as np

    from agent.app.audio_files import load_pcm16k
    from emotion.audio import split_segments
    from emotion.models.embedding import EmbeddingModel
    from tests.agent.services.records.test_similar_calls import add_call

    clips = sorted((shared / "data" / "ravdess" / "Actor_01").glob("*.flac"))[::12][:5]
    model = EmbeddingModel.load()
    store = open_store(data)
    for i, clip in enumerate(clips):
        x = np.frombuffer(load_pcm16k(clip), "<i2").astype(np.float32) / 32768.0
        add_call(store, f"clip-{i}", RECENT + timedelta(minutes=i), [model.embed(seg) for _, seg in split_segments(x)])
    store.dispose()
    code, out, _ = run(capsys, data, "similar", "--audio", str(clips[2]), "--json", "--k", "3")
    result = json.loads(out)
    assert code == 0 and result["query_call_id"] is None and result["query_segments"] >= 1
    assert result["calls"][0]["call_id"] == "clip-2" and result["calls"][0]["score"] > 0.99
    assert len(result["calls"]) == 3 and result["calls"][1]["score"] < result["calls"][0]["score"]
    store = open_store(data)
    try:
        entry = queries.audit_entries(store)[0]
    finally:
        store.dispose()
    assert (entry.what, entry.call_id, entry.detail) == ("similar", None, "audio k=3")
