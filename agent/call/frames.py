"""The frames the call runtime adds to telephony's (telephony/frames.py), and the state a call is in.

One inbox per call carries both kinds: the session's audio and events, the emotion client's
updates, and the runtime's own frames (a turn's utterance, a finished transcript or reply, the
timer's tick). The turn loop (agent/call/call_agent.py) is one ``match`` over them, in order.
All frames are frozen and slotted: plain data between small components."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from emotion.events import EmotionUpdate
from telephony.frames import (
    AudioIn,
    DtmfDigit,
    Hangup,
    Segment,
    SpeechDiscarded,
    SpeechPaused,
    SpeechSoFar,
    SpeechStarted,
    Utterance,
)


class CallState(StrEnum):
    """Where the conversation is. Exactly one at a time; the loop logs every change."""

    LISTENING = "listening"  # waiting for the caller (reprompts run from here)
    REPLYING = "replying"  # a reply is being prepared or spoken
    TRANSFERRING = "transferring"  # putting the caller through: their words start no reply
    HANDED_OFF = "handed_off"  # a person has the call; the agent listens to nothing
    ENDING = "ending"  # saying goodbye / hanging up


class RuntimeFrameKind(StrEnum):
    CALLER_SPEAKING = "caller_speaking"
    TURN_ENDED = "turn_ended"
    BARGE_IN = "barge_in"
    TRANSCRIPT = "transcript"
    PARTIAL_TRANSCRIPT = "partial_transcript"
    EARLY_TRANSCRIPT = "early_transcript"
    TURN_JUDGED = "turn_judged"
    EMOTION_CHANGED = "emotion_changed"
    REPLY_DONE = "reply_done"
    TICK = "tick"


@dataclass(frozen=True, slots=True)
class CallerSpeaking:
    """The caller started talking (``overlapped``: while the agent was)."""

    started: SpeechStarted
    overlapped: bool
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.CALLER_SPEAKING, init=False)


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The caller's utterance closed. A ``backchannel`` was spoken over the agent without
    stopping it ("mm-hm", a cough): kept for the record, not a turn."""

    utterance: Utterance
    detected_at: float  # monotonic time the closing silence was seen
    backchannel: bool = False
    by_model: bool = False  # the turn-end model's verdict ended it at a shorter silence
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.TURN_ENDED, init=False)

    @property
    def end_of_speech(self) -> float:
        """Monotonic time speech really ended: the closing silence was detected after it."""
        return self.detected_at - (self.utterance.detected_time - self.utterance.end_time)


@dataclass(frozen=True, slots=True)
class BargeIn:
    """Caller speech over the agent's playback lasted long enough: the agent must stop."""

    speech_ms: int  # caller speech that triggered it
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.BARGE_IN, init=False)


@dataclass(frozen=True, slots=True)
class Transcript:
    """STT finished an utterance ("" when it failed or heard nothing)."""

    text: str
    utterance_end: float  # call time the words ended
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.TRANSCRIPT, init=False)


@dataclass(frozen=True, slots=True)
class PartialTranscript:
    """The words of the caller's turn so far, while they talk (agent/call/transcription.py).
    ``stable`` is the leading part two successive partials agreed on; the rest may change."""

    text: str
    stable: str
    utterance_start: float  # call time the turn's speech began
    audio_end: float  # call time of the last audio decoded
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.PARTIAL_TRANSCRIPT, init=False)


@dataclass(frozen=True, slots=True)
class EarlyTranscript:
    """The caller's words up to their pause, decoded while the silence runs: the turn's transcript
    if that silence ends the turn (agent/call/transcription.py). Replies may be worked out from it."""

    text: str
    utterance_start: float
    speech_end: float  # call time the words ended
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.EARLY_TRANSCRIPT, init=False)


@dataclass(frozen=True, slots=True)
class TurnJudged:
    """The turn-end model's verdict on a pause (agent/call/turn_end.py): ``complete`` lets the
    turn end at a shorter silence (``turn.end_model_silence_ms``) if the caller does not speak first."""

    paused: SpeechPaused
    probability: float
    complete: bool
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.TURN_JUDGED, init=False)


@dataclass(frozen=True, slots=True)
class EmotionChanged:
    """The emotion client's rolling window has a new reading of the caller."""

    update: EmotionUpdate
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.EMOTION_CHANGED, init=False)


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """Reply number ``reply`` finished (spoken, interrupted, failed or superseded)."""

    reply: int
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.REPLY_DONE, init=False)


@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing arrived for a while: time for the timers (reprompt, keypad pause, call limit)."""

    now: float
    kind: RuntimeFrameKind = field(default=RuntimeFrameKind.TICK, init=False)


TelephonyFrame = (
    AudioIn | SpeechStarted | SpeechDiscarded | SpeechSoFar | SpeechPaused | Utterance | Segment | DtmfDigit | Hangup
)
RuntimeFrame = (
    CallerSpeaking | TurnEnded | BargeIn | Transcript | PartialTranscript | EarlyTranscript | TurnJudged | EmotionChanged
    | ReplyDone | Tick
)
Frame = TelephonyFrame | RuntimeFrame

__all__ = [
    "BargeIn", "CallState", "CallerSpeaking", "EarlyTranscript", "EmotionChanged", "Frame", "PartialTranscript", "ReplyDone", "RuntimeFrame",
    "RuntimeFrameKind", "TelephonyFrame", "Tick", "Transcript", "TurnEnded", "TurnJudged",
]
