"""Plain, immutable events that cross from the media path into the agent.

Each is a frozen dataclass; ``kind`` is a ``StrEnum`` so logs and tests can match on it.
Times are seconds since the call was answered (``call_time``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CallEventKind(StrEnum):
    ANSWERED = "answered"
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"
    UTTERANCE = "utterance"
    SEGMENT = "segment"
    DTMF = "dtmf"
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    call_time: float
    kind: CallEventKind = field(default=CallEventKind.SPEECH_STARTED, init=False)


@dataclass(frozen=True, slots=True)
class Utterance:
    """One caller utterance, cut by VAD at the configured end-of-speech silence."""

    pcm: bytes
    start_time: float
    end_time: float  # end of speech (before the trailing silence that closed it)
    detected_time: float  # call time at which the silence closed it
    kind: CallEventKind = field(default=CallEventKind.UTTERANCE, init=False)

    @property
    def duration_s(self) -> float:
        return self.end_time - self.start_time


@dataclass(frozen=True, slots=True)
class Segment:
    """A fixed 2-second slice of caller audio for the emotion subsystem."""

    pcm: bytes
    start_time: float
    end_time: float
    speech_ratio: float  # fraction of 20 ms frames VAD marked as speech
    has_speech: bool
    kind: CallEventKind = field(default=CallEventKind.SEGMENT, init=False)


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    digit: str
    call_time: float
    duration_ms: int = 0
    kind: CallEventKind = field(default=CallEventKind.DTMF, init=False)


@dataclass(frozen=True, slots=True)
class Hangup:
    call_time: float
    reason: str
    kind: CallEventKind = field(default=CallEventKind.HANGUP, init=False)
