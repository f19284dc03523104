"""Where a call stands in time, emotionally: long and getting worse, or long and unhappy.

A clinic call that has gone on for minutes with the caller getting more upset needs the agent
to get to the point; one where the caller has sounded negative for ten minutes needs a person.
:class:`CallPhaseTracker` follows the rolling window's updates and says so:

* **hurry**: the call is older than ``hurry_after_s`` (5 min) and the trend is deteriorating:
  voice style turns ``direct`` (faster, clearer) and the wording is told to be brief;
* **urgent**: the fused valence has stayed below ``negative_valence`` for ``urgent_after_s``
  (10 min), better readings lasting under ``recovery_s`` not breaking it: the **urgency
  flag**, raised once per call, which escalates the call to a person (agent/call/escalation.py).

Only readings count: while emotion is unavailable (breaker open) the clock of negative valence
neither runs nor resets, so an outage can neither raise nor hide the flag. Thresholds are in
``VoiceStyleConfig.phase`` so tests shrink them to seconds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from emotion.events import EmotionUpdate, Trend


class CallPhaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hurry_after_s: float = Field(300.0, ge=0, description="a call this old with a deteriorating trend: direct, brief replies")
    urgent_after_s: float = Field(600.0, gt=0, description="negative valence sustained this long: the urgency flag (escalation)")
    negative_valence: float = Field(-0.15, ge=-1, le=0, description="fused valence below this counts as negative")
    recovery_s: float = Field(20.0, ge=0, description="better readings for this long restart the count (a moment's relief does not)")


class Phase(StrEnum):
    OPENING = "opening"  # before hurry_after_s
    ONGOING = "ongoing"
    HURRY = "hurry"  # long and deteriorating
    URGENT = "urgent"  # the urgency flag is up


@dataclass(frozen=True, slots=True)
class CallPhase:
    phase: Phase
    elapsed_s: float  # since the call was answered
    negative_s: float  # how long valence has been sustained negative (0 if it is not now)

    @property
    def hurry(self) -> bool:
        return self.phase in (Phase.HURRY, Phase.URGENT)


class CallPhaseTracker:
    def __init__(self, config: CallPhaseConfig, started_at: float) -> None:
        self.config = config
        self.started_at = started_at
        self._negative_since: float | None = None
        self._better_since: float | None = None  # first non-negative reading since then
        self._trend = Trend.STABLE
        self.flagged_at: float | None = None  # when the urgency flag went up (None: not yet)

    def observe(self, update: EmotionUpdate, now: float) -> bool:
        """Feed one rolling-window update; returns True the moment the urgency flag goes up.
        Silence (no update) never breaks the count; only ``recovery_s`` of better readings do."""
        if not update.available or update.readings == 0:
            return False
        self._trend = update.trend
        if update.valence < self.config.negative_valence:
            if self._negative_since is None:
                self._negative_since = now
            self._better_since = None
        elif self._negative_since is not None:
            if self._better_since is None:
                self._better_since = now
            if now - self._better_since >= self.config.recovery_s:
                self._negative_since = self._better_since = None
        if self.flagged_at is None and self.negative_s(now) >= self.config.urgent_after_s:
            self.flagged_at = now
            return True
        return False

    def negative_s(self, now: float) -> float:
        return 0.0 if self._negative_since is None else now - self._negative_since

    def current(self, now: float) -> CallPhase:
        elapsed = now - self.started_at
        if self.flagged_at is not None:
            phase = Phase.URGENT
        elif elapsed >= self.config.hurry_after_s and self._trend is Trend.DETERIORATING:
            phase = Phase.HURRY
        elif elapsed >= self.config.hurry_after_s:
            phase = Phase.ONGOING
        else:
            phase = Phase.OPENING
        return CallPhase(phase, elapsed, self.negative_s(now))
