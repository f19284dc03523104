"""Caller audio in, frames out: what VAD hears, and whether the caller talked over the agent.

The listener owns the call's segmenter (telephony/segmenter.py) and barge-in detector
(telephony/barge_in.py). For each 20 ms of audio it returns the frames that audio completed:
2-s ``Segment``s for the emotion client, ``SpeechSoFar`` and ``SpeechPaused`` for streaming
transcription (agent/call/transcription.py), ``CallerSpeaking`` at speech onset, ``BargeIn`` when
speech over the agent's playback lasts long enough, and ``TurnEnded`` when the utterance closes,
marked a backchannel if it overlapped the agent without stopping it. The turn loop acts on them."""

from __future__ import annotations

from collections.abc import Callable

from agent.call.frames import BargeIn, CallerSpeaking, Frame, TurnEnded
from telephony.barge_in import BargeInDetector
from telephony.config import BargeInConfig
from telephony.frames import (
    AudioIn,
    Segment,
    SpeechPaused,
    SpeechSoFar,
    SpeechStarted,
    Utterance,
)
from telephony.segmenter import Segmenter


class Listener:
    def __init__(
        self, segmenter: Segmenter, config: BargeInConfig, agent_speaking: Callable[[], bool],
        audio_playing: Callable[[], bool], clock: Callable[[], float],
    ) -> None:
        self.segmenter = segmenter
        self.config = config
        self._agent_speaking = agent_speaking  # a reply is being spoken (maybe still synthesizing)
        self._audio_playing = audio_playing  # its audio is leaving now: only that can be barged in on
        self._detector = BargeInDetector(config)
        self._clock = clock
        self._overlapped = False  # the caller's current speech began while the agent was talking
        self._barged = False  # ... and it stopped the agent

    @property
    def in_speech(self) -> bool:
        return self.segmenter.in_speech

    def hear(self, audio: AudioIn, may_barge_in: bool = True) -> list[Frame]:
        events = self.segmenter.feed(audio.pcm)
        frames: list[Frame] = []
        if self.config.enabled and may_barge_in and self._agent_speaking() and self._audio_playing():
            if self._detector.update(self.segmenter.last_probability):
                self._barged = True
                frames.append(BargeIn(self.segmenter.speech_ms))
        else:
            self._detector.reset()
        for event in events:
            frames.extend(self._frame_for(event))
        return frames

    def end_paused_turn(self, paused: SpeechPaused, silence_ms: int) -> list[Frame]:
        """The turn-end model says the caller finished at ``paused``: the turn ends after
        ``silence_ms`` of silence, if they do not speak first (agent/call/turn_end.py)."""
        frames: list[Frame] = []
        for event in self.segmenter.end_paused_turn(paused, silence_ms):
            frames.extend(self._frame_for(event))
        return frames

    def flush(self) -> list[Frame]:
        """After hang-up: close the open utterance and segment."""
        frames: list[Frame] = []
        for event in self.segmenter.flush():
            frames.extend(self._frame_for(event))
        return frames

    def _frame_for(self, event: object) -> list[Frame]:
        match event:
            case Segment() | SpeechSoFar() | SpeechPaused():
                return [event]
            case Utterance():
                return [TurnEnded(event, self._clock(), backchannel=self._overlapped and not self._barged,
                                  by_model=event.shortened)]
            case SpeechStarted():
                self._overlapped, self._barged = self._agent_speaking(), False
                return [CallerSpeaking(event, self._overlapped)]
        return []  # SpeechDiscarded: a click or a cough too short to be an utterance


__all__ = ["Listener"]
