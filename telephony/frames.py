"""The frames telephony produces for a call: caller audio, what VAD made of it, keys, hang-up,
and playout marks.

Each is a frozen, slotted dataclass with a ``kind`` (a ``StrEnum``) so logs and tests can match
on it; the call runtime adds its own frames on top (agent/call/frames.py) and its turn loop is
one ``match`` over both. Times are seconds of caller audio since the call was answered
(``call_time``), except ``PlaybackMark.monotonic``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FrameKind(StrEnum):
    AUDIO_IN = "audio_in"
    SPEECH_STARTED = "speech_started"
    SPEECH_DISCARDED = "speech_discarded"
    UTTERANCE = "utterance"
    SPEECH_SO_FAR = "speech_so_far"
    SPEECH_PAUSED = "speech_paused"
    SEGMENT = "segment"
    DTMF = "dtmf"
    HANGUP = "hangup"
    PLAYBACK_MARK = "playback_mark"


@dataclass(frozen=True, slots=True)
class AudioIn:
    """20 ms of caller audio, 16 kHz mono PCM16, as the media port delivered it."""

    pcm: bytes
    call_time: float  # end of this frame
    kind: FrameKind = field(default=FrameKind.AUDIO_IN, init=False)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started talking. Always followed by one ``Utterance`` or ``SpeechDiscarded``."""

    call_time: float  # speech onset
    detected_time: float | None = None  # call time at which enough speech confirmed it
    kind: FrameKind = field(default=FrameKind.SPEECH_STARTED, init=False)


@dataclass(frozen=True, slots=True)
class SpeechDiscarded:
    """A speech burst shorter than ``min_utterance_ms`` ended (a cough, a click): no utterance."""

    start_time: float
    end_time: float
    detected_time: float
    kind: FrameKind = field(default=FrameKind.SPEECH_DISCARDED, init=False)


@dataclass(frozen=True, slots=True)
class Utterance:
    """One caller utterance, cut by VAD at the configured end-of-speech silence."""

    pcm: bytes
    start_time: float
    end_time: float  # end of speech (before the trailing silence that closed it)
    detected_time: float  # call time at which the silence closed it
    pcm_start_time: float | None = None  # call time of pcm[0]: start_time less the pre-roll
    shortened: bool = False  # a turn-end model's verdict ended it at a shorter silence
    kind: FrameKind = field(default=FrameKind.UTTERANCE, init=False)

    @property
    def duration_s(self) -> float:
        return self.end_time - self.start_time


@dataclass(frozen=True, slots=True)
class SpeechSoFar:
    """The open utterance's audio so far, every ``partial_every_ms`` while the caller talks: for
    partial transcripts (the turn is not over)."""

    pcm: bytes
    start_time: float  # speech onset
    end_time: float  # end of the audio so far
    kind: FrameKind = field(default=FrameKind.SPEECH_SO_FAR, init=False)


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    """The caller has been silent ``pause_ms``: ``pcm`` is exactly the ``Utterance`` the segmenter
    will emit if the silence goes on to end the turn (same audio, same times), so it can be
    transcribed before the turn is over. Speech that resumes makes it stale (a later pause or the
    utterance supersedes it; ``start_time`` and ``end_time`` tell which)."""

    pcm: bytes
    start_time: float
    end_time: float  # end of speech
    kind: FrameKind = field(default=FrameKind.SPEECH_PAUSED, init=False)

    def matches(self, utterance: Utterance) -> bool:
        """The utterance is this paused speech (no word came after the pause)."""
        return (self.start_time, self.end_time) == (utterance.start_time, utterance.end_time) and self.pcm == utterance.pcm


@dataclass(frozen=True, slots=True)
class Segment:
    """A fixed 2-second slice of caller audio for the emotion subsystem."""

    pcm: bytes
    start_time: float
    end_time: float
    speech_ratio: float  # fraction of 20 ms frames VAD marked as speech
    has_speech: bool
    kind: FrameKind = field(default=FrameKind.SEGMENT, init=False)


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    digit: str
    call_time: float
    duration_ms: int = 0
    kind: FrameKind = field(default=FrameKind.DTMF, init=False)


@dataclass(frozen=True, slots=True)
class Hangup:
    call_time: float
    reason: str
    kind: FrameKind = field(default=FrameKind.HANGUP, init=False)


@dataclass(frozen=True, slots=True)
class PlaybackMark:
    """A playout mark was handed to pjsip (``reached``), or dropped by a barge-in's clear."""

    reached: bool
    monotonic: float
    kind: FrameKind = field(default=FrameKind.PLAYBACK_MARK, init=False)
