"""Corrections on SQLite and PostgreSQL: QA marks a segment or an utterance by seq or by time; the
row keeps who, when and what the models read; labels that do not exist and moments that were
never scored are refused with a reason; the newest correction of a moment wins while the older
stay; corrected segments come with their embedding; the export is audited and holds no PHI; a
purged call takes its corrections with it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from agent.services.records import queries
from agent.services.records.corrections import (
    Affect,
    CorrectionError,
    Target,
    add_correction,
    affect_of,
    corrected_segments,
    corrections_for,
    export_corrections,
    latest_corrections,
)
from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.queries import NotFound, Via
from agent.services.records.store import RecordStore
from tests.agent.services.records.test_queries import BIRTH, PATIENT, SAID, T0, add_call, caller_of


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = RecordStore(url, KeyRing.of([new_key()], "test"))
    store.migrate()
    add_call(store, "call-a", T0)
    add_call(store, "call-b", T0 + timedelta(hours=1))
    yield store
    store.dispose()


def test_a_segment_is_corrected_by_time_with_who_when_and_what_the_models_read(store: RecordStore) -> None:
    made = add_correction(store, "call-a", staff="lee", via=Via.CONSOLE, at_s=2.7, affect="neutral")
    assert (made.target, made.seq, made.begin_s, made.end_s) == (Target.SEGMENT, 1, 2.0, 4.0)  # the one covering 2.7 s
    assert (made.affect, made.burst, made.model_valence, made.model_arousal, made.model_burst) == (
        Affect.NEUTRAL, None, -0.5, 0.7, "sigh")
    (kept,) = corrections_for(store, "call-a")
    assert kept == made and kept.staff == "lee" and kept.created_at.tzinfo is not None
    (row,) = [e for e in queries.audit_entries(store) if e.what == "correct"]
    assert (row.actor, row.via, row.call_id) == ("lee", "console", "call-a") and "segment 1" in row.detail


def test_a_time_between_segments_takes_the_nearest_and_an_utterance_the_closest(store: RecordStore) -> None:
    past_the_end = add_correction(store, "call-a", staff="lee", via=Via.CLI, at_s=30.0, burst="cough")
    assert past_the_end.seq == 1 and past_the_end.burst == "cough"
    words = add_correction(store, "call-a", staff="lee", via=Via.CLI, target=Target.UTTERANCE, at_s=2.0, affect="distressed")
    assert (words.seq, words.begin_s, words.model_valence, words.model_burst) == (0, 3.0, -0.4, None)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"seq": 0}, "say what it was"),
    ({"seq": 0, "affect": "furious"}, "no affect 'furious'"),
    ({"seq": 0, "burst": "hiccough"}, "no burst type 'hiccough'"),
    ({"seq": 0, "at_s": 1.0, "affect": "neutral"}, "one of them"),
    ({"affect": "neutral"}, "one of them"),
    ({"seq": 9, "affect": "neutral"}, "no scored segment at seq 9"),
    ({"seq": 0, "target": Target.UTTERANCE, "burst": "sigh"}, "correct the segment"),
    ({"seq": 4, "target": Target.UTTERANCE, "affect": "neutral"}, "no scored utterance at seq 4"),
])
def test_corrections_that_cannot_be_kept_are_refused_with_a_reason(store: RecordStore, kwargs: dict, words: str) -> None:
    with pytest.raises(CorrectionError, match=words):
        add_correction(store, "call-a", staff="lee", via=Via.CONSOLE, **kwargs)
    assert corrections_for(store, "call-a") == []


def test_an_unknown_call_is_not_found(store: RecordStore) -> None:
    with pytest.raises(NotFound):
        add_correction(store, "call-zzz", staff="lee", via=Via.CONSOLE, seq=0, affect="neutral")


def test_the_newest_correction_of_a_moment_wins_and_the_older_stay(store: RecordStore) -> None:
    add_correction(store, "call-a", staff="lee", via=Via.CONSOLE, seq=1, affect="negative")
    add_correction(store, "call-a", staff="sam", via=Via.CONSOLE, seq=1, affect="neutral", burst="sigh")
    add_correction(store, "call-b", staff="lee", via=Via.CONSOLE, seq=0, burst="none")
    assert [c.staff for c in corrections_for(store, "call-a")] == ["lee", "sam"]
    latest = latest_corrections(store)
    assert [(c.call_id, c.seq, c.affect, c.burst) for c in latest] == [
        ("call-a", 1, Affect.NEUTRAL, "sigh"), ("call-b", 0, None, "none")]
    segments = corrected_segments(store)
    assert [(s.correction.call_id, s.correction.seq) for s in segments] == [("call-a", 1), ("call-b", 0)]
    expected = np.array([0.3, 0.2, 0.1], np.float32)
    assert np.allclose(segments[0].embedding, expected / np.linalg.norm(expected), atol=1e-6)
    assert segments[1].started_at == T0 + timedelta(hours=1)


def test_the_export_is_a_dataset_without_phi_and_is_audited(store: RecordStore) -> None:
    add_correction(store, "call-a", staff="lee", via=Via.CONSOLE, seq=1, affect="neutral")
    add_correction(store, "call-a", staff="lee", via=Via.CONSOLE, target=Target.UTTERANCE, seq=0, affect="distressed")
    rows = list(export_corrections(store, "dana", Via.CLI))
    assert [(r["target"], r["seq"], r["affect"]) for r in rows] == [("segment", 1, "neutral"), ("utterance", 0, "distressed")]
    assert len(rows[0]["embedding"]) == 3 and "embedding" not in rows[1]
    text = json.dumps(rows)
    for phi in (PATIENT, BIRTH, SAID, caller_of("call-a")):
        assert phi not in text
    assert [(e.actor, e.detail) for e in queries.audit_entries(store) if e.what == "export"] == [("dana", "corrections=2")]


def test_a_purged_call_takes_its_corrections_with_it(store: RecordStore) -> None:
    add_correction(store, "call-a", staff="lee", via=Via.CONSOLE, seq=1, affect="neutral")
    add_correction(store, "call-b", staff="lee", via=Via.CONSOLE, seq=1, affect="neutral")
    queries.purge(store, 1, now=T0 + timedelta(days=1, minutes=30))  # call-a started over a day before, call-b not
    assert [c.call_id for c in latest_corrections(store)] == ["call-b"]


@pytest.mark.parametrize(("valence", "affect"), [(-0.6, Affect.NEGATIVE), (-0.2, Affect.NEUTRAL), (0.0, Affect.NEUTRAL),
                                                  (0.3, Affect.POSITIVE)])
def test_a_reading_falls_in_an_affect(valence: float, affect: Affect) -> None:
    assert affect_of(valence) is affect
