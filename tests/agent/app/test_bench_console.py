"""``bedside bench console`` end to end on a small store: it signs in, times every page, and its
last line is the JSON the docs quote."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from agent.app.bench_console import call_entries
from agent.app.cli import main
from agent.services.records.entries import SegmentScored, StateChanged


def test_the_long_call_has_a_segment_and_a_state_every_two_seconds() -> None:

    entries = call_entries("c", datetime(2026, 12, 1, tzinfo=UTC), 30, random.Random(0))
    assert sum(isinstance(e, SegmentScored) for e in entries) == 900
    assert sum(isinstance(e, StateChanged) for e in entries) == 900


def test_the_bench_times_every_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "console", "--minutes", "1", "--calls", "3", "--requests", "3"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(report["pages"]) == {"review page (HTML + SVG)", "review JSON", "call list (first 50)",
                                    "graph page (drawn + node effects)"}
    for page in report["pages"].values():
        assert page["n"] == 3 and 0 < page["p50_ms"] <= page["p95_ms"] <= page["max_ms"] and page["bytes"] > 1000
