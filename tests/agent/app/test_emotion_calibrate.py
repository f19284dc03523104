"""``bedside emotion calibrate`` and ``bedside emotion corrections`` over a real records store, and
corrections teaching a running emotion service: QA marks the most negative moment of a real angry
recording as neutral, calibrate writes the deployment's file, and the running service (never
restarted) reads that same clip's moment as neutral a few seconds later."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect

from agent.app.cli import main
from agent.app.config import BedsideConfig, load_config
from agent.app.emotion_calibrate import held_back_calls
from agent.app.records_cli import open_store
from agent.services.records import queries
from agent.services.records.corrections import Target, add_correction, corrected_segments
from agent.services.records.entries import CallClosed, CallOpened, SegmentScored
from agent.services.records.queries import Via
from agent.services.records.rows import RowMaker
from agent.services.records.store import RecordStore
from emotion.audio import load_audio
from emotion.deployment_calibration import DeploymentCalibration
from emotion.training.data import ravdess_clips
from tests.agent.services.records.test_queries import T0, add_call
from tests.emotion.service_process import TOKEN, start_service, wav


def records_config(tmp_path: Path) -> BedsideConfig:
    return load_config(overrides={"records": {"data_dir": str(tmp_path / "records")}}, environ={})


def made_store(tmp_path: Path) -> RecordStore:
    store = open_store(records_config(tmp_path).records, create=True)
    store.migrate()
    return store


def cli(tmp_path: Path, *args: str) -> int:
    return main(["emotion", *args, "--set", f"records.data_dir={tmp_path / 'records'}"])


def test_calibrate_holds_the_newest_calls_back_reports_before_and_after_and_writes(tmp_path: Path, capsys) -> None:
    store = made_store(tmp_path)
    for i in range(4):
        add_call(store, f"call-{i}", T0 + timedelta(hours=i))
        add_correction(store, f"call-{i}", staff="lee", via=Via.CONSOLE, seq=1, affect="neutral", burst="sigh")
    segments = corrected_segments(store)
    judged = held_back_calls(segments, 0.25)
    assert judged == {"call-3"} and sum(s.correction.call_id not in judged for s in segments) == 3
    out = tmp_path / "calibration.json"
    assert cli(tmp_path, "calibrate", "--out", str(out), "--json", "--by", "dana") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["corrections"], report["calls"], report["learnt_from"], report["held_back"]) == (4, 4, 3, 1)
    # Every call's segment 1 has the same sound (the fixtures' embedding): the held-back one is
    # pulled by the exemplars learnt from the other three, all the way to what QA said.
    assert report["before"]["valence_error"] == pytest.approx(0.5) and report["before"]["affect_agreement"] == 0.0
    assert report["after"]["valence_error"] == pytest.approx(0.0, abs=1e-3) and report["after"]["affect_agreement"] == 1.0
    assert report["before"]["burst_agreement"] == 1.0  # the models had read a sigh there too
    calibration = DeploymentCalibration.load(out)
    assert calibration.corrections == 4 and len(calibration.valences) == 4
    (row,) = [e for e in queries.audit_entries(store) if e.what == "calibrate"]
    assert row.actor == "dana" and "corrections=4" in row.detail


def test_a_dry_run_writes_nothing_and_no_corrections_is_a_clear_error(tmp_path: Path, capsys) -> None:
    store = made_store(tmp_path)
    add_call(store, "call-0", T0)
    out = tmp_path / "calibration.json"
    assert cli(tmp_path, "calibrate", "--out", str(out)) == 1
    assert "no corrections yet" in capsys.readouterr().err
    add_correction(store, "call-0", staff="lee", via=Via.CONSOLE, seq=0, affect="negative")
    assert cli(tmp_path, "calibrate", "--out", str(out), "--dry-run") == 0
    printed = capsys.readouterr().out
    assert "voice: nothing held back to judge on" in printed and "dry run" in printed and not out.exists()
    assert cli(tmp_path, "calibrate", "--out", str(out), "--hold-back", "1.5") == 1


def test_corrections_of_the_words_fit_the_words_valence_and_are_judged_on_the_newest_calls(tmp_path: Path, capsys) -> None:
    store = made_store(tmp_path)
    for i in range(4):  # the language model read each call's utterance at -0.4; QA says neutral
        add_call(store, f"call-{i}", T0 + timedelta(hours=i))
        add_correction(store, f"call-{i}", staff="lee", via=Via.CONSOLE, target=Target.UTTERANCE, seq=0, affect="neutral")
    out = tmp_path / "calibration.json"
    assert cli(tmp_path, "calibrate", "--out", str(out), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["corrections"], report["utterances"], report["utterances_held_back"], report["calls"]) == (0, 4, 1, 4)
    assert report["before"] is None  # no segments: nothing to judge the voice on
    assert report["words_before"]["valence_error"] == pytest.approx(0.4)
    assert report["words_after"]["valence_error"] < report["words_before"]["valence_error"]
    calibration = DeploymentCalibration.load(out)
    assert calibration.apply_language(-0.4) > -0.4 and calibration.corrections == 4 and len(calibration.valences) == 0


def test_corrections_export_as_json_lines(tmp_path: Path, capsys) -> None:
    store = made_store(tmp_path)
    add_call(store, "call-0", T0)
    add_correction(store, "call-0", staff="lee", via=Via.CONSOLE, seq=1, affect="neutral")
    add_correction(store, "call-0", staff="lee", via=Via.CONSOLE, target=Target.UTTERANCE, seq=0, affect="distressed")
    out = tmp_path / "corrections.jsonl"
    assert cli(tmp_path, "corrections", "--out", str(out)) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["target"], r["affect"], r["staff"]) for r in rows] == [("segment", "neutral", "lee"), ("utterance", "distressed", "lee")]
    assert "2 corrections written" in capsys.readouterr().err


async def prosody(url: str, x: np.ndarray) -> list[dict]:
    message = json.dumps({"data": base64.b64encode(wav(x)).decode(), "models": {"prosody": {}}, "payload_id": "p"})
    async with connect(url, additional_headers={"X-Hume-Api-Key": TOKEN}, proxy=None) as ws:
        await ws.send(message)
        return json.loads(await asyncio.wait_for(ws.recv(), 60))["prosody"]["predictions"]


@pytest.mark.slow
async def test_a_correction_teaches_the_running_service_that_clips_reading(tmp_path: Path, shared: Path) -> None:
    calibration = tmp_path / "emotion-calibration.json"
    service = start_service(tmp_path, f"emotion.service.calibration_file={calibration}")
    try:
        clip = next(c for c in ravdess_clips(shared) if c.actor == 22 and c.emotion == "angry" and c.strong)
        x = load_audio(clip.path)[:64000]
        before = await prosody(service.url, x)
        worst = min(range(len(before)), key=lambda i: before[i]["valence"])
        assert before[worst]["valence"] < -0.2, before  # an angry actor: read negative
        assert all("calibration" not in p for p in before)

        # The call the runtime would have recorded: the same segments, with their embeddings.
        store = made_store(tmp_path)
        maker = RowMaker(store.keys, keep_transcripts=False, expire_after=timedelta(days=1))
        entries = [CallOpened("call-x", T0, "host", 0, None, "sip:qa@test")]
        entries += [SegmentScored("call-x", i, p["time"]["begin"], p["time"]["end"], p["valence"], p["arousal"], "none", 0.0, {},
                                  tuple(p["embedding"])) for i, p in enumerate(before)]
        entries.append(CallClosed("call-x", T0 + timedelta(seconds=5), "caller hung up", 1, 0, 0, False, False, None, None, None))
        store.apply([row for entry in entries for row in maker.rows(entry)])
        made = add_correction(store, "call-x", staff="qa1", via=Via.CONSOLE, seq=worst, affect="neutral")
        assert made.model_valence == pytest.approx(before[worst]["valence"])
        store.dispose()

        assert cli(tmp_path, "calibrate", "--out", str(calibration)) == 0
        await asyncio.sleep(2.5)  # the service looks at the file at most every 2 s
        after = await prosody(service.url, x)
        assert abs(after[worst]["valence"]) < 0.05 and after[worst]["calibration"]["pull"] > 0.95, after[worst]
        assert service.events_named("calibration_loaded")
    finally:
        assert service.stop() == 0
