"""The rolling window: a call's recent readings -> valence, arousal, trend and coherence.

The rule (numbers from :class:`emotion.config.WindowConfig`, defaults in brackets):

1. **Recency.** A reading ``age`` seconds old weighs ``r = weight * (1 - age / horizon)``
   [horizon 30 s]: linear, newest ~1, gone at the horizon. At most ``max_readings`` [15] per
   channel are kept (15 two-second segments = 30 s).
2. **Channels.** Each channel's valence/arousal is the ``r``-weighted mean of its readings and of a
   neutral prior (valence 0, the defaults' arousal) weighing ``prior_weight`` [1]: a reading's
   ``weight`` is how sure its model is (prosody's calibrated ``confidence``), so a few unsure
   readings stay near neutral -- weak evidence never drifts the caller negative -- while steady,
   confident ones take over (15 certain segments in 30 s: 89 % of their mean). Its *evidence*
   ``m = min(1, sum r)`` fades as its readings age (one utterance 20 s ago: 0.33).
3. **Voice.** Prosody and bursts fuse into the voice: weights ``0.4 m_prosody`` and ``0.2 m_burst``
   (bursts only count while one is in the window).
4. **Words vs voice.** ``c = 1 - |V_words - V_voice| / 2``. The words weigh
   ``m_language * (0.12 + (0.4 - 0.12) * c^2)``: as much as prosody when words and voice agree,
   under a third of that when they contradict each other. So "I'm fine" (words +0.4, one utterance:
   +0.2 after the prior) in a flat, sad voice (four segments at -0.5 in 8 s: -0.39) gives c = 0.70,
   words' weight 0.26 against the voice's 0.40, fused valence -0.16: negative. The floor (>= a
   quarter of the full weight) keeps the fused valence *monotone* in every reading: lowering any
   reading's valence never raises the result.
5. **Fused** valence and arousal are the weighted means of voice and words.
6. **Coherence** (0..1) is ``1 - weighted mean of |V_i - V_j| / 2`` over the pairs of channels
   with evidence (pair weight ``m_i m_j``); 1 with a single channel.
7. **Trend** is the slope of valence over the window's readings, each channel centred on its own
   mean (so a channel that always reads higher does not fake a trend), weighted by the channel's
   share, in valence per minute: below -0.6 deteriorating, above +0.6 improving, else stable; and
   stable with fewer than 5 readings or under 8 s of them.

After 30 s of calm speech (valence 0.2), one frustrated utterance (two 2-s segments at -0.8) moves
the fused valence by about a quarter of the difference and leaves the trend stable (slope -1.4 per
minute); a third frustrated segment in a row (6 s) turns it to deteriorating (-1.9 per minute).
tests/emotion/test_window.py checks both."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from emotion.config import DefaultsConfig, WindowConfig
from emotion.events import BurstEvent, Channel, EmotionScore, EmotionUpdate, Reading, Trend, UpdateSource

_NEGLIGIBLE = 1e-6  # a reading weighing less than this is no evidence (and would underflow the means)


@dataclass(frozen=True)
class WindowState:
    valence: float
    arousal: float
    coherence: float
    slope_per_min: float
    trend: Trend
    channels: dict[Channel, float]
    readings: int


class RollingWindow:
    """Add readings with :meth:`add`; :meth:`state` gives the fused state at a call time."""

    def __init__(self, config: WindowConfig | None = None, defaults: DefaultsConfig | None = None) -> None:
        self.config = config or WindowConfig()
        self.defaults = defaults or DefaultsConfig()
        self._readings: dict[Channel, deque[Reading]] = {c: deque(maxlen=self.config.max_readings) for c in Channel}

    def add(self, reading: Reading) -> None:
        if not (-1.0 <= reading.valence <= 1.0 and 0.0 <= reading.arousal <= 1.0 and 0.0 <= reading.weight <= 1.0):
            raise ValueError(f"reading out of range: {reading}")
        self._readings[reading.channel].append(reading)

    def clear(self) -> None:
        for q in self._readings.values():
            q.clear()

    def _live(self, now_s: float) -> dict[Channel, list[tuple[Reading, float]]]:
        """Readings within the horizon with their recency weight r (step 1)."""
        h = self.config.horizon_s
        out: dict[Channel, list[tuple[Reading, float]]] = {}
        for channel, q in self._readings.items():
            live = [(r, r.weight * (1.0 - (now_s - r.at_s) / h)) for r in q if 0.0 <= now_s - r.at_s < h]
            out[channel] = [(r, w) for r, w in live if w > _NEGLIGIBLE]
        return out

    def state(self, now_s: float) -> WindowState:
        cfg = self.config
        live = self._live(now_s)
        mean: dict[Channel, tuple[float, float]] = {}
        evidence: dict[Channel, float] = {}
        prior = cfg.prior_weight
        for channel, items in live.items():
            total = sum(w for _, w in items)
            if total <= 0:
                continue
            mean[channel] = (
                sum(w * r.valence for r, w in items) / (total + prior),
                (sum(w * r.arousal for r, w in items) + prior * self.defaults.arousal) / (total + prior),
            )
            evidence[channel] = min(1.0, total)
        n = sum(len(items) for items in live.values())
        if not mean:
            return WindowState(self.defaults.valence, self.defaults.arousal, 1.0, 0.0, Trend.STABLE, {}, 0)

        voice_w = {c: base * evidence[c] for c, base in ((Channel.PROSODY, cfg.prosody_weight), (Channel.BURST, cfg.burst_weight)) if c in mean}
        parts: list[tuple[float, float, float]] = []  # (weight, valence, arousal)
        if voice_w:
            total = sum(voice_w.values())
            v_voice = sum(w * mean[c][0] for c, w in voice_w.items()) / total
            a_voice = sum(w * mean[c][1] for c, w in voice_w.items()) / total
            parts.append((total, v_voice, a_voice))
        if Channel.LANGUAGE in mean:
            v_words, a_words = mean[Channel.LANGUAGE]
            share = cfg.language_weight
            if voice_w:
                c = 1.0 - abs(v_words - parts[0][1]) / 2.0
                share = cfg.language_min_weight + (cfg.language_weight - cfg.language_min_weight) * c * c
            parts.append((share * evidence[Channel.LANGUAGE], v_words, a_words))
        weight = sum(p[0] for p in parts)
        valence = sum(p[0] * p[1] for p in parts) / weight
        arousal = sum(p[0] * p[2] for p in parts) / weight
        slope = self._slope(live)
        trend = Trend.STABLE
        if slope <= -cfg.trend_threshold_per_min:
            trend = Trend.DETERIORATING
        elif slope >= cfg.trend_threshold_per_min:
            trend = Trend.IMPROVING
        return WindowState(
            float(np.clip(valence, -1.0, 1.0)),
            float(np.clip(arousal, 0.0, 1.0)),
            self._coherence(mean, evidence),
            slope,
            trend,
            {c: v for c, (v, _) in mean.items()},
            n,
        )

    @staticmethod
    def _coherence(mean: dict[Channel, tuple[float, float]], evidence: dict[Channel, float]) -> float:
        channels = list(mean)
        num = den = 0.0
        for i, a in enumerate(channels):
            for b in channels[i + 1 :]:
                w = evidence[a] * evidence[b]
                num += w * abs(mean[a][0] - mean[b][0]) / 2.0
                den += w
        return 1.0 if den <= 0 else float(np.clip(1.0 - num / den, 0.0, 1.0))

    def _slope(self, live: dict[Channel, list[tuple[Reading, float]]]) -> float:
        """Valence per minute (step 7): pooled within-channel least squares."""
        cfg = self.config
        base = {Channel.PROSODY: cfg.prosody_weight, Channel.BURST: cfg.burst_weight, Channel.LANGUAGE: cfg.language_weight}
        times = [r.at_s for items in live.values() for r, _ in items]
        if len(times) < cfg.trend_min_readings or max(times) - min(times) < cfg.trend_min_span_s:
            return 0.0
        num = den = 0.0
        for channel, items in live.items():
            if len(items) < 2:
                continue
            t = np.array([r.at_s for r, _ in items])
            v = np.array([r.valence for r, _ in items])
            w = base[channel] * np.array([r.weight for r, _ in items])
            tc = t - np.average(t, weights=w) if w.sum() > 0 else t - t.mean()
            vc = v - np.average(v, weights=w) if w.sum() > 0 else v - v.mean()
            num += float(np.sum(w * tc * vc))
            den += float(np.sum(w * tc * tc))
        return 0.0 if den <= 1e-9 else 60.0 * num / den

    def top_emotions(self, now_s: float, per_channel: int = 2) -> tuple[EmotionScore, ...]:
        """The voice's and the words' best categories, recency-weighted, best first."""
        out: list[EmotionScore] = []
        for channel, items in self._live(now_s).items():
            if channel is Channel.BURST or not items:
                continue
            sums: dict[str, float] = {}
            total = 0.0
            for r, w in items:
                total += w
                for name, score in r.emotions:
                    sums[name] = sums.get(name, 0.0) + w * score
            best = sorted(sums.items(), key=lambda kv: -kv[1])[:per_channel]
            out.extend(EmotionScore(channel, name, s / total) for name, s in best if total > 0)
        return tuple(sorted(out, key=lambda e: -e.score))

    def recent_bursts(self, now_s: float) -> tuple[BurstEvent, ...]:
        return tuple(
            BurstEvent(r.burst or "", r.at_s, r.weight, *(r.meaning or (None, 0.0)))
            for r, _ in self._live(now_s)[Channel.BURST]
        )

    def update(self, call_id: str, now_s: float, source: UpdateSource = UpdateSource.READING) -> EmotionUpdate:
        s = self.state(now_s)
        return EmotionUpdate(
            call_id=call_id,
            at_s=now_s,
            valence=s.valence,
            arousal=s.arousal,
            trend=s.trend,
            slope_per_min=s.slope_per_min,
            coherence=s.coherence,
            source=source,
            available=True,
            channels=s.channels,
            top_emotions=self.top_emotions(now_s),
            recent_bursts=self.recent_bursts(now_s),
            readings=s.readings,
        )

    def defaults_update(self, call_id: str, now_s: float) -> EmotionUpdate:
        """The workspace defaults, for while emotion is unavailable."""
        d = self.defaults
        return EmotionUpdate(call_id, now_s, d.valence, d.arousal, Trend.STABLE, 0.0, 1.0, UpdateSource.DEFAULTS, available=False)
