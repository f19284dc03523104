"""Cut a call's caller audio into utterances (for STT) and segments (for emotion).

``Segmenter`` is synchronous and pure: it is fed 20 ms frames in order, asks its ``Vad``
for one probability per frame, and returns the events each frame completes. Time is the
frame count: frame ``n`` covers ``[t0 + n*20 ms, t0 + (n+1)*20 ms)``, so ``call_time``
after feeding ``n`` frames is ``t0 + n*20 ms`` -- the same clock ``CallSession.call_time``
keeps.

Events, in the order they happen:

* ``SpeechStarted`` once ``speech_start_ms`` of consecutive frames reach
  ``speech_threshold``; its ``call_time`` is the onset (first of those frames).
* then exactly one of ``Utterance`` (``end_of_speech_silence_ms`` of frames under the
  silence threshold closed it; pcm = ``pre_roll_ms`` before onset .. end of speech +
  ``tail_ms``) or ``SpeechDiscarded`` (speech was shorter than ``min_utterance_ms``).
  An utterance reaching ``max_utterance_s`` is cut there and, if the caller is still
  talking, a new one opens at once (``SpeechStarted`` again, no pre-roll: no audio twice).
* while an utterance is open: ``SpeechSoFar`` (its audio so far) every ``partial_every_ms``
  while the caller talks, and ``SpeechPaused`` when ``pause_ms`` of silence has gone by, carrying
  the audio the ``Utterance`` will have if that silence ends the turn: STT can start on it before
  the turn is over (speech that resumes makes it stale; the next pause supersedes it).
* ``Segment`` every ``segment_s`` of audio regardless of speech, except that a segment that has
  held only quiet frames (under ``segment_onset_dbfs``) is dropped at the first louder frame,
  all but its last ``pre_roll_ms``, and restarts there: a 2-s grid fixed from the answer would
  cut a one-second sigh that starts 1.2 s into a segment in two, and neither half sounds like
  a sigh any more.

Within an utterance the silence threshold is lower than the speech threshold
(hysteresis), so a soft syllable does not end it.
"""

from __future__ import annotations

from collections import deque

from telephony.audio import FRAME_BYTES, FRAME_MS, rms_dbfs
from telephony.config import SegmentationConfig
from telephony.frames import Segment, SpeechDiscarded, SpeechPaused, SpeechSoFar, SpeechStarted, Utterance
from telephony.vad import Vad

SegmenterEvent = SpeechStarted | SpeechDiscarded | SpeechSoFar | SpeechPaused | Utterance | Segment

MIN_FLUSH_SEGMENT_S = 0.5  # at hangup, a shorter partial segment is too little for emotion


def _frames(ms: float) -> int:
    return max(1, round(ms / FRAME_MS))


class Segmenter:
    """One per call. ``feed`` each received frame, ``flush`` at hangup.

    For the turn loop: ``in_speech`` (an utterance is open), ``speech_ms`` (its speech so
    far), ``last_probability`` (the VAD's score of the last frame: feed it to the barge-in
    detector rather than running a second VAD), ``call_time`` (end of the last frame)."""

    def __init__(self, config: SegmentationConfig, vad: Vad, start_time: float = 0.0) -> None:
        self.config = config
        self.vad = vad
        self.start_time = start_time
        self._threshold = config.speech_threshold
        self._silence_threshold = (
            config.silence_threshold
            if config.silence_threshold is not None
            else max(0.01, config.speech_threshold - 0.15)
        )
        self._start_frames = _frames(config.speech_start_ms)
        self._end_frames = _frames(config.end_of_speech_silence_ms)
        self._pre_roll_frames = config.pre_roll_ms // FRAME_MS
        self._tail_frames = config.tail_ms // FRAME_MS
        self._min_frames = config.min_utterance_ms / FRAME_MS  # fractional: compared, never counted
        self._max_frames = _frames(config.max_utterance_s * 1000)
        self._pause_frames = _frames(config.pause_ms) if config.pause_ms else 0
        self._partial_frames = _frames(config.partial_every_ms) if config.partial_every_ms else 0
        self._segment_frames = _frames(config.segment_s * 1000)
        self.reset(start_time)

    def reset(self, start_time: float | None = None) -> None:
        """Start a new stream (the VAD is reset too)."""
        if start_time is not None:
            self.start_time = start_time
        self.vad.reset()
        self._n = 0  # frames fed
        self.last_probability = 0.0
        # idle: recent frames, for the pre-roll and the onset run
        self._history: deque[bytes] = deque(maxlen=self._pre_roll_frames + self._start_frames)
        self._run = 0  # consecutive speech frames while idle
        # open utterance
        self._utt: bytearray | None = None
        self._utt_pcm_start = 0  # frame index of pcm[0]
        self._utt_onset = 0  # frame index of the speech onset
        self._utt_last_speech = 0  # frame index just past the last speech frame
        self._silence = 0  # consecutive silent frames inside the utterance
        self._end_now = self._end_frames
        # current segment
        self._seg = bytearray()
        self._seg_start = 0
        self._seg_speech = 0
        self._seg_sounded = False  # a frame of it reached segment_onset_dbfs

    # ---- state the turn loop reads ---------------------------------------------------
    @property
    def call_time(self) -> float:
        return self._t(self._n)

    @property
    def in_speech(self) -> bool:
        """An utterance is open (between ``SpeechStarted`` and its close)."""
        return self._utt is not None

    @property
    def speech_ms(self) -> int:
        """Onset to end of the latest speech frame of the open utterance; 0 when idle."""
        return (self._utt_last_speech - self._utt_onset) * FRAME_MS if self._utt is not None else 0

    # ---- feeding ---------------------------------------------------------------------
    def feed(self, frame: bytes) -> list[SegmenterEvent]:
        if len(frame) != FRAME_BYTES:
            raise ValueError(
                f"Segmenter takes 20 ms frames of 16 kHz int16 mono ({FRAME_BYTES} bytes), got {len(frame)} bytes"
            )
        prob = self.vad.probability(frame)
        self.last_probability = prob
        events: list[SegmenterEvent] = []
        n = self._n
        self._n += 1
        if self._utt is None:
            self._idle(frame, prob, n, events)
        else:
            self._speaking(frame, prob, n, events)
        self._segment(frame, prob >= self._threshold, events)
        return events

    def end_paused_turn(self, paused: SpeechPaused, silence_ms: int) -> list[SegmenterEvent]:
        """A turn-end model judged the caller finished at ``paused``: that utterance ends after
        ``silence_ms`` of silence instead of ``end_of_speech_silence_ms`` (now, if that much has
        gone by), unless the caller speaks first. Speech after the pause: nothing changes."""
        events: list[SegmenterEvent] = []
        if (
            self._utt is not None and self._silence
            and (self._t(self._utt_onset), self._t(self._utt_last_speech)) == (paused.start_time, paused.end_time)
        ):
            self._end_now = min(self._end_frames, max(1, silence_ms // FRAME_MS))
            if self._silence >= self._end_now:
                self._close(events)
        return events

    def flush(self) -> list[SegmenterEvent]:
        """At hangup: close the open utterance and emit a partial segment of >= 0.5 s.

        The stream is then reset, so a second flush returns nothing."""
        events: list[SegmenterEvent] = []
        if self._utt is not None:
            self._close(events)
        if len(self._seg) // FRAME_BYTES * FRAME_MS >= MIN_FLUSH_SEGMENT_S * 1000:
            self._emit_segment(events)
        self.reset(self.call_time)
        return events

    # ---- internals -------------------------------------------------------------------
    def _t(self, frame_index: int) -> float:
        return self.start_time + frame_index * FRAME_MS / 1000.0

    def _idle(self, frame: bytes, prob: float, n: int, events: list[SegmenterEvent]) -> None:
        self._history.append(frame)
        self._run = self._run + 1 if prob >= self._threshold else 0
        if self._run < self._start_frames:
            return
        onset = n - self._start_frames + 1
        kept = list(self._history)  # pre-roll (whatever we have of it) + the onset run
        self._open(onset, onset + self._start_frames - len(kept), b"".join(kept))
        self._utt_last_speech = n + 1
        events.append(SpeechStarted(call_time=self._t(onset), detected_time=self._t(n + 1)))

    def _open(self, onset: int, pcm_start: int, pcm: bytes) -> None:
        self._utt = bytearray(pcm)
        self._utt_onset = self._utt_last_speech = onset
        self._utt_pcm_start = pcm_start
        self._silence = 0
        self._end_now = self._end_frames  # the silence that ends it (end_paused_turn shortens it)
        self._history.clear()
        self._run = 0

    def _speaking(self, frame: bytes, prob: float, n: int, events: list[SegmenterEvent]) -> None:
        assert self._utt is not None
        self._utt += frame
        if prob >= self._silence_threshold:
            self._silence = 0
            self._utt_last_speech = n + 1
            self._end_now = self._end_frames  # the caller went on: a verdict on the pause is void
        else:
            self._silence += 1
        if self._silence >= self._end_now:
            self._close(events)
        elif self._silence and self._silence == self._pause_frames:
            if self._utt_last_speech - self._utt_onset >= self._min_frames:
                start, end = self._utt_onset, self._utt_last_speech
                events.append(SpeechPaused(self._kept_pcm(), self._t(start), self._t(end)))
        elif self._partial_frames and not self._silence and (n + 1 - self._utt_onset) % self._partial_frames == 0:
            events.append(SpeechSoFar(bytes(self._utt), self._t(self._utt_onset), self._t(n + 1)))
        if self._utt is None:
            return
        if n + 1 - self._utt_onset >= self._max_frames:
            still_talking = self._silence == 0
            self._close(events)
            if still_talking:  # reopen at once; the cut audio is not repeated
                self._open(n + 1, n + 1, b"")
                events.append(SpeechStarted(call_time=self._t(n + 1), detected_time=self._t(n + 1)))

    def _close(self, events: list[SegmenterEvent]) -> None:
        assert self._utt is not None
        start, end, now = self._utt_onset, self._utt_last_speech, self._n
        if end - start < self._min_frames:
            events.append(SpeechDiscarded(start_time=self._t(start), end_time=self._t(end), detected_time=self._t(now)))
        else:
            events.append(
                Utterance(
                    pcm=self._kept_pcm(),
                    shortened=self._end_now < self._end_frames,
                    start_time=self._t(start),
                    end_time=self._t(end),
                    detected_time=self._t(now),
                    pcm_start_time=self._t(self._utt_pcm_start),
                )
            )
        # the silence that closed it is the next utterance's pre-roll if speech resumes soon
        keep = min(self._silence, self._history.maxlen or 0) * FRAME_BYTES
        tail = self._utt[len(self._utt) - keep :]
        self._history.clear()
        self._history.extend(bytes(tail[i : i + FRAME_BYTES]) for i in range(0, keep, FRAME_BYTES))
        self._utt = None
        self._silence = 0

    def _kept_pcm(self) -> bytes:
        """The open utterance's audio as it is kept: from the pre-roll to ``tail_ms`` past the
        last speech frame (or now, if sooner)."""
        assert self._utt is not None
        stop = min(self._utt_last_speech + self._tail_frames, self._n)  # frame index just past the kept audio
        return bytes(self._utt[: (stop - self._utt_pcm_start) * FRAME_BYTES])

    def _segment(self, frame: bytes, is_speech: bool, events: list[SegmenterEvent]) -> None:
        onset = self.config.segment_onset_dbfs
        if not self._seg_sounded and onset is not None and rms_dbfs(frame) >= onset:
            self._seg_sounded = True
            # Only quiet so far: the segment starts at this first sound instead (after the
            # pre-roll, as an utterance does: a soft onset is under the threshold).
            drop = max(0, len(self._seg) // FRAME_BYTES - self._pre_roll_frames)
            if drop:
                self._seg_start += drop
                del self._seg[: drop * FRAME_BYTES]
                self._seg_speech = 0  # quiet frames are not speech frames
        self._seg += frame
        self._seg_speech += is_speech
        if len(self._seg) >= self._segment_frames * FRAME_BYTES:
            self._emit_segment(events)

    def _emit_segment(self, events: list[SegmenterEvent]) -> None:
        frames = len(self._seg) // FRAME_BYTES
        ratio = self._seg_speech / frames
        events.append(
            Segment(
                pcm=bytes(self._seg),
                start_time=self._t(self._seg_start),
                end_time=self._t(self._seg_start + frames),
                speech_ratio=ratio,
                has_speech=ratio > self.config.segment_min_speech_ratio,
            )
        )
        self._seg = bytearray()
        self._seg_start += frames
        self._seg_speech = 0
        self._seg_sounded = False
