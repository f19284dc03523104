"""What a vocal burst says about how the caller feels: its valence and arousal.

The rolling window adds a burst's meaning as a reading of its own. The numbers come from the
burst table (``configs/burst_delivery.yaml``), which the call runtime loads and validates; the
emotion package only needs these two values per burst type, not how the agent answers one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BurstMeaning:
    valence: float  # -1..1
    arousal: float  # 0..1


__all__ = ["BurstMeaning"]
