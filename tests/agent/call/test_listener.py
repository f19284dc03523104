"""Caller audio to turn frames (agent/call/listener.py), on a real segmenter and real speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.call.frames import BargeIn, CallerSpeaking, TurnEnded
from agent.call.listener import Listener
from telephony.audio import float_to_pcm16, split_frames
from telephony.config import BargeInConfig, SegmentationConfig
from telephony.frames import AudioIn, Segment
from telephony.segmenter import Segmenter
from telephony.vad import create_vad
from tests.telephony.signals import load16, pcm

pytestmark = pytest.mark.slow


def frames_of(pcm: bytes) -> list[AudioIn]:
    return [AudioIn(f, (i + 1) * 0.02) for i, f in enumerate(split_frames(pcm))]


@pytest.fixture(scope="module")
def speech(shared: Path) -> bytes:
    """A real spoken sentence (NOIZEUS sp05, 2.6 s), 16 kHz PCM16."""
    return pcm(load16(shared / "data" / "noizeus" / "clean" / "sp05.flac"))


def listen(pcm: bytes, agent_speaking: bool, playing: bool = True) -> list[object]:
    config = SegmentationConfig()
    listener = Listener(Segmenter(config, create_vad(config)), BargeInConfig(), lambda: agent_speaking, lambda: playing,
                        clock=lambda: 0.0)
    out: list[object] = []
    for frame in frames_of(pcm + bytes(32000)):  # and a second of silence to close the utterance
        out += listener.hear(frame)
    return out + listener.flush()


def test_speech_while_the_agent_is_quiet_is_a_turn(speech: bytes) -> None:
    heard = listen(speech, agent_speaking=False)
    kinds = [type(f) for f in heard if not isinstance(f, Segment)]
    assert kinds[0] is CallerSpeaking and TurnEnded in kinds and BargeIn not in kinds
    turn = next(f for f in heard if isinstance(f, TurnEnded))
    assert not turn.backchannel and turn.utterance.duration_s > 0.5
    assert any(isinstance(f, Segment) for f in heard)


def test_speech_over_the_agent_barges_in_and_is_still_a_turn(speech: bytes) -> None:
    heard = listen(speech, agent_speaking=True)
    assert sum(isinstance(f, BargeIn) for f in heard) >= 1
    assert next(f for f in heard if isinstance(f, CallerSpeaking)).overlapped
    assert not next(f for f in heard if isinstance(f, TurnEnded)).backchannel


def test_speech_over_audio_that_is_not_playing_yet_does_not_barge_in(speech: bytes) -> None:
    heard = listen(speech, agent_speaking=True, playing=False)
    assert not any(isinstance(f, BargeIn) for f in heard)
    assert next(f for f in heard if isinstance(f, TurnEnded)).backchannel  # overlapped, never stopped the agent


def test_a_quiet_line_gives_nothing_but_segments() -> None:
    rng = np.random.default_rng(3)
    hiss = float_to_pcm16(0.0005 * rng.standard_normal(16000 * 3).astype(np.float32))
    assert all(isinstance(f, Segment) for f in listen(hiss, agent_speaking=True))
