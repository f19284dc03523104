"""The delivery policy's precedence: emergency > sensitive topic > burst > call phase > window,
and the workspace default when nothing has been heard."""

from __future__ import annotations

import pytest

from agent.call.burst_table import load_burst_table
from agent.call.call_phase import CallPhase, Phase
from agent.call.voice_style import VoiceStyleConfig, choose_expression
from emotion.events import BurstEvent, Channel, EmotionUpdate, Trend, UpdateSource
from graph.schema import Topic
from tts.expression import Expression

BURSTS = load_burst_table()
CONFIG = VoiceStyleConfig()
HURRY = CallPhase(Phase.HURRY, 400.0, 0.0)


def heard(valence: float = 0.0, arousal: float = 0.3, trend: Trend = Trend.STABLE, burst: str | None = None,
          available: bool = True, coherence: float = 1.0, voice: float | None = None) -> EmotionUpdate:
    bursts = (BurstEvent(burst, 9.0, 0.9),) if burst else ()
    channels = {Channel.PROSODY: voice} if voice is not None else {}
    return EmotionUpdate("c", 10.0, valence, arousal, trend, 0.0, coherence, UpdateSource.READING, available=available,
                         channels=channels, recent_bursts=bursts, readings=4)


@pytest.mark.parametrize(
    ("topics", "emotion", "phase", "expected"),
    [
        ({Topic.EMERGENCY, Topic.TEST_RESULTS}, heard(burst="laugh"), HURRY, Expression.DIRECT),
        ({Topic.TEST_RESULTS}, None, None, Expression.SYMPATHETIC),  # proactive: nothing heard yet
        ({Topic.BILLING}, heard(valence=0.8, burst="laugh"), HURRY, Expression.SYMPATHETIC),
        ({Topic.MEDICATION}, heard(), None, Expression.NEUTRAL),  # sensitive for privacy, not for tone
        (set(), heard(burst="sigh"), HURRY, Expression.SYMPATHETIC),  # a burst beats the phase
        (set(), heard(valence=0.8), HURRY, Expression.DIRECT),  # the phase beats the window
        (set(), heard(valence=-0.2, coherence=0.2, voice=-0.6), None, Expression.CONCERNED),  # "I'm fine", shakily
        (set(), heard(valence=-0.2, coherence=0.9, voice=-0.6), None, Expression.NEUTRAL),  # agreeing channels: the window
        (set(), heard(valence=0.3, coherence=0.2, voice=0.5), None, Expression.NEUTRAL),  # disagreeing, but not low
        (set(), heard(valence=-0.5, arousal=0.9), None, Expression.CALM),
        (set(), heard(valence=-0.5), None, Expression.SYMPATHETIC),
        (set(), heard(trend=Trend.DETERIORATING), None, Expression.SYMPATHETIC),
        (set(), heard(valence=0.8), None, Expression.ENTHUSIASTIC),
        (set(), heard(), None, Expression.NEUTRAL),
    ],
)
def test_precedence(topics, emotion, phase, expected) -> None:
    assert choose_expression(topics, emotion, BURSTS, CONFIG, phase) is expected


def test_an_old_burst_no_longer_counts() -> None:
    old = heard(burst="sigh")
    old = EmotionUpdate(**{**old.__dict__, "at_s": 9.0 + CONFIG.burst_recent_s + 1})
    assert choose_expression(set(), old, BURSTS, CONFIG) is Expression.NEUTRAL


def test_without_a_reading_the_workspace_default_applies() -> None:
    calm_workspace = VoiceStyleConfig(default_expression=Expression.CALM)
    for emotion in (None, heard(valence=-0.9, available=False), heard(burst="sigh", available=False)):
        assert choose_expression(set(), emotion, BURSTS, calm_workspace, HURRY) is Expression.CALM
