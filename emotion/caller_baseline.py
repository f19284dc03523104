"""Reading a caller against their own voice: the running baseline behind the prosody model's
per-caller adaptation.

Why. The prosody head learned emotion from studio actors. A voice unlike theirs -- a synthetic
voice, a tense or loud speaker, an unusual microphone or codec -- moves the speech features in
directions the head takes for anger or sadness, for the whole call. Read against the caller's
own resting voice, the same features are ordinary. So each call keeps a baseline, and the model
reads every 2-s segment twice (emotion/models/prosody.py):

* **absolute**: the segment as it is, against the actors' voices;
* **relative**: the segment moved by ``reference - baseline`` -- what it would sound like if this
  caller's resting voice were the actors' average resting voice -- through a head trained the same
  way (each actor's features moved by their own neutral/calm mean).

The rule (numbers in :class:`~emotion.config.AdaptationConfig`, defaults in brackets):

1. **Baseline** = the mean of the caller's learned segments' features, shrunk toward the actors'
   mean resting voice as if that were ``prior_segments`` [1] more segment: after one segment it
   is half way there, after 20 it is 95 % the caller's own.
2. **Learning.** The first ``learn_segments`` [5] voiced segments always teach the baseline (the
   caller's first seconds, each read against a baseline that already includes it); after that a
   segment teaches it only if its relative reading is resting (neutral + calm at least
   ``resting_min`` [0.2] of the probability, after step 5's prior), so an outburst or a slow slide
   into distress is read against the earlier voice instead of becoming the new normal. Learning
   stops after ``max_segments`` [150] (5 minutes of speech).
3. **Typicality.** Each segment's *atypicality* says how unlike the training voices it is, measured
   two ways on the training features' 32 leading principal components: the Mahalanobis distance
   within them, and the residual -- how far the segment lies outside them (a synthetic voice can
   sit inside the first and far outside the second). Each is scaled so that the training
   segments' 90th percentile is 0 and their 99th is 1; the atypicality is the larger. The weight
   of the absolute reading, ``trust``, is ``1 -`` the median atypicality of the caller's segments
   so far, clipped to 0..1.
4. **Reading** = ``trust * absolute + (1 - trust) * relative`` (probabilities; valence and arousal
   follow from them). A caller whose voice is like the actors' is read in absolute terms too, so
   one who is angry from the first word is still caught; a voice unlike anything the model knows
   is read against itself, so it is not called angry for being unusual.
5. **Callers' base rate.** The heads learned from recordings of which a fifth are resting (neutral
   or calm); callers rest most of the time. By Bayes' rule the reading is re-weighted to a prior
   in which ``resting_share`` [0.5] of segments are resting: a strong reading (anger) is unmoved,
   a faint lean toward sad or angry no longer tips a calm caller over.

The baseline lives in the emotion service's stream state (one WebSocket per call) and holds only
a running sum of features and the segments' atypicalities: no audio. ``reset_stream`` or a new
connection starts it over -- a call's client reconnects only after a failure, and then the
baseline learns the voice again from the next segments (whatever their mood: a known limit)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emotion.config import AdaptationConfig


@dataclass
class CallerBaseline:
    """One caller's running baseline. Not thread safe: one per stream, used in order."""

    config: AdaptationConfig = field(default_factory=AdaptationConfig)
    segments: int = 0  # voiced segments seen
    learned: int = 0  # segments that taught the baseline
    _sum: np.ndarray | None = field(default=None, repr=False)
    _atypical: list[float] = field(default_factory=list, repr=False)

    def estimate(self, reference: np.ndarray) -> np.ndarray:
        """The caller's resting voice in feature space (rule 1)."""
        k = self.config.prior_segments
        if self._sum is None:
            return reference
        return ((self._sum + k * reference.astype(np.float64)) / (self.learned + k)).astype(np.float32)

    def atypicality(self) -> float:
        """Median atypicality of the caller's segments (0 before any): <= 0 like the training voices."""
        return float(np.median(self._atypical)) if self._atypical else 0.0

    def trust(self) -> float:
        """Weight of the absolute reading (rule 3): 1 before anything was heard."""
        return float(np.clip(1.0 - self.atypicality(), 0.0, 1.0))

    def observe(self, atypicality: float) -> None:
        """One voiced segment's atypicality (the prosody model measures it)."""
        self.segments += 1
        if len(self._atypical) < self.config.max_segments:
            self._atypical.append(float(atypicality))

    def learn(self, features: np.ndarray, resting: float) -> bool:
        """Let a segment teach the baseline (rule 2); ``resting`` is its relative reading's
        neutral + calm probability. Returns whether it did."""
        cfg = self.config
        if self.learned >= cfg.max_segments:
            return False
        if self.learned >= cfg.learn_segments and resting < cfg.resting_min:
            return False
        f = features.astype(np.float64)
        self._sum = f.copy() if self._sum is None else self._sum + f
        self.learned += 1
        return True
