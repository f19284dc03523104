"""Browser calls over real aiortc peer connections on loopback: the agent's side (the gateway
answering) and a calling side (``WebRtcCall`` offering, as a page does), with Opus both ways,
ICE and DTLS for real. Tones go in each direction and come out at their frequency."""

from __future__ import annotations

import asyncio
import json

from telephony.audio import SAMPLE_RATE
from telephony.call_session import CallSession
from telephony.config import WebRtcConfig
from telephony.frames import DtmfDigit
from telephony.webrtc_call import WebRtcCall
from telephony.webrtc_gateway import WebRtcGateway
from tests.telephony.webrtc_peers import LOOPBACK, dominant_hz, drain_audio, loud, place, tone


async def test_a_browser_call_carries_audio_both_ways_dtmf_and_the_live_state() -> None:
    heard_by_agent: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    digits: list[str] = []
    agent_side: list[CallSession] = []

    async def agent(call: WebRtcCall) -> None:
        session = call.session
        agent_side.append(session)
        assert session.answered.is_set() and session.stats.codec == "opus"
        session.play(tone(440, 1.0))
        call.send({"type": "state", "valence": -0.2})
        heard_by_agent.set_result(await drain_audio(session, 2.5))
        while not session.events.empty():
            event = session.events.get_nowait()
            if isinstance(event, DtmfDigit):
                digits.append(event.digit)
        await session.ended.wait()

    gateway = WebRtcGateway(WebRtcConfig(), agent, LOOPBACK)
    caller = await place(gateway)
    try:
        caller.session.play(tone(660, 1.0))
        await caller.session.send_dtmf("12#")
        heard_by_caller = await drain_audio(caller.session, 2.5)
        assert abs(dominant_hz(loud(heard_by_caller)) - 440) < 15
        assert len(loud(heard_by_caller)) >= 0.8 * SAMPLE_RATE * 2  # most of the second arrived
        assert abs(dominant_hz(loud(await asyncio.wait_for(heard_by_agent, 5))) - 660) < 15
        assert digits == ["1", "2", "#"]
        assert {"type": "state", "valence": -0.2} in caller.received
        assert gateway.active_calls == 1
    finally:
        await caller.session.hangup("caller done")
    (session,) = agent_side
    await asyncio.wait_for(session.ended.wait(), 5)
    assert session.end_reason == "remote"  # the page said so over the channel before closing
    for _ in range(100):
        if gateway.active_calls == 0:
            break
        await asyncio.sleep(0.05)
    assert gateway.active_calls == 0


async def test_the_agent_hanging_up_ends_the_call_on_the_callers_side() -> None:
    async def agent(call: WebRtcCall) -> None:
        await asyncio.sleep(0.3)
        await call.session.hangup("agent")

    gateway = WebRtcGateway(WebRtcConfig(), agent, LOOPBACK)
    caller = await place(gateway)
    await asyncio.wait_for(caller.session.ended.wait(), 10)
    assert caller.session.end_reason == "remote"
    assert any(m.get("type") == "hangup" and m.get("reason") == "agent" for m in caller.received)


async def test_garbage_on_the_data_channel_is_counted_and_the_call_goes_on() -> None:
    calls: list[WebRtcCall] = []

    async def agent(call: WebRtcCall) -> None:
        calls.append(call)
        await call.session.ended.wait()

    gateway = WebRtcGateway(WebRtcConfig(), agent, LOOPBACK)
    caller = await place(gateway)
    try:
        for _ in range(50):
            if caller.channel.readyState == "open":
                break
            await asyncio.sleep(0.05)
        for junk in ["not json", json.dumps([1, 2]), json.dumps({"type": "dtmf", "digits": "<script>"}),
                     json.dumps({"type": "transfer", "to": "x"}), "x" * 5000]:
            caller.channel.send(junk)
        await caller.session.send_dtmf("5")
        (call,) = calls
        event = await asyncio.wait_for(call.session.events.get(), 5)
        assert isinstance(event, DtmfDigit) and event.digit == "5"  # in order: the junk before it was dropped
        assert call.refused_messages == 5 and not call.session.ended.is_set()
    finally:
        await caller.session.hangup("caller done")


async def test_both_sides_decode_a_frame_as_soon_as_the_next_one_starts() -> None:
    """aiortc's fixed 4-frame wait is replaced on both sides (if an aiortc upgrade moves the
    buffer, this fails rather than every reply quietly getting 80 ms slower)."""
    from aiortc.jitterbuffer import JitterBuffer

    async def agent(call: WebRtcCall) -> None:
        await call.session.ended.wait()

    gateway = WebRtcGateway(WebRtcConfig(), agent, LOOPBACK)
    caller = await place(gateway)
    try:
        (answering,) = gateway._calls.values()
        for call in (caller, answering):
            (transceiver,) = call.pc.getTransceivers()
            buffer = transceiver.receiver._RTCRtpReceiver__jitter_buffer
            assert isinstance(buffer, JitterBuffer) and buffer._prefetch == 1
    finally:
        await caller.session.hangup("caller done")
