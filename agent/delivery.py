"""Which expression a reply is spoken with, chosen *before* its first word is rendered.

The rule, in order (numbers in ``DeliveryConfig``; docs/graph.md explains them):

1. the reply touches an **emergency**: ``direct`` (clear and steady; the line itself is fixed);
2. the caller made a **vocal burst** in the last ``burst_recent_s``: the burst-to-delivery table
   (``configs/burst_delivery.yaml``: a cry or sigh -> sympathetic, a laugh -> enthusiastic ...),
   except that a happy burst never makes a sensitive reply enthusiastic;
3. the reply touches a **sensitive topic** (test results, billing, bereavement ...): ``sympathetic``
   (``medication`` is sensitive for privacy, not for tone, and does not count here);
4. the caller sounds **tense** (arousal above ``tense_arousal`` with negative valence): ``calm``;
5. the caller sounds **low** (valence below ``sad_valence``) or is **deteriorating**: ``sympathetic``;
6. the caller sounds **happy** (valence above ``happy_valence``): ``enthusiastic``;
7. otherwise ``neutral``. With no emotional reading (service down, breaker open) only the
   topic rules apply: the workspace default delivery."""

from __future__ import annotations

from collections.abc import Iterable

from emotion.burst_delivery import BurstDeliveryTable
from emotion.events import EmotionUpdate, Trend
from graph.config import DeliveryConfig
from graph.schema import Topic
from tts.expression import Expression

_HAPPY = frozenset({Expression.ENTHUSIASTIC})


def choose_expression(
    topics: Iterable[Topic], emotion: EmotionUpdate | None, bursts: BurstDeliveryTable, config: DeliveryConfig
) -> Expression:
    topics = frozenset(topics)
    if Topic.EMERGENCY in topics:
        return Expression.DIRECT
    sensitive = bool(topics - {Topic.MEDICATION})
    heard = emotion is not None and emotion.available and emotion.readings > 0
    if heard and emotion.last_burst is not None and emotion.at_s - emotion.last_burst.at_s <= config.burst_recent_s:
        from_burst = bursts.expression(emotion.last_burst.name)
        if from_burst is not None and not (sensitive and from_burst in _HAPPY):
            return from_burst
    if sensitive:
        return Expression.SYMPATHETIC
    if not heard:
        return Expression.NEUTRAL
    if emotion.arousal > config.tense_arousal and emotion.valence < 0:
        return Expression.CALM
    if emotion.valence < config.sad_valence or emotion.trend is Trend.DETERIORATING:
        return Expression.SYMPATHETIC
    if emotion.valence > config.happy_valence:
        return Expression.ENTHUSIASTIC
    return Expression.NEUTRAL
