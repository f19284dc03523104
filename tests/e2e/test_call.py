"""End-to-end calls over loopback: ``bedside call`` (pjsua2) against ``bedside serve`` (pjsua2),
real recorded speech in, real synthesized speech out. Nothing is mocked."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import noizeus_transcripts
from tests.e2e.harness import run_call, start_call
from tests.e2e.text import wer

pytestmark = [pytest.mark.call, pytest.mark.slow]

# Bound on the server's transcript of the caller, per sentence, after a G.711 u-law call.
# docs/stt.md: tiny.en (10 s window) on NOIZEUS clean through mu-law has WER 0.086 overall and
# 0.25 on the worst of the sentences used here (sp01, sp03, sp05, sp10); one more wrong word
# in an 8-word sentence adds 0.125, so 0.40 fails only on a real regression.
CALLER_WER_BOUND = 0.40
# The agent's own voice, transcribed by the QA caller: clean TTS, so a tighter bound.
AGENT_WER_BOUND = 0.25

SENTENCES = ["sp01", "sp05", "sp10"]


def test_call_is_answered_greeted_transcribed_and_answered(server, shared, tmp_path):
    refs = noizeus_transcripts(shared)
    clean = shared / "data" / "noizeus" / "clean"
    record = tmp_path / "agent.wav"
    plays = []
    for name in SENTENCES:
        plays += ["--play", str(clean / f"{name}.flac")]
    before = len(server.events_named("caller_said"))
    result = run_call(server.uri, *plays, "--record", str(record))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.summary
    assert summary["answered"] and summary["codec"] == "PCMU"

    # What the server heard: its STT transcripts, in order.
    heard = [e["transcript"] for e in server.wait_for("caller_said", before + len(SENTENCES))[before:]]
    for name, transcript in zip(SENTENCES, heard, strict=True):
        assert wer(refs[name], transcript) <= CALLER_WER_BOUND, (name, refs[name], transcript)

    # What the caller heard: the greeting, then one reply per sentence.
    said = [e["text"] for e in result.named("agent_said")]
    assert len(said) == 1 + len(SENTENCES), said
    from agent.call.turn_config import TurnConfig

    turn = TurnConfig()
    assert wer(turn.greeting, said[0]) <= AGENT_WER_BOUND, said[0]
    for reply in said[1:]:
        assert wer(turn.reply, reply) <= AGENT_WER_BOUND, reply

    # The recording really holds the agent's audio at telephone level.
    audio, rate = sf.read(record, dtype="float32")
    assert rate == 16000 and len(audio) / rate > 10
    assert 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-9) > -40

    # Per-turn timings were logged for every turn.
    turns = server.events_named("turn")[-len(SENTENCES):]
    assert all(t["first_audio_ms"] is not None and t["first_audio_ms"] > 0 for t in turns)


def test_barge_in_stops_the_greeting_on_the_recording(server, shared, tmp_path):
    """The caller talks over the greeting at 1.5 s; the agent's audio must stop soon after."""
    from agent.app.audio_files import load_pcm16k, speech_bounds

    sentence = shared / "data" / "noizeus" / "clean" / "sp02.flac"
    onset_in_file, _ = speech_bounds(load_pcm16k(sentence))
    record = tmp_path / "agent.wav"
    before = len(server.events_named("barge_in"))
    result = run_call(server.uri, "--at", "1.5", "--play", str(sentence), "--record", str(record),
                      "--duration", "9", "--no-transcribe")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(server.wait_for("barge_in", before + 1)) == before + 1

    caller_item = result.summary["caller_items"][0]
    onset = caller_item["start"] + onset_in_file
    first_turn = result.summary["agent_turns"][0]
    # The greeting is ~6 s long uninterrupted; it started at answer and must end near onset.
    assert first_turn["start"] < 0.5
    stop_delay = first_turn["end"] - onset
    # 300 ms on the server + one RTP hop each way + the caller's jitter buffer.
    # Onset is measured by energy (-40 dB under the file's peak); silero may hear the first
    # phoneme a few frames earlier, hence the small negative allowance.
    assert -0.15 < stop_delay <= 0.45, f"agent audio ran {stop_delay * 1000:.0f} ms past the caller's onset"

    audio, rate = sf.read(record, dtype="float32")
    window = audio[int((onset + 0.5) * rate): int((onset + 1.5) * rate)]
    assert 20 * np.log10(np.sqrt(np.mean(window**2)) + 1e-9) < -50, "agent still audible after barge-in"


def test_dtmf_digits_arrive_as_events(server):
    before = len(server.events_named("dtmf"))
    result = run_call(server.uri, "--dtmf", "1234#", "--no-transcribe", "--duration", "12")
    assert result.returncode == 0, result.stderr[-3000:]
    digits = [e["digits"] for e in server.wait_for("dtmf", before + 5)[before:]]
    assert digits == ["1", "2", "3", "4", "#"]


@pytest.mark.parametrize("codec", ["PCMA", "G722"])
def test_other_codecs_negotiate_and_carry_speech(server, shared, codec):
    sentence = shared / "data" / "noizeus" / "clean" / "sp03.flac"
    before = len(server.events_named("caller_said"))
    result = run_call(server.uri, "--codec", codec, "--play", str(sentence), "--no-transcribe")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.summary["codec"] == codec
    heard = server.wait_for("caller_said", before + 1)[before]["transcript"]
    assert wer(noizeus_transcripts(shared)["sp03"], heard) <= CALLER_WER_BOUND, heard


def test_five_concurrent_calls_all_complete(server, shared):
    clean = shared / "data" / "noizeus" / "clean"
    before = len(server.events_named("call_ended"))
    procs = [
        start_call(server.uri, "--play", str(clean / f"sp{i + 4:02d}.flac"), "--no-transcribe", "--duration", "25")
        for i in range(5)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    ended = server.wait_for("call_ended", before + 5)[before:]
    assert len(ended) == 5
    assert all(e["turns"] >= 1 for e in ended), ended


def test_unanswered_uri_makes_the_caller_exit_non_zero(tmp_path):
    from tests.e2e.harness import free_sip_port

    result = run_call(f"sip:nobody@127.0.0.1:{free_sip_port()}", "--no-transcribe", timeout=90)
    assert result.returncode == 3
    assert result.named("call_failed")


def test_a_cough_over_the_greeting_neither_stops_it_nor_takes_a_turn(server, shared, tmp_path):
    """A real cough (Deeply Nonverbal set, a clip whose offline barge-in score stays under the
    bar) over the greeting: the greeting plays on to its end and the cough is no turn."""
    cough = shared / "data" / "nonverbal" / "coughing" / "2AV8_4_1_0_44_0_0_0.flac"
    barge_before = len(server.events_named("barge_in"))
    turns_before = len(server.events_named("turn"))
    ended_before = len(server.events_named("call_ended"))
    result = run_call(server.uri, "--at", "1.5", "--play", str(cough), "--duration", "10", "--no-transcribe")
    assert result.returncode == 0, result.stderr[-3000:]
    greeting = result.summary["agent_turns"][0]
    assert greeting["end"] - greeting["start"] > 5.0, greeting  # the whole ~6 s greeting was heard
    server.wait_for("call_ended", ended_before + 1)
    assert len(server.events_named("barge_in")) == barge_before
    assert len(server.events_named("turn")) == turns_before
