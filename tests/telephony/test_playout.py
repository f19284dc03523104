import threading

import pytest

from telephony.audio import FRAME_BYTES, SILENT_FRAME
from telephony.playout import PlayoutBuffer, PlayoutMark


def test_empty_buffer_sends_silence_forever():
    buf = PlayoutBuffer()
    assert all(buf.next_frame() == SILENT_FRAME for _ in range(5))
    assert buf.frames_played == 0 and buf.frames_sent == 5


def test_audio_leaves_one_frame_per_tick_and_partial_frame_is_padded():
    buf = PlayoutBuffer()
    buf.write(b"\x01\x00" * (FRAME_BYTES // 2 + 10))
    assert buf.next_frame() == b"\x01\x00" * (FRAME_BYTES // 2)
    last = buf.next_frame()
    assert last[:20] == b"\x01\x00" * 10 and last[20:] == bytes(FRAME_BYTES - 20)
    assert not buf.is_playing


def test_marks_fire_when_their_audio_is_sent_and_start_marks_on_first_frame():
    fired: list[tuple[str, bool, int]] = []
    buf = PlayoutBuffer()
    buf.set_on_mark(lambda m, reached: fired.append((m.label, reached, buf.frames_sent)))
    buf.write(bytes(FRAME_BYTES * 3), mark=PlayoutMark("end"), start_mark=PlayoutMark("start"))
    for _ in range(4):
        buf.next_frame()
    assert fired == [("start", True, 1), ("end", True, 3)]


def test_clear_drops_audio_and_reports_pending_marks_unreached():
    fired = []
    buf = PlayoutBuffer(on_mark=lambda m, reached: fired.append((m.label, reached)))
    buf.write(bytes(FRAME_BYTES * 50), mark=PlayoutMark("end"))
    buf.next_frame()
    assert buf.clear() == 49 * 20
    assert fired == [("end", False)]
    assert buf.next_frame() == SILENT_FRAME


def test_odd_length_pcm_is_rejected():
    with pytest.raises(ValueError):
        PlayoutBuffer().write(b"\x00\x01\x02")


def test_overflow_is_refused_rather_than_growing_without_bound():
    buf = PlayoutBuffer(max_seconds=0.1)
    with pytest.raises(OverflowError):
        buf.write(bytes(FRAME_BYTES * 10))


def test_a_failing_mark_callback_never_breaks_the_clock_thread():
    def boom(mark, reached):
        raise RuntimeError("bug")

    buf = PlayoutBuffer(on_mark=boom)
    buf.write(bytes(FRAME_BYTES), mark=PlayoutMark("x"))
    assert len(buf.next_frame()) == FRAME_BYTES


def test_concurrent_writer_and_clock_thread_lose_nothing():
    buf = PlayoutBuffer()
    chunk = bytes(range(256)) * 5  # 1280 bytes = 2 frames
    out = bytearray()
    done = threading.Event()

    def clock():
        while not done.is_set() or buf.is_playing:
            frame = buf.next_frame()
            if frame != SILENT_FRAME:
                out.extend(frame)

    t = threading.Thread(target=clock)
    t.start()
    for _ in range(200):
        buf.write(chunk)
    done.set()
    t.join(5)
    assert bytes(out) == chunk * 200
