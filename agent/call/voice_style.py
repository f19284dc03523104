"""Which expression a reply is spoken with, chosen *before* its first word is rendered.

The rule, first match wins (numbers in ``VoiceStyleConfig``, the ``voice_style`` settings;
docs/expressions.md explains them):

1. the reply touches an **emergency**: ``direct`` (clear and steady; the line itself is fixed);
2. the reply touches a **sensitive topic** (test results, billing, bereavement ...):
   ``sympathetic``, from the first word and whatever the caller sounds like so far: this is
   proactive (``medication`` is sensitive for privacy, not for tone, and does not count here);
3. the caller made a **vocal burst** in the last ``burst_recent_s``: the burst table
   (``configs/burst_delivery.yaml``: a cry or sigh -> sympathetic, a laugh -> enthusiastic ...);
4. the **call phase** says hurry (a long call that is getting worse, or the urgency flag):
   ``direct`` (agent/call/call_phase.py);
5. the rolling **window**: words and voice disagree (coherence below ``low_coherence``) while
   the voice sounds low -> ``concerned`` ("I'm fine" said in a breaking voice: check in gently);
   tense (arousal above ``tense_arousal`` with negative valence) -> ``calm``; low (valence below
   ``sad_valence``) or deteriorating -> ``sympathetic``; happy (valence above
   ``happy_valence``) -> ``enthusiastic``; otherwise ``neutral``;
6. with no emotional reading at all (service down, breaker open, nothing heard yet) rules 3-5
   cannot apply: the workspace default, ``default_expression``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agent.call.burst_table import BurstTable
from agent.call.call_phase import CallPhase
from emotion.events import Channel, EmotionUpdate, Trend
from graph.schema import Topic
from tts.expression import Expression


class VoiceStyleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    """How the expression of a reply is chosen from its topics and the caller's state
    (the rule above; its numbers are in docs/expressions.md)."""

    sad_valence: float = Field(-0.3, ge=-1, le=0, description="caller valence below this: sympathetic")
    tense_arousal: float = Field(0.65, ge=0, le=1, description="arousal above this with negative valence: calm")
    happy_valence: float = Field(0.45, ge=0, le=1, description="valence above this (and nothing sensitive): enthusiastic")
    low_coherence: float = Field(
        0.35, ge=0, le=1, description="words and voice disagree below this coherence: a low voice then means concerned")
    burst_recent_s: float = Field(10.0, gt=0, le=60, description="a burst this recent sets the voice style (burst table)")
    default_expression: Expression = Field(
        Expression.NEUTRAL, description="the workspace default: used when there is no emotional reading (service down, breaker open)")
    burst_table: Path | None = Field(
        None, description="the burst table: voice style and meaning of each vocal burst type (empty = configs/burst_delivery.yaml)")


def choose_expression(
    topics: Iterable[Topic], emotion: EmotionUpdate | None, bursts: BurstTable, config: VoiceStyleConfig,
    phase: CallPhase | None = None,
) -> Expression:
    topics = frozenset(topics)
    if Topic.EMERGENCY in topics:
        return Expression.DIRECT
    if topics - {Topic.MEDICATION}:
        return Expression.SYMPATHETIC
    heard = emotion is not None and emotion.available and emotion.readings > 0
    if not heard:
        return config.default_expression
    if emotion.last_burst is not None and emotion.at_s - emotion.last_burst.at_s <= config.burst_recent_s:
        from_burst = bursts.expression(emotion.last_burst.name)
        if from_burst is not None:
            return from_burst
    if phase is not None and phase.hurry:
        return Expression.DIRECT
    voice = emotion.channels.get(Channel.PROSODY)
    if emotion.coherence < config.low_coherence and voice is not None and voice < config.sad_valence:
        return Expression.CONCERNED
    if emotion.arousal > config.tense_arousal and emotion.valence < 0:
        return Expression.CALM
    if emotion.valence < config.sad_valence or emotion.trend is Trend.DETERIORATING:
        return Expression.SYMPATHETIC
    if emotion.valence > config.happy_valence:
        return Expression.ENTHUSIASTIC
    return Expression.NEUTRAL
