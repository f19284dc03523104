"""``bedside emotion replay``: play recordings through the production emotion path and report,
per call, whether a calm caller would have been read as unhappy, hurried or escalated.

The path is the one a live call takes, in the same order and with the same configuration:

1. the caller's audio in 20-ms frames through the call's :class:`~telephony.segmenter.Segmenter`
   (the configured VAD), giving 2-s segments and utterances;
2. segments to the emotion service over its WebSocket through a call's
   :class:`~emotion.client.EmotionClient` (an in-process :class:`~emotion.service.EmotionService`
   unless ``--url`` names one), utterances through the STT (``--words stt``, the default) and their
   words to the same client;
3. the client's rolling window (``emotion.window``) and the burst table's meanings;
4. every window state into a :class:`~agent.call.call_phase.CallPhaseTracker` with the
   configured thresholds (``call_phase``): does ``hurry`` or the urgency flag fire?

Differences from a live call, on purpose: the replay waits for each answer (a live call drops
segments when the service falls behind, and gives up on an answer after ``client.timeout_s``:
here the wait is ``REPLAY_TIMEOUT_S``, so a slow machine cannot change the result), and time is
the recording's, not the wall clock's. ``--loop-to S`` plays a recording again and again (one
call, the clock running on) until S seconds, so that short calls can reach the 5- and 10-minute
thresholds; the segmenter, the window and the caller's baseline carry on across the seams. The
first ``--scored-passes`` [2] plays go through the service; later ones feed the last scored play's
answers again, with their times moved on: the models are deterministic for the same audio and
baseline, and by the second play the caller's baseline has heard the whole call once, so this
costs a 10-minute replay of a 1-minute call two plays of scoring instead of eleven.

Per call it reports: segments scored and the share read as a negative voice emotion (sad, angry,
fearful, disgust: the segment's reading, :func:`emotion.readings.named_emotion`, which is "unsure"
when no category is more likely than not), beside the stricter share whose top category is
negative however weakly, and the share read as unsure; window states and the share below ``call_phase.negative_valence``, the
10th percentile and mean of the fused valence, and whether hurry and urgency fired (and when)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.app.audio_files import AudioFileError, load_pcm16k
from agent.app.config import BedsideConfig
from agent.call.burst_table import load_burst_table
from agent.call.call_phase import CallPhaseConfig, CallPhaseTracker, Phase
from emotion.client import EmotionClient
from emotion.events import EmotionUpdate, UpdateSource
from emotion.readings import UNSURE
from emotion.window import RollingWindow
from telephony.audio import FRAME_BYTES, FRAME_MS
from telephony.frames import Segment, Utterance
from telephony.segmenter import Segmenter
from telephony.vad import SileroModel, create_vad, load_shared_vad_model

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".webm"})
NEGATIVE_VOICE = frozenset({"sad", "angry", "fearful", "disgust"})  # prosody's negative categories
REPLAY_TIMEOUT_S = 60.0  # per answer: a replay waits rather than dropping what a slow machine cannot score in time


@dataclass
class CallReplay:
    """One recording's result (``replayed_s`` > ``audio_s`` when it was looped)."""

    file: str
    audio_s: float
    replayed_s: float = 0.0
    segments: int = 0
    negative_segments: int = 0  # read as a negative emotion (named, not unsure)
    top_negative_segments: int = 0  # whose top category is negative, however weakly (the strict count)
    unsure_segments: int = 0  # read as "unsure": no category more likely than not
    utterances: int = 0
    words: int = 0  # utterances whose transcript reached the emotion service
    windows: int = 0  # window states (one per answer)
    negative_windows: int = 0
    valence_p10: float = 0.0
    valence_mean: float = 0.0
    arousal_mean: float = 0.0
    hurry: bool = False
    hurry_at_s: float | None = None
    urgency: bool = False
    urgency_at_s: float | None = None
    unanswered: int = 0  # segments or words the service did not answer
    top_voice: dict[str, int] = field(default_factory=dict)  # top prosody category -> segments
    readings: dict[str, int] = field(default_factory=dict)  # what segments were read as (a category or "unsure") -> segments
    valences: list[float] = field(default_factory=list, repr=False)

    @property
    def negative_segment_share(self) -> float:
        return self.negative_segments / self.segments if self.segments else 0.0

    @property
    def top_negative_segment_share(self) -> float:
        return self.top_negative_segments / self.segments if self.segments else 0.0

    @property
    def unsure_segment_share(self) -> float:
        return self.unsure_segments / self.segments if self.segments else 0.0

    @property
    def negative_window_share(self) -> float:
        return self.negative_windows / self.windows if self.windows else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "valences"}
        out["negative_segment_share"] = round(self.negative_segment_share, 4)
        out["top_negative_segment_share"] = round(self.top_negative_segment_share, 4)
        out["negative_window_share"] = round(self.negative_window_share, 4)
        for key in ("audio_s", "replayed_s", "valence_p10", "valence_mean", "arousal_mean"):
            out[key] = round(out[key], 3)
        return out


@dataclass(frozen=True)
class ReplaySummary:
    calls: int
    urgency_calls: int
    hurry_calls: int
    segments: int
    negative_segment_share: float  # read as a negative emotion, over all segments of all calls
    top_negative_segment_share: float  # top category negative however weakly, over all segments
    unsure_segment_share: float  # read as "unsure"
    negative_window_share: float  # over all window states
    valence_p10: float  # 10th percentile over all window states
    worst_call_p10: float  # the lowest per-call p10
    calls_p10_below_threshold: int  # calls whose p10 is below call_phase.negative_valence

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarise(calls: Sequence[CallReplay], threshold: float) -> ReplaySummary:
    valences = [v for c in calls for v in c.valences]
    segments = sum(c.segments for c in calls)
    windows = sum(c.windows for c in calls)
    scored = [c for c in calls if c.windows]
    return ReplaySummary(
        calls=len(calls),
        urgency_calls=sum(c.urgency for c in calls),
        hurry_calls=sum(c.hurry for c in calls),
        segments=segments,
        negative_segment_share=sum(c.negative_segments for c in calls) / segments if segments else 0.0,
        top_negative_segment_share=sum(c.top_negative_segments for c in calls) / segments if segments else 0.0,
        unsure_segment_share=sum(c.unsure_segments for c in calls) / segments if segments else 0.0,
        negative_window_share=sum(c.negative_windows for c in calls) / windows if windows else 0.0,
        valence_p10=float(np.percentile(valences, 10)) if valences else 0.0,
        worst_call_p10=min((c.valence_p10 for c in scored), default=0.0),
        calls_p10_below_threshold=sum(1 for c in scored if c.valence_p10 < threshold),
    )


def audio_files(paths: Iterable[str]) -> list[Path]:
    """Files as given; directories expand to their audio files (recursively, sorted)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()))
        else:
            out.append(path)
    return out


class _Words:
    """The configured STT, run on a thread; identical utterance audio (a looped call) is transcribed once."""

    def __init__(self, config: BedsideConfig) -> None:
        from agent.services.stt import WhisperTranscriber

        self._stt = WhisperTranscriber(config.stt)
        self._memo: dict[bytes, str] = {}

    async def transcribe(self, pcm: bytes) -> str:
        key = hashlib.sha1(pcm).digest()
        if key not in self._memo:
            self._memo[key] = (await asyncio.to_thread(self._stt.transcribe, pcm)).text
        return self._memo[key]


class _RecordingClient(EmotionClient):
    """The production client, keeping each answer with what it answered, so that a loop can feed
    the same answers again (``apply_again``) through the same reading code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: list[tuple[Any, dict[str, Any]]] = []

    def _apply(self, item: Any, reply: dict[str, Any]) -> None:
        self.answers.append((item, reply))
        super()._apply(item, reply)

    def apply_again(self, item: Any, reply: dict[str, Any], shift_s: float) -> None:
        if hasattr(item, "at_s"):
            moved = replace(item, at_s=item.at_s + shift_s)
        else:
            moved = replace(item, begin_s=item.begin_s + shift_s, end_s=item.end_s + shift_s)
        super()._apply(moved, reply)


class Replayer:
    """Replays files one after another as separate calls against one emotion service."""

    def __init__(
        self, config: BedsideConfig, url: str, words: _Words | None, loop_to_s: float = 0.0, scored_passes: int = 2,
    ) -> None:
        self.config = config
        self.url = url
        self.words = words
        self.loop_to_s = loop_to_s
        self.scored_passes = max(1, scored_passes)
        self.meanings = load_burst_table(config.voice_style.burst_table).meanings()
        self.phase_config: CallPhaseConfig = config.call_phase
        self._vad_model: SileroModel | None = None

    def _segmenter(self) -> Segmenter:
        seg = self.config.segmentation
        if self._vad_model is None:
            self._vad_model = load_shared_vad_model(seg)
        return Segmenter(seg, create_vad(seg, self._vad_model))

    async def replay(self, path: Path) -> CallReplay:
        pcm = load_pcm16k(path)
        pcm += b"\0" * (-len(pcm) % FRAME_BYTES)  # whole frames, so a looped call repeats frame for frame
        audio_s = len(pcm) // FRAME_BYTES * FRAME_MS / 1000.0
        report = CallReplay(str(path), audio_s)
        call_id = "replay-" + hashlib.sha1(str(path).encode()).hexdigest()[:10]
        emotion = self.config.emotion
        token = emotion.service.token.get_secret_value() if emotion.service.token else None
        client = _RecordingClient(
            call_id, self.url, self.meanings, emotion.client.model_copy(update={"timeout_s": REPLAY_TIMEOUT_S}),
            RollingWindow(emotion.window, emotion.defaults), token=token,
        )
        client.start()
        phase = CallPhaseTracker(self.phase_config, 0.0)
        segmenter = self._segmenter()
        try:
            passes = 0
            last_pass: list[tuple[Any, dict[str, Any]]] = []
            while passes == 0 or passes * audio_s < self.loop_to_s:
                if passes < self.scored_passes:
                    client.answers.clear()
                    for offset in range(0, len(pcm), FRAME_BYTES):
                        for event in segmenter.feed(pcm[offset : offset + FRAME_BYTES]):
                            await self._event(event, client, phase, report)
                    last_pass = list(client.answers)
                    scored_at = passes
                else:
                    await self._again(last_pass, (passes - scored_at) * audio_s, client, phase, report)
                passes += 1
            if passes <= self.scored_passes:
                for event in segmenter.flush():
                    await self._event(event, client, phase, report)
            report.replayed_s = passes * audio_s
        finally:
            await client.close()
        self._finish(report, client)
        return report

    async def _event(self, event: object, client: EmotionClient, phase: CallPhaseTracker, report: CallReplay) -> None:
        if isinstance(event, Segment):
            if client.submit(client.call_id, event):
                report.segments += 1
                await self._answer(client, phase, report)
        elif isinstance(event, Utterance):
            report.utterances += 1
            if self.words is None:
                return
            text = await self.words.transcribe(event.pcm)
            if text and client.submit_transcript(text, event.end_time):
                report.words += 1
                await self._answer(client, phase, report)

    async def _again(
        self, answers: list[tuple[Any, dict[str, Any]]], shift_s: float, client: _RecordingClient, phase: CallPhaseTracker,
        report: CallReplay,
    ) -> None:
        """A looped play past the scored ones: the same answers, later."""
        for item, reply in answers:
            client.apply_again(item, reply, shift_s)
            if hasattr(item, "at_s"):
                report.words += 1
            else:
                report.segments += 1
            while not client.updates.empty():
                self._observe(client.updates.get_nowait(), phase, report)

    async def _answer(self, client: EmotionClient, phase: CallPhaseTracker, report: CallReplay) -> None:
        """Waits for the answer to what was just submitted and feeds its window state to the call phase."""
        try:
            update = await asyncio.wait_for(client.updates.get(), REPLAY_TIMEOUT_S)
        except TimeoutError:
            report.unanswered += 1
            return
        if update.source is UpdateSource.DEFAULTS:  # the breaker opened: this item failed
            report.unanswered += 1
            return
        self._observe(update, phase, report)

    def _observe(self, update: EmotionUpdate, phase: CallPhaseTracker, report: CallReplay) -> None:
        if not update.available or update.readings == 0:
            return
        report.windows += 1
        report.valences.append(update.valence)
        if update.valence < self.phase_config.negative_valence:
            report.negative_windows += 1
        if phase.observe(update, update.at_s) and not report.urgency:
            report.urgency, report.urgency_at_s = True, round(update.at_s, 2)
        if phase.current(update.at_s).phase in (Phase.HURRY, Phase.URGENT) and not report.hurry:
            report.hurry, report.hurry_at_s = True, round(update.at_s, 2)

    @staticmethod
    def _finish(report: CallReplay, client: EmotionClient) -> None:
        for entry in client.timeline.segments:
            if not entry.prosody:
                continue
            top = max(entry.prosody, key=entry.prosody.__getitem__)
            report.top_voice[top] = report.top_voice.get(top, 0) + 1
            report.readings[entry.reading] = report.readings.get(entry.reading, 0) + 1
            report.top_negative_segments += top in NEGATIVE_VOICE
            report.negative_segments += entry.reading in NEGATIVE_VOICE
            report.unsure_segments += entry.reading == UNSURE
        if report.valences:
            report.valence_p10 = float(np.percentile(report.valences, 10))
            report.valence_mean = float(np.mean(report.valences))
        report.arousal_mean = float(np.mean([s.arousal for s in client.timeline.states if s.available] or [0.0]))


def _line(r: CallReplay) -> str:
    flags = []
    if r.urgency:
        flags.append(f"URGENCY at {r.urgency_at_s:.0f}s")
    if r.hurry:
        flags.append(f"hurry at {r.hurry_at_s:.0f}s")
    return (f"{r.file}: {r.replayed_s:6.0f}s  segments {r.segments:4d} negative {r.negative_segment_share:5.1%} "
            f"(top {r.top_negative_segment_share:5.1%}, unsure {r.unsure_segment_share:5.1%})  "
            f"windows negative {r.negative_window_share:5.1%}  valence p10 {r.valence_p10:+.2f} mean {r.valence_mean:+.2f}"
            + (f"  {', '.join(flags)}" if flags else ""))


def _summary_line(s: ReplaySummary, threshold: float) -> str:
    return (f"{s.calls} calls: urgency {s.urgency_calls}, hurry {s.hurry_calls}; {s.segments} segments, "
            f"{s.negative_segment_share:.1%} read negative (top category negative {s.top_negative_segment_share:.1%}, "
            f"unsure {s.unsure_segment_share:.1%}); windows below {threshold:+.2f}: {s.negative_window_share:.1%}; "
            f"valence p10 {s.valence_p10:+.3f} (worst call {s.worst_call_p10:+.3f}, {s.calls_p10_below_threshold} calls below)")


async def run_replay(args: argparse.Namespace, config: BedsideConfig) -> int:
    files = audio_files(args.paths)
    if not files:
        print("bedside emotion replay: no audio files found", file=sys.stderr)
        return 2
    service = engine = None
    url = args.url
    if url is None:
        from emotion.engine import EmotionEngine
        from emotion.service import EmotionService

        svc = config.emotion.service.model_copy(update={"host": "127.0.0.1", "port": 0})
        engine = await asyncio.to_thread(EmotionEngine.load, None, svc.workers)
        service = EmotionService(engine, svc)
        await service.start()
        url = service.url
    words = await asyncio.to_thread(_Words, config) if args.words == "stt" else None
    replayer = Replayer(config, url, words, args.loop_to, args.scored_passes)
    threshold = config.call_phase.negative_valence
    reports: list[CallReplay] = []
    failed = False
    try:
        for path in files:
            try:
                report = await replayer.replay(path)
            except AudioFileError as exc:
                failed = True
                print(json.dumps({"file": str(path), "error": str(exc)}) if args.json else f"{path}: error: {exc}", flush=True)
                continue
            reports.append(report)
            print(json.dumps(report.as_dict()) if args.json else _line(report), flush=True)
    finally:
        if service is not None:
            await service.stop()
        if engine is not None:
            engine.close()
    summary = summarise(reports, threshold)
    print(json.dumps({"summary": summary.as_dict()}) if args.json else _summary_line(summary, threshold), flush=True)
    return 1 if failed else 0
