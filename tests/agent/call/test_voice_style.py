"""The delivery policy's precedence: emergency > sensitive topic > burst > call phase > window,
and the workspace default when nothing has been heard; each choice names the rule that made it."""

from __future__ import annotations

import pytest

from agent.call.burst_table import load_burst_table
from agent.call.call_phase import CallPhase, Phase
from agent.call.voice_style import ExpressionChoice, ExpressionWhy, VoiceStyleConfig, choose_expression
from emotion.events import BurstEvent, Channel, EmotionUpdate, Trend, UpdateSource
from graph.schema import Topic
from tts.expression import Expression

BURSTS = load_burst_table()
CONFIG = VoiceStyleConfig()
HURRY = CallPhase(Phase.HURRY, 400.0, 0.0)


def heard(valence: float = 0.0, arousal: float = 0.3, trend: Trend = Trend.STABLE, burst: str | None = None,
          available: bool = True, coherence: float = 1.0, voice: float | None = None,
          meaning: tuple[str, float] | None = None) -> EmotionUpdate:
    bursts = (BurstEvent(burst, 9.0, 0.9, *(meaning or (None, 0.0))),) if burst else ()
    channels = {Channel.PROSODY: voice} if voice is not None else {}
    return EmotionUpdate("c", 10.0, valence, arousal, trend, 0.0, coherence, UpdateSource.READING, available=available,
                         channels=channels, recent_bursts=bursts, readings=4)


W = ExpressionWhy
PRECEDENCE = [
    ({Topic.EMERGENCY, Topic.TEST_RESULTS}, heard(burst="laugh"), HURRY, Expression.DIRECT, W.EMERGENCY_TOPIC),
    ({Topic.TEST_RESULTS}, None, None, Expression.SYMPATHETIC, W.SENSITIVE_TOPIC),  # proactive: nothing heard yet
    ({Topic.BILLING}, heard(valence=0.8, burst="laugh"), HURRY, Expression.SYMPATHETIC, W.SENSITIVE_TOPIC),
    ({Topic.MEDICATION}, heard(), None, Expression.NEUTRAL, W.NEUTRAL),  # sensitive for privacy, not for tone
    (set(), None, HURRY, Expression.NEUTRAL, W.NOT_HEARD),  # the workspace default, not the window's neutral
    (set(), heard(burst="sigh"), HURRY, Expression.SYMPATHETIC, W.BURST),  # a burst beats the phase
    (set(), heard(burst="laugh", valence=-0.5), None, Expression.ENTHUSIASTIC, W.BURST),  # ... and the window
    # what the burst meant: a groan of pain -> concerned (a groan alone is sympathetic), a sigh of relief -> warm
    (set(), heard(burst="groan", meaning=("Pain", 0.6)), None, Expression.CONCERNED, W.BURST_MEANING),
    (set(), heard(burst="sigh", meaning=("Relief", 0.5)), HURRY, Expression.ENTHUSIASTIC, W.BURST_MEANING),
    (set(), heard(burst="groan", meaning=("Pain", 0.2)), None, Expression.SYMPATHETIC, W.BURST),  # heard too faintly
    (set(), heard(burst="sigh", meaning=("Interest", 0.9)), None, Expression.SYMPATHETIC, W.BURST),  # not in the table
    (set(), heard(valence=0.8), HURRY, Expression.DIRECT, W.HURRY),  # the phase beats the window
    # "I'm fine", shakily:
    (set(), heard(valence=-0.2, coherence=0.2, voice=-0.6), None, Expression.CONCERNED, W.LOW_COHERENCE),
    (set(), heard(valence=-0.2, coherence=0.9, voice=-0.6), None, Expression.NEUTRAL, W.NEUTRAL),  # agreeing channels
    (set(), heard(valence=0.3, coherence=0.2, voice=0.5), None, Expression.NEUTRAL, W.NEUTRAL),  # disagreeing, not low
    (set(), heard(valence=-0.5, arousal=0.9), None, Expression.CALM, W.TENSE),
    (set(), heard(valence=-0.5), None, Expression.SYMPATHETIC, W.SAD),
    (set(), heard(valence=-0.5, trend=Trend.DETERIORATING), None, Expression.SYMPATHETIC, W.SAD),  # sad comes first
    (set(), heard(trend=Trend.DETERIORATING), None, Expression.SYMPATHETIC, W.DETERIORATING),
    (set(), heard(valence=0.8), None, Expression.ENTHUSIASTIC, W.HAPPY),
    (set(), heard(), None, Expression.NEUTRAL, W.NEUTRAL),
]


@pytest.mark.parametrize(("topics", "emotion", "phase", "expected", "why"), PRECEDENCE)
def test_precedence(topics, emotion, phase, expected, why) -> None:
    assert choose_expression(topics, emotion, BURSTS, CONFIG, phase) == ExpressionChoice(expected, why)


def test_every_rule_is_covered_and_fits_the_record_column() -> None:
    # A rule added to the precedence needs a row above; ``fixed`` is set by the code, never chosen.
    assert {row[-1] for row in PRECEDENCE} == set(ExpressionWhy) - {ExpressionWhy.FIXED}
    assert all(len(why) <= 32 for why in ExpressionWhy)  # replies.expression_why is String(32)


def test_an_old_burst_no_longer_counts() -> None:
    old = heard(burst="sigh")
    old = EmotionUpdate(**{**old.__dict__, "at_s": 9.0 + CONFIG.burst_recent_s + 1})
    assert choose_expression(set(), old, BURSTS, CONFIG) == ExpressionChoice(Expression.NEUTRAL, ExpressionWhy.NEUTRAL)


def test_without_a_reading_the_workspace_default_applies() -> None:
    calm_workspace = VoiceStyleConfig(default_expression=Expression.CALM)
    for emotion in (None, heard(valence=-0.9, available=False), heard(burst="sigh", available=False)):
        choice = choose_expression(set(), emotion, BURSTS, calm_workspace, HURRY)
        assert choice == ExpressionChoice(Expression.CALM, ExpressionWhy.NOT_HEARD)
