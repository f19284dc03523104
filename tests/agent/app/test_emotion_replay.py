"""``bedside emotion replay``: recordings through the production emotion path, per-call figures."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.app.config import load_config
from agent.app.emotion_replay import CallReplay, audio_files, run_replay, summarise
from emotion.audio import load_audio
from emotion.training.data import getgoing_calls, ravdess_clips

REPO = Path(__file__).resolve().parents[3]


def test_directories_expand_to_their_audio_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/one.wav", "two.opus", "notes.txt", "a/three.FLAC"):
        (tmp_path / name).write_bytes(b"x")
    found = audio_files([str(tmp_path), str(tmp_path / "extra.wav")])
    assert [p.name for p in found] == ["one.wav", "three.FLAC", "two.opus", "extra.wav"]


def test_summary_pools_the_calls() -> None:
    calm = CallReplay("calm.wav", 60.0, segments=10, negative_segments=1, top_negative_segments=3, unsure_segments=4,
                      windows=10, negative_windows=0, valence_p10=0.05, valences=[0.1] * 10)
    upset = CallReplay("upset.wav", 60.0, segments=10, negative_segments=8, top_negative_segments=9, windows=10,
                       negative_windows=9, valence_p10=-0.5, urgency=True, hurry=True, valences=[-0.5] * 10)
    s = summarise([calm, upset], threshold=-0.15)
    assert (s.calls, s.urgency_calls, s.hurry_calls, s.segments) == (2, 1, 1, 20)
    assert s.negative_segment_share == pytest.approx(0.45) and s.negative_window_share == pytest.approx(0.45)
    assert s.top_negative_segment_share == pytest.approx(0.6) and s.unsure_segment_share == pytest.approx(0.2)
    assert s.worst_call_p10 == -0.5 and s.calls_p10_below_threshold == 1
    assert calm.as_dict()["negative_segment_share"] == 0.1 and "valences" not in calm.as_dict()


def _args(paths: list[str], **kw: object) -> argparse.Namespace:
    base = {"paths": paths, "json": True, "loop_to": 0.0, "scored_passes": 2, "words": "none", "url": None}
    return argparse.Namespace(**{**base, **kw})


def _replay(capsys: pytest.CaptureFixture[str], paths: list[str], overrides: dict | None = None, **kw: object) -> list[dict]:
    import asyncio

    config = load_config(None, overrides or {})
    assert asyncio.run(run_replay(_args(paths, **kw), config)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_a_real_call_loops_to_the_urgency_threshold_and_the_flag_is_reported(
    shared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GetGoing call looped to 11 minutes: the production thresholds are reachable. With a
    threshold every reading is under (negative_valence 0), the harness must report urgency at
    urgent_after_s; with the production one it reports what the models say."""
    call = next(c for c in getgoing_calls(shared, "dev") if c.user_turns)
    strict = {"call_phase": {"negative_valence": 0.0, "urgent_after_s": 60.0, "recovery_s": 1000.0}}
    out = _replay(capsys, [str(call.audio)], strict, loop_to=180.0)
    report, summary = out[0], out[-1]["summary"]
    assert report["replayed_s"] >= 180.0 and report["segments"] > 0 and report["windows"] >= report["segments"]
    if report["negative_window_share"] == 1.0:
        assert report["urgency"] and 60.0 <= report["urgency_at_s"] <= 120.0
    assert summary["calls"] == 1 and summary["segments"] == report["segments"]
    looped = _replay(capsys, [str(call.audio)], loop_to=180.0, scored_passes=3)[0]
    assert looped["segments"] == report["segments"]  # feeding answers again counts like scoring them again


@pytest.mark.slow
def test_adaptation_calm_caller_not_flagged_angry_caller_caught(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both cases of the per-caller rule on real recordings, through the production path and
    thresholds: the QA caller's calm synthetic voice (a voice unlike the actors') looped to 11
    minutes raises no urgency; a held-out actor angry from the first word reads negative."""
    subprocess.run([sys.executable, str(REPO / "scripts" / "calm_calls.py"), str(tmp_path / "calls"),
                    "--calls-per-voice", "1", "--voices", "piper"], check=True, capture_output=True)
    calm = next((tmp_path / "calls").glob("*.wav"))
    angry = tmp_path / "angry.wav"
    clips = [c for c in ravdess_clips(shared) if c.actor == 24 and c.emotion == "angry"]
    gap = np.zeros(8000, np.float32)
    sf.write(str(angry), np.concatenate([np.concatenate([load_audio(c.path), gap]) for c in clips]), 16000)
    out = _replay(capsys, [str(calm)], loop_to=660.0)[0]
    assert not out["urgency"] and out["valence_p10"] >= -0.15, out
    # its segments: at most 10 % read as a negative emotion (the weak leans read as unsure)
    assert out["negative_segment_share"] <= 0.10 and out["negative_segments"] <= out["top_negative_segments"], out
    assert sum(out["readings"].values()) == out["segments"], out
    caught = _replay(capsys, [str(angry)])[0]
    assert caught["negative_segment_share"] >= 0.6 and caught["valence_mean"] < -0.15, caught
