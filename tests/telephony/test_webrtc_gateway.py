"""The WebRTC gateway's limits and refusals, with real aiortc offers on loopback: a malformed,
oversized or audio-less offer gets a status and a reason and no call; a caller whose media never
connects is dropped before the agent hears of it; the call limit and draining refuse with 503."""

from __future__ import annotations

import asyncio

import pytest

from telephony.call_session import Direction
from telephony.config import WebRtcConfig
from telephony.webrtc_call import WebRtcCall
from telephony.webrtc_gateway import OfferRefused, WebRtcGateway
from tests.telephony.webrtc_peers import LOOPBACK, place


async def test_a_caller_whose_media_never_connects_is_dropped_and_never_reaches_the_agent() -> None:
    reached: list[WebRtcCall] = []

    async def agent(call: WebRtcCall) -> None:
        reached.append(call)

    gateway = WebRtcGateway(WebRtcConfig(connect_timeout_s=1.0), agent, LOOPBACK)
    caller = WebRtcCall(asyncio.get_running_loop(), Direction.OUTBOUND, "webrtc:test")
    await gateway.answer(await caller.offer(), "qa-tester")  # ... and never takes the answer
    assert gateway.active_calls == 1
    await asyncio.sleep(1.6)
    assert gateway.active_calls == 0 and reached == []
    await caller.close("test over")


@pytest.mark.parametrize(("offer", "status", "words"), [
    ("hello", 400, "must start with v=0"),
    ("v=0\r\n" + "a=x\r\n" * 20000, 413, "larger than"),
    ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF\r\n", 400, "unusable offer"),
])
async def test_unusable_offers_are_refused_with_a_status_and_a_reason(offer: str, status: int, words: str) -> None:
    async def agent(call: WebRtcCall) -> None:
        raise AssertionError("no call should reach the agent")

    gateway = WebRtcGateway(WebRtcConfig(), agent, LOOPBACK)
    with pytest.raises(OfferRefused) as refused:
        await gateway.answer(offer, "qa-tester")
    assert refused.value.status == status and words in refused.value.reason
    assert gateway.active_calls == 0


async def test_an_offer_without_audio_is_refused() -> None:
    async def agent(call: WebRtcCall) -> None:
        raise AssertionError("no call should reach the agent")

    page = WebRtcCall(asyncio.get_running_loop(), Direction.OUTBOUND, "webrtc:test")
    page.pc.createDataChannel("bedside")  # a data channel and nothing else
    await page.pc.setLocalDescription(await page.pc.createOffer())
    gateway = WebRtcGateway(WebRtcConfig(), agent, LOOPBACK)
    with pytest.raises(OfferRefused) as refused:
        await gateway.answer(page.pc.localDescription.sdp, "qa-tester")
    assert refused.value.status == 400 and "no audio" in refused.value.reason
    await page.close("test over")


async def test_the_call_limit_and_a_draining_gateway_refuse_with_503() -> None:
    async def agent(call: WebRtcCall) -> None:
        await call.session.ended.wait()

    gateway = WebRtcGateway(WebRtcConfig(max_calls=1), agent, LOOPBACK)
    caller = await place(gateway)
    second = WebRtcCall(asyncio.get_running_loop(), Direction.OUTBOUND, "webrtc:test")
    offer = await second.offer()
    with pytest.raises(OfferRefused) as refused:
        await gateway.answer(offer, "qa-tester")
    assert refused.value.status == 503 and "webrtc.max_calls" in refused.value.reason
    gateway.stop_accepting()
    await caller.session.hangup("caller done")
    with pytest.raises(OfferRefused) as refused:
        await gateway.answer(offer, "qa-tester")
    assert refused.value.status == 503 and "stopping" in refused.value.reason
    await second.close("test over")
    await gateway.stop()
    assert gateway.active_calls == 0
