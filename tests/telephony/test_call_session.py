"""A call's caller audio on the loop: every frame counted and queued on the call's clock, the
oldest dropped (and counted) when the agent falls 10 s behind, and the software relay that
bridges a browser leg to another call frame by frame."""

from __future__ import annotations

import asyncio
import threading

import pytest

from telephony.audio import FRAME_BYTES, SILENT_FRAME
from telephony.call_session import CallSession, Direction
from telephony.frames import AudioIn


def frame(n: int) -> bytes:
    """A distinct 20 ms frame (16-bit samples, all the same value)."""
    return n.to_bytes(2, "little", signed=True) * (FRAME_BYTES // 2)


async def session() -> CallSession:
    return CallSession(asyncio.get_running_loop(), Direction.INBOUND)


async def test_each_pushed_frame_is_counted_and_queued_on_the_calls_clock() -> None:
    call = await session()
    for n in range(1, 4):
        call.push_audio(frame(n))
    assert call.stats.frames_received == 3 and call.stats.frames_dropped == 0
    assert call.call_time == pytest.approx(0.06)
    got = [call.audio.get_nowait() for _ in range(3)]
    assert all(isinstance(a, AudioIn) for a in got)
    assert [a.pcm for a in got] == [frame(1), frame(2), frame(3)]
    assert [a.call_time for a in got] == pytest.approx([0.02, 0.04, 0.06])  # each frame's end
    assert call.audio.empty()


async def test_a_full_queue_drops_the_oldest_frame_and_counts_it() -> None:
    call = await session()
    call.AUDIO_QUEUE_FRAMES = 4
    for n in range(1, 8):
        call.push_audio(frame(n))
    assert call.stats.frames_received == 7 and call.stats.frames_dropped == 3
    assert call.audio.qsize() == 4
    kept = [call.audio.get_nowait() for _ in range(4)]
    assert [a.pcm for a in kept] == [frame(4), frame(5), frame(6), frame(7)]
    assert kept[-1].call_time == pytest.approx(0.14)  # the clock counts the dropped frames too


async def test_the_default_queue_holds_ten_seconds_of_caller_audio() -> None:
    call = await session()
    assert CallSession.AUDIO_QUEUE_FRAMES == 500
    for n in range(501):
        call.push_audio(frame(n))
    assert call.audio.qsize() == 500 and call.stats.frames_dropped == 1
    assert call.audio.get_nowait().pcm == frame(1)


async def test_relayed_frames_play_into_the_other_call_in_order() -> None:
    browser, operator = await session(), await session()
    browser.relay_audio_to(operator)
    browser.push_audio(frame(1))
    browser.push_audio(frame(2))
    assert operator.playout.next_frame() == frame(1)
    assert operator.playout.next_frame() == frame(2)
    assert operator.playout.next_frame() == SILENT_FRAME
    assert browser.audio.qsize() == 2  # the agent still hears its own caller
    assert operator.audio.empty() and operator.stats.frames_received == 0  # played to, not received from


async def test_two_legs_relayed_both_ways_hear_each_other() -> None:
    a, b = await session(), await session()
    a.relay_audio_to(b)
    b.relay_audio_to(a)
    a.push_audio(frame(1))
    b.push_audio(frame(2))
    assert b.playout.next_frame() == frame(1)
    assert a.playout.next_frame() == frame(2)


async def test_relay_to_none_stops_the_relay() -> None:
    browser, operator = await session(), await session()
    browser.relay_audio_to(operator)
    browser.push_audio(frame(1))
    browser.relay_audio_to(None)
    browser.push_audio(frame(2))
    assert operator.playout.next_frame() == frame(1)
    assert operator.playout.next_frame() == SILENT_FRAME
    assert not operator.is_playing


async def test_nothing_is_relayed_into_a_call_that_has_ended() -> None:
    browser, operator = await session(), await session()
    browser.relay_audio_to(operator)
    operator.mark_ended("operator hung up")
    browser.push_audio(frame(1))
    assert not operator.is_playing and operator.playout.next_frame() == SILENT_FRAME
    assert browser.audio.qsize() == 1 and browser.stats.frames_received == 1  # the caller's own call goes on


async def test_a_full_playout_on_the_other_leg_does_not_stop_the_callers_audio() -> None:
    browser, operator = await session(), await session()
    operator.playout.write(bytes(operator.playout._max_bytes))  # the other leg stopped taking audio
    browser.relay_audio_to(operator)
    browser.push_audio(frame(1))  # OverflowError is swallowed
    assert browser.audio.get_nowait().pcm == frame(1)


async def test_frames_pushed_from_another_thread_land_on_the_loop() -> None:
    call = await session()
    loop_thread = threading.get_ident()
    seen_on: list[int] = []
    original = call.push_audio

    def recording(pcm: bytes) -> None:
        seen_on.append(threading.get_ident())
        original(pcm)

    call.push_audio = recording  # type: ignore[method-assign]

    def clock() -> None:
        for n in range(1, 4):
            call.push_audio_threadsafe(frame(n))

    thread = threading.Thread(target=clock)
    thread.start()
    thread.join(5)
    assert call.audio.empty()  # nothing is touched off the loop
    got = [await asyncio.wait_for(call.audio.get(), 2) for _ in range(3)]
    assert [a.pcm for a in got] == [frame(1), frame(2), frame(3)]
    assert seen_on == [loop_thread] * 3 and call.stats.frames_received == 3


async def test_a_frame_pushed_after_the_loop_closed_is_dropped_quietly() -> None:
    loop = asyncio.new_event_loop()
    call = CallSession(loop, Direction.INBOUND)
    loop.close()
    call.push_audio_threadsafe(frame(1))  # a clock thread outliving shutdown must not raise
    assert call.stats.frames_received == 0


async def test_audio_and_marks_asked_for_after_the_call_ended_resolve_at_once_unreached() -> None:
    # a caller mid-sentence when the other side hangs up must not wait for marks forever
    call = await session()
    call.mark_ended("remote hung up")
    played, mark = call.play(frame(1)), call.mark("speech-end")
    assert played.done() and mark.done()
    assert not played.result().reached and not mark.result().reached
