"""``bedside bench records`` at tiny sizes, without the SIP latency part (it reuses bench_latency's
calls, which the call tests exercise): every figure docs/benchmarks.md quotes is in the final JSON
line and plausible, the simulated calls have the mix the bench claims, and PostgreSQL is measured
on a real server in scratch databases, never in the database its URL names."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from agent.app.bench_records import simulated_calls
from agent.app.cli import main
from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    CallOpened,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TurnTimed,
)

TINY = ["--no-latency", "--calls", "200", "--segments", "2000", "--write-calls", "40", "--actions", "10",
        "--queries", "20"]
QUERIES = ("worklist_first_page", "worklist_later_page", "calls_last_7_days", "calls_urgent", "show_call")


def run_bench(capsys: pytest.CaptureFixture[str], tmp_path: Path, *extra: str) -> tuple[dict, str]:
    code = main(["bench", "records", *TINY, "--workdir", str(tmp_path), "--output", str(tmp_path / "out.md"), *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out.strip().splitlines()[-1]), (tmp_path / "out.md").read_text()


def plausible(stats: dict, n: int) -> None:
    assert stats["n"] == n
    assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"] < 10_000, stats


def check_write(result: dict, calls: int) -> None:
    for run in ("segments", "actions", "call_mix"):
        r = result[run]
        assert r["entries"] > 0 and r["seconds"] > 0 and r["entries_per_s"] > 0 and r["rows_per_s"] >= r["entries_per_s"], r
    assert 12 * calls <= result["segments"]["entries"] == result["segments"]["rows"] <= 18 * calls
    assert calls <= result["actions"]["entries"] <= 2 * calls
    # every call-back is an actions row plus a work item
    assert result["actions"]["rows"] == result["actions"]["entries"] + calls
    for run in ("action_commit_live", "action_commit_saturated"):
        plausible(result[run], 10)
        assert result[run]["segments_per_s"] > 0
    assert result["action_commit_saturated"]["segments_per_s"] > result["action_commit_live"]["segments_per_s"]


def check_worklist(result: dict, calls: int) -> None:
    fill = result["fill"]
    assert fill["calls"] == calls and 0.1 * calls < fill["work_items"] < 0.3 * calls and fill["fill_s"] >= 0
    assert 0 < result["open_items"] < fill["work_items"]
    for query in QUERIES:
        plausible(result[query], 20)


def test_every_figure_is_there_and_plausible(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result, table = run_bench(capsys, tmp_path)
    assert result["parts"] == ["write", "worklist", "similar"] and "latency" not in result
    assert result["machine"]["cpus"] >= 1 and result["machine"]["date"]
    check_write(result["write"]["sqlite"], 40)
    check_worklist(result["worklist"]["sqlite"], 200)
    for part in ("write", "worklist"):  # said, not faked
        assert result[part]["postgresql"]["measured"] is False and "--postgres-url" in result[part]["postgresql"]["why"]
    similar = result["similar"]
    assert similar["segments"] == 2000 and similar["queries"] == 20
    for name in ("all", "since_10pct", "since_0.1pct"):
        assert 0 < similar[name]["p50_ms"] <= similar[name]["p95_ms"] and 0.9 <= similar[name]["recall_at_10"] <= 1.0
    assert "| worklist_first_page |" in table and "| sqlite | call_mix |" in table and "PostgreSQL not measured" in table
    assert not any(tmp_path.glob("bedside-bench-records-*")), "the scratch SQLite files are removed"


def test_postgresql_is_measured_in_scratch_databases(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     postgres_url: str) -> None:
    result, table = run_bench(capsys, tmp_path, "--only", "write,worklist", "--postgres-url", postgres_url)
    check_write(result["write"]["postgresql"], 40)
    check_worklist(result["worklist"]["postgresql"], 200)
    assert "| postgresql | call_mix |" in table and "PostgreSQL not measured" not in table
    engine = create_engine(postgres_url)
    try:
        assert inspect(engine).get_table_names() == [], "nothing is written to the database the URL names"
        with engine.connect() as conn:
            left = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'bedside_bench_%'")).all()
        assert left == [], "the scratch databases are dropped"
    finally:
        engine.dispose()


def test_simulated_calls_have_the_claimed_mix() -> None:
    entries = simulated_calls(24, "mix")
    per_call: dict[str, list] = {}
    for e in entries:
        per_call.setdefault(e.call_id, []).append(e)
    assert len(per_call) == 24
    interleaved = sum(a.call_id != b.call_id for a, b in zip(entries, entries[1:]))
    assert interleaved > 24 * 5, "concurrent calls' entries interleave, as a server's do"
    for call in per_call.values():
        assert isinstance(call[0], CallOpened) and isinstance(call[-1], CallClosed)
        kinds = Counter(type(e) for e in call)
        assert 12 <= kinds[SegmentScored] <= 18 and 12 <= kinds[StateChanged] <= 18
        assert 5 <= kinds[ReplyLogged] <= 7 and kinds[TurnTimed] == kinds[ReplyLogged] - 1
        actions = [e for e in call if isinstance(e, ActionLogged)]
        assert 1 <= len(actions) <= 2 and actions[0].kind == "callback" and actions[0].slots and actions[0].work_item
        assert all(len(e.embedding) == 64 for e in call if isinstance(e, SegmentScored))


def test_unknown_part_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "records", "--only", "write,bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
