"""Browser calls in: takes a page's SDP offer, answers it and hands the call to the agent.

The WebRTC twin of ``user_agent.py``'s answering side: it holds the limits (``webrtc.max_calls``,
offer size, how long media may take to connect), refuses what it cannot use with a status and
a clear reason (:class:`OfferRefused`), and calls ``on_incoming`` once media is up, exactly when
the SIP side would — so the greeting is never spoken into a connection that is not there yet."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from telephony.call_session import Direction
from telephony.config import WebRtcConfig
from telephony.webrtc_call import WebRtcCall
from telephony.webrtc_ice import use_host_addresses


class OfferRefused(Exception):
    """An offer the gateway will not answer: ``status`` is the HTTP status to give the page."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BrowserAnswer:
    call_id: str
    sdp: str


class WebRtcGateway:
    def __init__(
        self, config: WebRtcConfig, on_incoming: Callable[[WebRtcCall], Awaitable[None]], host_addresses: list[str],
    ) -> None:
        use_host_addresses(host_addresses)  # ValueError: a setting that is not an address
        self.config = config
        self._on_incoming = on_incoming
        self._calls: dict[str, WebRtcCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = True
        self.log = structlog.get_logger(component="webrtc")

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def max_calls(self) -> int:
        return self.config.max_calls

    @property
    def max_offer_bytes(self) -> int:
        return self.config.max_offer_bytes

    async def answer(self, offer_sdp: str, caller: str) -> BrowserAnswer:
        """Answer a page's offer (``caller``: who placed it, e.g. the staff name; never PHI)."""
        if not self._accepting:
            raise OfferRefused(503, "the server is stopping: no new calls")
        if len(self._calls) >= self.config.max_calls:
            raise OfferRefused(503, f"{len(self._calls)} browser call(s) already up: the limit (webrtc.max_calls)")
        if len(offer_sdp.encode("utf-8", "replace")) > self.config.max_offer_bytes:
            raise OfferRefused(413, f"the offer is larger than {self.config.max_offer_bytes} bytes (webrtc.max_offer_bytes)")
        if not offer_sdp.startswith("v=0"):
            raise OfferRefused(400, "not an SDP offer (it must start with v=0)")
        call = WebRtcCall(asyncio.get_running_loop(), Direction.INBOUND, remote_uri=f"webrtc:{caller}")
        try:
            sdp = await call.answer(offer_sdp)
        except Exception as exc:  # noqa: BLE001 - aiortc raises many kinds for a malformed offer; none may escape
            await call.close("offer refused")
            self.log.warning("webrtc_offer_refused", error=type(exc).__name__)
            raise OfferRefused(400, f"unusable offer ({type(exc).__name__}: {exc})") from None
        self._calls[call.session.call_id] = call
        task = asyncio.create_task(self._run(call), name=f"webrtc-{call.session.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.log.info("webrtc_offer_answered", call_id=call.session.call_id, codec=call.session.stats.codec)
        return BrowserAnswer(call.session.call_id, sdp)

    async def _run(self, call: WebRtcCall) -> None:
        try:
            if not await call.wait_connected(self.config.connect_timeout_s):
                self.log.warning("webrtc_not_connected", call_id=call.session.call_id, timeout_s=self.config.connect_timeout_s)
                return
            call.session.mark_answered()
            await self._on_incoming(call)
        finally:
            await call.close("ended")
            self._calls.pop(call.session.call_id, None)

    async def hang_up(self, call_id: str) -> None:
        """End one call (none by that id: nothing to do)."""
        call = self._calls.get(call_id)
        if call is not None:
            await call.close("hung up by the console")

    def stop_accepting(self) -> None:
        """Draining: offers get 503; calls in progress go on."""
        self._accepting = False

    async def stop(self) -> None:
        """Hang up every browser call and wait for them to wrap up."""
        self.stop_accepting()
        for call in list(self._calls.values()):
            await call.close("server stopping")
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)


__all__ = ["BrowserAnswer", "OfferRefused", "WebRtcGateway"]
