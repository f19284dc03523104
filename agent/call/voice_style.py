"""Which expression a reply is spoken with, chosen *before* its first word is rendered.

The rule, first match wins (numbers in ``VoiceStyleConfig``, the ``voice_style`` settings;
docs/expressions.md explains them):

1. the reply touches an **emergency**: ``direct`` (clear and steady; the line itself is fixed);
2. the reply touches a **sensitive topic** (test results, billing, bereavement ...):
   ``sympathetic``, from the first word and whatever the caller sounds like so far: this is
   proactive (``medication`` is sensitive for privacy, not for tone, and does not count here);
3. the caller made a **vocal burst** in the last ``burst_recent_s``: the burst table
   (``configs/burst_delivery.yaml``: a cry or sigh -> sympathetic, a laugh -> enthusiastic ...),
   or, when the table lists what the burst meant and the model heard that clearly, the meaning's
   (a groan of pain -> concerned, a sigh of relief -> enthusiastic);
4. the **call phase** says hurry (a long call that is getting worse, or the urgency flag):
   ``direct`` (agent/call/call_phase.py);
5. the rolling **window**: words and voice disagree (coherence below ``low_coherence``) while
   the voice sounds low -> ``concerned`` ("I'm fine" said in a breaking voice: check in gently);
   tense (arousal above ``tense_arousal`` with negative valence) -> ``calm``; low (valence below
   ``sad_valence``) or deteriorating -> ``sympathetic``; happy (valence above
   ``happy_valence``) -> ``enthusiastic``; otherwise ``neutral``;
6. with no emotional reading at all (service down, breaker open, nothing heard yet) rules 3-5
   cannot apply: the workspace default, ``default_expression``.

The choice comes with the rule that made it (:class:`ExpressionWhy`): the call record keeps both,
so a reviewer can see why a reply sounded the way it did."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
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


class ExpressionWhy(StrEnum):
    """The rule that set a reply's expression: one per step of the precedence above, plus ``fixed``
    for lines whose expression the code sets (hold message, urgent line, reprompts, goodbyes).
    Stored in the call record (a 32-character column)."""

    EMERGENCY_TOPIC = "emergency_topic"
    SENSITIVE_TOPIC = "sensitive_topic"
    NOT_HEARD = "not_heard"  # no emotional reading: the workspace default
    BURST = "burst"  # the burst type's expression (the burst table)
    BURST_MEANING = "burst_meaning"  # what the burst meant (its affect) picked a different one
    HURRY = "hurry"
    LOW_COHERENCE = "low_coherence"
    TENSE = "tense"
    SAD = "sad"
    DETERIORATING = "deteriorating"
    HAPPY = "happy"
    NEUTRAL = "neutral"
    FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class ExpressionChoice:
    """An expression and the rule that chose it."""

    expression: Expression
    why: ExpressionWhy


def choose_expression(
    topics: Iterable[Topic], emotion: EmotionUpdate | None, bursts: BurstTable, config: VoiceStyleConfig,
    phase: CallPhase | None = None,
) -> ExpressionChoice:
    topics = frozenset(topics)
    if Topic.EMERGENCY in topics:
        return ExpressionChoice(Expression.DIRECT, ExpressionWhy.EMERGENCY_TOPIC)
    if topics - {Topic.MEDICATION}:
        return ExpressionChoice(Expression.SYMPATHETIC, ExpressionWhy.SENSITIVE_TOPIC)
    heard = emotion is not None and emotion.available and emotion.readings > 0
    if not heard:
        return ExpressionChoice(config.default_expression, ExpressionWhy.NOT_HEARD)
    if emotion.last_burst is not None and emotion.at_s - emotion.last_burst.at_s <= config.burst_recent_s:
        last = emotion.last_burst
        from_burst = bursts.expression(last.name, last.meaning, last.meaning_score)
        if from_burst is not None:
            by_meaning = from_burst != bursts.expression(last.name)
            return ExpressionChoice(from_burst, ExpressionWhy.BURST_MEANING if by_meaning else ExpressionWhy.BURST)
    if phase is not None and phase.hurry:
        return ExpressionChoice(Expression.DIRECT, ExpressionWhy.HURRY)
    voice = emotion.channels.get(Channel.PROSODY)
    if emotion.coherence < config.low_coherence and voice is not None and voice < config.sad_valence:
        return ExpressionChoice(Expression.CONCERNED, ExpressionWhy.LOW_COHERENCE)
    if emotion.arousal > config.tense_arousal and emotion.valence < 0:
        return ExpressionChoice(Expression.CALM, ExpressionWhy.TENSE)
    if emotion.valence < config.sad_valence:
        return ExpressionChoice(Expression.SYMPATHETIC, ExpressionWhy.SAD)
    if emotion.trend is Trend.DETERIORATING:
        return ExpressionChoice(Expression.SYMPATHETIC, ExpressionWhy.DETERIORATING)
    if emotion.valence > config.happy_valence:
        return ExpressionChoice(Expression.ENTHUSIASTIC, ExpressionWhy.HAPPY)
    return ExpressionChoice(Expression.NEUTRAL, ExpressionWhy.NEUTRAL)
