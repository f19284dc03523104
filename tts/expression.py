"""The delivery styles Bedside's voice can take. The emotion subsystem picks one (e.g. from a
caller's sigh); the TTS turns it into pace, variability, volume, pauses and warmth."""

from __future__ import annotations

from enum import StrEnum


class Expression(StrEnum):
    NEUTRAL = "neutral"
    CALM = "calm"
    SYMPATHETIC = "sympathetic"
    CONCERNED = "concerned"
    ENTHUSIASTIC = "enthusiastic"
    DIRECT = "direct"
    URGENT = "urgent"
