"""Segmenter: scripted-VAD unit tests, then real speech through Silero and mu-law."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from telephony.audio import FRAME_BYTES, SAMPLE_RATE, split_frames
from telephony.config import SegmentationConfig, VadEngine
from telephony.frames import Segment, SpeechDiscarded, SpeechPaused, SpeechSoFar, SpeechStarted, Utterance
from telephony.segmenter import Segmenter
from telephony.vad import SileroModel, SileroVad, WebRtcVad
from tests.telephony.signals import frame_db, load16, pcm, through_phone

CFG = SegmentationConfig()


class ScriptedVad:
    """Returns the next scripted probability for each frame (0 once the script runs out)."""

    def __init__(self, probs: Iterable[float]) -> None:
        self.probs = list(probs)
        self.i = 0

    def probability(self, frame: bytes) -> float:
        p = self.probs[self.i] if self.i < len(self.probs) else 0.0
        self.i += 1
        return p

    def reset(self) -> None:
        self.i = 0


def frame_of(n: int) -> bytes:
    """A frame whose samples all equal n, so pcm can be traced back to frame indexes."""
    return np.full(FRAME_BYTES // 2, n, dtype="<i2").tobytes()


def run(seg: Segmenter, frames: Iterable[bytes], flush: bool = True) -> list:
    events = [e for f in frames for e in seg.feed(f)]
    return events + (seg.flush() if flush else [])


def kinds(events: list, *types: type) -> list:
    return [e for e in events if isinstance(e, types)]


def scripted(pattern: list[tuple[float, int]], config: SegmentationConfig = CFG, start: float = 0.0) -> list:
    probs = [p for p, n in pattern for _ in range(n)]
    seg = Segmenter(config, ScriptedVad(probs), start_time=start)
    return run(seg, (frame_of(i) for i in range(len(probs))))


# ---- scripted VAD -------------------------------------------------------------------


def test_utterance_times_preroll_and_tail() -> None:
    # 1 s silence, 1 s speech, 1 s silence
    events = scripted([(0.0, 50), (0.9, 50), (0.0, 50)], start=10.0)
    started, utt = kinds(events, SpeechStarted), kinds(events, Utterance)
    assert len(started) == 1 and len(utt) == 1
    u = utt[0]
    assert started[0].call_time == pytest.approx(11.0)
    assert started[0].detected_time == pytest.approx(11.0 + CFG.speech_start_ms / 1000)
    assert (u.start_time, u.end_time) == (pytest.approx(11.0), pytest.approx(12.0))
    assert u.detected_time - u.end_time == pytest.approx(CFG.end_of_speech_silence_ms / 1000)
    assert u.pcm_start_time == pytest.approx(11.0 - CFG.pre_roll_ms / 1000)
    first = np.frombuffer(u.pcm, dtype="<i2")[::320]  # one sample per frame: its index
    assert first[0] == 50 - CFG.pre_roll_ms // 20
    assert first[-1] == 100 + CFG.tail_ms // 20 - 1
    assert len(u.pcm) == (CFG.pre_roll_ms + 1000 + CFG.tail_ms) // 20 * FRAME_BYTES


def test_back_to_back_utterances_keep_their_pre_roll() -> None:
    # the 400 ms silence that closes the first is the second's pre-roll
    events = scripted([(0.9, 20), (0.0, 20), (0.9, 20), (0.0, 30)])
    first, second = kinds(events, Utterance)
    assert second.start_time == pytest.approx(0.8)
    assert second.pcm_start_time == pytest.approx(0.8 - CFG.pre_roll_ms / 1000)
    frames = np.frombuffer(second.pcm, dtype="<i2")[::320]
    assert list(frames[:12]) == list(range(30, 42))  # contiguous audio, nothing repeated from the first


def test_short_burst_is_discarded_and_paired() -> None:
    events = scripted([(0.0, 10), (0.9, 5), (0.0, 40)])  # 100 ms < min_utterance_ms 200
    assert [type(e) for e in events if not isinstance(e, Segment)] == [SpeechStarted, SpeechDiscarded]
    d = kinds(events, SpeechDiscarded)[0]
    assert (d.start_time, d.end_time) == (pytest.approx(0.2), pytest.approx(0.3))


def test_onset_needs_speech_start_ms_in_a_row() -> None:
    blips = [(0.9, 2), (0.0, 1)] * 30  # 40 ms blips never reach 60 ms
    assert kinds(scripted(blips), SpeechStarted, Utterance, SpeechDiscarded) == []


def test_hysteresis_keeps_soft_syllables_inside() -> None:
    # 0.4 is under the speech threshold but over the silence threshold (0.35)
    events = scripted([(0.9, 20), (0.4, 30), (0.9, 20), (0.0, 30)])
    assert len(kinds(events, Utterance)) == 1
    assert kinds(events, Utterance)[0].duration_s == pytest.approx(1.4)


def test_force_cut_at_max_utterance_then_reopens() -> None:
    config = SegmentationConfig(max_utterance_s=2.0)
    events = scripted([(0.9, 250), (0.0, 30)], config)  # 5 s of speech
    utts = kinds(events, Utterance)
    assert [(u.start_time, u.end_time) for u in utts] == [
        (pytest.approx(0.0), pytest.approx(2.0)),
        (pytest.approx(2.0), pytest.approx(4.0)),
        (pytest.approx(4.0), pytest.approx(5.0)),
    ]
    assert len(kinds(events, SpeechStarted)) == 3
    # no audio is repeated across a cut
    assert sum(len(u.pcm) for u in utts) == (250 + CFG.tail_ms // 20) * FRAME_BYTES


def test_flush_emits_open_utterance_and_partial_segment() -> None:
    seg = Segmenter(CFG, ScriptedVad([0.0] * 20 + [0.9] * 30))
    events = run(seg, (frame_of(i) for i in range(50)), flush=False)
    assert seg.in_speech and seg.speech_ms == 600
    assert [type(e) for e in events] == [SpeechStarted]
    flushed = seg.flush()
    assert [type(e) for e in flushed] == [Utterance, Segment]
    assert flushed[0].end_time == pytest.approx(1.0) and flushed[0].detected_time == pytest.approx(1.0)
    assert (flushed[1].start_time, flushed[1].end_time) == (pytest.approx(0.0), pytest.approx(1.0))
    assert not seg.in_speech and seg.flush() == []


def test_flush_drops_segment_under_half_a_second() -> None:
    seg = Segmenter(CFG, ScriptedVad([]))
    run(seg, [frame_of(0)] * 124, flush=False)  # 2 s segment + 480 ms
    assert seg.flush() == []


def test_segments_every_two_seconds_with_speech_ratio() -> None:
    fixed_grid = SegmentationConfig(segment_onset_dbfs=None)
    events = scripted([(0.0, 100), (0.9, 100), (0.9, 5), (0.0, 145)], fixed_grid)  # 7 s
    segs = kinds(events, Segment)
    assert [(s.start_time, s.end_time) for s in segs] == [
        (pytest.approx(0.0), pytest.approx(2.0)),
        (pytest.approx(2.0), pytest.approx(4.0)),
        (pytest.approx(4.0), pytest.approx(6.0)),
        (pytest.approx(6.0), pytest.approx(7.0)),
    ]
    assert [s.has_speech for s in segs] == [False, True, False, False]
    assert [s.speech_ratio for s in segs] == [0.0, 1.0, 0.05, 0.0]
    assert all(len(s.pcm) == round((s.end_time - s.start_time) * SAMPLE_RATE) * 2 for s in segs)


QUIET, LOUD = frame_of(0), frame_of(3000)  # -120 and -21 dBFS


def test_a_sound_after_quiet_starts_a_segment_so_it_is_not_cut_in_two() -> None:
    """1.3 s of quiet, a 1 s sound, 3 s of quiet: on a fixed grid the sound would straddle
    the 2.0 s boundary; here the quiet before it is dropped but for the 200 ms pre-roll, and
    its segment starts with it."""
    frames = [QUIET] * 65 + [LOUD] * 50 + [QUIET] * 150
    segs = kinds(run(Segmenter(CFG, ScriptedVad([])), frames), Segment)
    assert [(s.start_time, s.end_time) for s in segs] == [
        (pytest.approx(1.1), pytest.approx(3.1)),  # pre-roll, the whole sound, then quiet
        (pytest.approx(3.1), pytest.approx(5.1)),  # a quiet segment still comes every 2 s
    ]
    assert segs[0].pcm == b"".join(frames[55:155])


def test_a_pause_inside_a_sounding_segment_does_not_restart_it() -> None:
    frames = [LOUD] * 25 + [QUIET] * 25 + [LOUD] * 100 + [QUIET] * 50
    segs = kinds(run(Segmenter(CFG, ScriptedVad([])), frames), Segment)
    assert [(s.start_time, s.end_time) for s in segs] == [
        (pytest.approx(0.0), pytest.approx(2.0)),
        (pytest.approx(2.0), pytest.approx(4.0)),
    ]


def test_a_pause_carries_the_utterance_before_the_silence_has_ended_it() -> None:
    events = scripted([(0.0, 20), (0.9, 50), (0.0, 50)])
    (paused,), (utt,) = kinds(events, SpeechPaused), kinds(events, Utterance)
    assert paused.matches(utt) and paused.pcm == utt.pcm
    # it comes pause_ms into the silence, before the utterance (end_of_speech_silence_ms)
    assert events.index(paused) < events.index(utt)
    assert CFG.tail_ms <= CFG.pause_ms < CFG.end_of_speech_silence_ms


def test_speech_after_a_pause_makes_it_stale_and_the_next_pause_is_the_utterance() -> None:
    # speech, a 200 ms pause (under the 300 ms that ends a turn), more speech, silence
    events = scripted([(0.9, 40), (0.0, 10), (0.9, 30), (0.0, 40)])
    first, second = kinds(events, SpeechPaused)
    (utt,) = kinds(events, Utterance)
    assert not first.matches(utt) and second.matches(utt)
    assert first.end_time == pytest.approx(0.8) and utt.end_time == pytest.approx(1.6)


def test_no_pause_for_speech_too_short_to_be_an_utterance_or_when_off() -> None:
    assert not kinds(scripted([(0.9, 5), (0.0, 30)]), SpeechPaused)  # 100 ms: discarded
    off = SegmentationConfig(pause_ms=0, partial_every_ms=0)
    events = scripted([(0.9, 100), (0.0, 30)], config=off)
    assert kinds(events, Utterance) and not kinds(events, SpeechPaused, SpeechSoFar)


def test_the_speech_so_far_comes_every_partial_interval_while_talking() -> None:
    config = SegmentationConfig(partial_every_ms=400)
    events = scripted([(0.0, 10), (0.9, 70), (0.0, 30)], config=config)  # 1.4 s of speech
    so_far = kinds(events, SpeechSoFar)
    assert [round(s.end_time - s.start_time, 2) for s in so_far] == [0.4, 0.8, 1.2]
    (utt,) = kinds(events, Utterance)
    for s in so_far:  # a prefix of the utterance's audio
        assert utt.pcm.startswith(s.pcm) and s.start_time == utt.start_time


def test_a_turn_judged_over_ends_at_the_shorter_silence_with_the_paused_audio() -> None:
    seg = Segmenter(CFG, ScriptedVad([0.0] * 10 + [0.9] * 50 + [0.0] * 50))
    events = run(seg, (frame_of(i) for i in range(66)), flush=False)  # 120 ms into the silence
    (paused,) = kinds(events, SpeechPaused)
    assert seg.end_paused_turn(paused, 200) == [] and seg.in_speech  # 200 ms have not gone by yet
    events = run(seg, (frame_of(i) for i in range(66, 80)), flush=False)
    (utt,) = kinds(events, Utterance)
    assert paused.matches(utt) and utt.shortened
    assert utt.detected_time - utt.end_time == pytest.approx(0.2)  # not the 300 ms end-of-speech silence
    assert not kinds(run(seg, (frame_of(i) for i in range(80, 110)), flush=False), Utterance)  # not twice


def test_a_verdict_for_a_silence_already_gone_by_closes_at_once() -> None:
    seg = Segmenter(CFG, ScriptedVad([0.0] * 10 + [0.9] * 50 + [0.0] * 50))
    (paused,) = kinds(run(seg, (frame_of(i) for i in range(66)), flush=False), SpeechPaused)
    (utt,) = seg.end_paused_turn(paused, 100)
    assert isinstance(utt, Utterance) and utt.shortened and utt.detected_time == pytest.approx(66 * 0.02)
    assert not seg.in_speech


def test_a_turn_judged_over_after_the_caller_went_on_keeps_the_full_silence() -> None:
    seg = Segmenter(CFG, ScriptedVad([0.9] * 40 + [0.0] * 8 + [0.9] * 10 + [0.0] * 50))
    events = run(seg, (frame_of(i) for i in range(52)), flush=False)  # speech again after the pause
    (paused,) = kinds(events, SpeechPaused)
    assert seg.end_paused_turn(paused, 100) == [] and seg.in_speech
    (utt,) = kinds(run(seg, (frame_of(i) for i in range(52, 110)), flush=False), Utterance)
    assert utt.end_time == pytest.approx(58 * 0.02) and not utt.shortened
    assert utt.detected_time - utt.end_time == pytest.approx(0.3)


def test_a_verdict_is_void_once_the_caller_speaks_again() -> None:
    # judged finished at the first pause, the caller goes on before the shorter silence has run
    seg = Segmenter(CFG, ScriptedVad([0.9] * 40 + [0.0] * 6 + [0.9] * 10 + [0.0] * 50))
    (paused,) = kinds(run(seg, (frame_of(i) for i in range(46)), flush=False), SpeechPaused)
    assert seg.end_paused_turn(paused, 200) == []
    (utt,) = kinds(run(seg, (frame_of(i) for i in range(46, 110)), flush=False), Utterance)
    assert not utt.shortened and utt.detected_time - utt.end_time == pytest.approx(0.3)


def test_a_pause_must_lie_inside_the_silence_that_ends_a_turn() -> None:
    with pytest.raises(ValueError, match="pause_ms"):
        SegmentationConfig(pause_ms=300)
    with pytest.raises(ValueError, match="tail_ms"):
        SegmentationConfig(pause_ms=60, tail_ms=100)


def test_wrong_frame_length_is_refused() -> None:
    seg = Segmenter(CFG, ScriptedVad([]))
    with pytest.raises(ValueError, match="640 bytes"):
        seg.feed(bytes(320))


# ---- real audio ---------------------------------------------------------------------


def speech_end_s(x: np.ndarray, below_peak_db: float = 35.0) -> float:
    """End of the last 20 ms frame within ``below_peak_db`` of the loudest one."""
    db = frame_db(x)
    return (len(db) - int(np.argmax(db[::-1] > db.max() - below_peak_db))) * 0.02


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def segment_real(x: np.ndarray, model: SileroModel, config: SegmentationConfig = CFG) -> list:
    return run(Segmenter(config, SileroVad(model)), split_frames(pcm(through_phone(x))))


def test_one_sentence_one_utterance(data: Path, model: SileroModel) -> None:
    lags = []
    for path in sorted((data / "noizeus" / "clean").glob("*.flac")):
        x = np.concatenate([silence(1.0), load16(path), silence(1.0)])
        events = segment_real(x, model)
        started, utts = kinds(events, SpeechStarted), kinds(events, Utterance)
        assert len(started) == 1 and len(utts) == 1, path.name
        assert not kinds(events, SpeechDiscarded)
        u = utts[0]
        assert u.detected_time - u.end_time == pytest.approx(CFG.end_of_speech_silence_ms / 1000)
        assert 0.95 <= u.start_time <= 1.4, path.name  # every sentence starts 1.14-1.34 s in
        assert u.pcm_start_time == pytest.approx(u.start_time - CFG.pre_roll_ms / 1000)
        lags.append(u.end_time - speech_end_s(x))
    # Silero holds on ~100 ms past the audible end (-35 dB): measured median 120 ms, max 200 ms
    assert np.median(lags) <= 0.15, lags
    assert min(lags) >= -0.1 and max(lags) <= 0.25, lags


def test_two_sentences_two_utterances(data: Path, model: SileroModel) -> None:
    a, b = load16(data / "noizeus" / "clean" / "sp03.flac"), load16(data / "noizeus" / "clean" / "sp07.flac")
    x = np.concatenate([silence(0.5), a, silence(1.5), b, silence(1.0)])
    utts = kinds(segment_real(x, model), Utterance)
    assert len(utts) == 2
    assert utts[0].end_time < 0.5 + len(a) / SAMPLE_RATE + 0.3 < utts[1].start_time


def test_seven_second_stream_segments(data: Path, model: SileroModel) -> None:
    speech = load16(data / "noizeus" / "clean" / "sp05.flac")  # 2.6 s, spoken from ~0.16 s
    x = np.concatenate([silence(2.0), speech, silence(7.0 - 2.0 - len(speech) / SAMPLE_RATE)])
    seg = Segmenter(CFG, SileroVad(model))
    segs = kinds(run(seg, split_frames(pcm(through_phone(x))), flush=False), Segment)
    first_sound = 2.0 + np.argmax(frame_db(through_phone(speech)) >= CFG.segment_onset_dbfs) * 0.02
    assert 2.1 <= first_sound <= 2.2
    first_sound = max(2.0, first_sound - CFG.pre_roll_ms / 1000)  # the pre-roll, within what is left
    # The silent first 2 s, then segments from the first sound on (less the pre-roll).
    assert [(round(s.start_time, 3), round(s.end_time, 3)) for s in segs] == [
        (0.0, 2.0), (round(first_sound, 3), round(first_sound + 2, 3)), (round(first_sound + 2, 3), round(first_sound + 4, 3))
    ]
    segs += kinds(seg.flush(), Segment)  # the last second or so arrives at hangup
    assert (segs[-1].start_time, segs[-1].end_time) == (pytest.approx(first_sound + 4), pytest.approx(7.0))
    assert [s.has_speech for s in segs[:2]] == [False, True]
    assert segs[0].speech_ratio == 0.0 and segs[1].speech_ratio > 0.7
    assert segs[3].speech_ratio == 0.0


def test_a_real_sigh_after_a_pause_lies_in_one_segment(data: Path, model: SileroModel) -> None:
    """A sigh from the nonverbal set (the VAD does not take it for speech), 1.1 s into a line's
    quiet and through the phone: all of it (every frame within 20 dB of its peak; the clip's
    own room noise, 30 dB down, starts half a second earlier) is in one segment."""
    from emotion.training.data import nonverbal_clips

    clip = next(c for c in nonverbal_clips(data.parent) if c.label == "sighing" and c.path.name == "C4DX_7_9_0_20_0_0_0.flac")
    sigh = load16(clip.path)
    x = through_phone(np.concatenate([silence(1.1), sigh, silence(3.0)]))
    events = segment_real(x, model)
    assert not kinds(events, Utterance)
    db = frame_db(x)
    audible = np.flatnonzero(db >= db.max() - 20) * 0.02
    assert audible[-1] - audible[0] > 0.5 and audible[0] % 2.0 > 0.2  # on a fixed grid it would be cut
    holding = [s for s in kinds(events, Segment) if s.start_time <= audible[0] < s.end_time]
    assert len(holding) == 1 and audible[-1] < holding[0].end_time, (audible[[0, -1]], holding)


@pytest.mark.parametrize("engine", [VadEngine.SILERO, VadEngine.WEBRTC])
def test_garbage_never_raises_and_silence_is_no_speech(engine: VadEngine, model: SileroModel) -> None:
    rng = np.random.default_rng(2)
    n = SAMPLE_RATE * 3
    square = np.where(np.sin(2 * np.pi * 150 * np.arange(n) / SAMPLE_RATE) >= 0, 32767, -32768)
    streams = {
        "full-scale white noise": rng.integers(-32768, 32768, n).astype("<i2").tobytes(),
        "dc offset": np.full(n, -25000, dtype="<i2").tobytes(),
        "clipping square wave": square.astype("<i2").tobytes(),
        "silence": bytes(n * 2),
    }
    for name, data in streams.items():
        vad = SileroVad(model) if engine == VadEngine.SILERO else WebRtcVad(CFG.webrtc_aggressiveness)
        events = run(Segmenter(SegmentationConfig(vad_engine=engine), vad), split_frames(data))
        assert len(kinds(events, Segment)) == 2, name
        if name == "silence":
            assert kinds(events, SpeechStarted, Utterance, SpeechDiscarded) == []
            assert not any(s.has_speech for s in kinds(events, Segment))
