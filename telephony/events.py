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
    SPEECH_DISCARDED = "speech_discarded"
    UTTERANCE = "utterance"
    SEGMENT = "segment"
    DTMF = "dtmf"
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started talking. Always followed by one ``Utterance`` or ``SpeechDiscarded``."""

    call_time: float  # speech onset
    detected_time: float | None = None  # call time at which enough speech confirmed it
    kind: CallEventKind = field(default=CallEventKind.SPEECH_STARTED, init=False)


@dataclass(frozen=True, slots=True)
class SpeechDiscarded:
    """A speech burst shorter than ``min_utterance_ms`` ended (a cough, a click): no utterance."""

    start_time: float
    end_time: float
    detected_time: float
    kind: CallEventKind = field(default=CallEventKind.SPEECH_DISCARDED, init=False)


@dataclass(frozen=True, slots=True)
class Utterance:
    """One caller utterance, cut by VAD at the configured end-of-speech silence."""

    pcm: bytes
    start_time: float
    end_time: float  # end of speech (before the trailing silence that closed it)
    detected_time: float  # call time at which the silence closed it
    pcm_start_time: float | None = None  # call time of pcm[0]: start_time less the pre-roll
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
