"""Calls the agent the way the console's softphone page does: signs in to the console, posts a
WebRTC offer to ``/api/v1/webrtc/offer`` and connects media (aiortc, Opus).

``bedside call http://127.0.0.1:8080/ --user NAME`` and ``bedside bench latency --webrtc`` dial
with it, so a browser call is scripted, recorded, transcribed and timed exactly like a SIP call
(agent/app/qa_caller.py takes either dialer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx2

from telephony.call_session import CallSession, Direction
from telephony.config import SipConfig
from telephony.user_agent import CallFailed, SipUserAgent
from telephony.webrtc_call import WebRtcCall


class BrowserDialer:
    def __init__(self, console_url: str, name: str, password: str) -> None:
        self.console_url = console_url.rstrip("/")
        self.name = name
        self.password = password
        self.calls: list[WebRtcCall] = []  # the live state each call's page would show: ``call.received``

    async def dial(self, uri: str = "", timeout: float = 15.0) -> CallSession:
        """Sign in, offer, connect. ``uri`` is ignored (the console is the number). CallFailed with
        the console's status and reason when it refuses."""
        origin = {"Origin": self.console_url}
        call: WebRtcCall | None = None
        async with httpx2.AsyncClient(base_url=self.console_url, timeout=timeout) as http:
            try:
                signed_in = await http.post("/login", data={"name": self.name, "password": self.password}, headers=origin)
                if signed_in.status_code != 303 or signed_in.headers.get("location") != "/":
                    raise CallFailed(401, f"the console refused the sign-in as {self.name}")
                me = await http.get("/api/v1/me")
                me.raise_for_status()
                call = WebRtcCall(asyncio.get_running_loop(), Direction.OUTBOUND, remote_uri=self.console_url)
                offer = await call.offer()
                answered = await http.post("/api/v1/webrtc/offer", json={"type": "offer", "sdp": offer},
                                           headers={**origin, "X-CSRF-Token": me.json()["csrf"]})
            except httpx2.HTTPError as exc:
                if call is not None:
                    await call.close("console unreachable")
                raise CallFailed(503, f"the console at {self.console_url} did not answer ({type(exc).__name__})") from None
        if answered.status_code != 200:
            await call.close("refused")
            raise CallFailed(answered.status_code, _detail(answered))
        try:
            await call.accept(answered.json()["sdp"])
        except Exception as exc:  # noqa: BLE001 - an answer aiortc cannot use, whatever the kind
            await call.close("bad answer")
            raise CallFailed(502, f"unusable answer from the console ({type(exc).__name__})") from None
        if not await call.wait_connected(timeout):
            await call.close("timeout")
            raise CallFailed(408, "media did not connect")
        call.session.peer_call_id = str(answered.json().get("call_id", ""))
        call.session.mark_answered()
        self.calls.append(call)
        return call.session


def is_console_url(uri: str) -> bool:
    """An http(s) URL is the QA console (a browser call); anything else is a SIP URI."""
    return uri.startswith(("http://", "https://"))


@asynccontextmanager
async def dialer_for(uri: str, sip: SipConfig, name: str, user: str,
                     password: Callable[[], str]) -> AsyncIterator[SipUserAgent | BrowserDialer]:
    """What ``uri`` is dialled with: the console's browser-call path (``password()`` asked only
    then), or a SIP user agent named ``name``, started and stopped around the block."""
    if is_console_url(uri):
        yield BrowserDialer(uri, user, password())
        return
    ua = SipUserAgent(sip, name=name)
    await ua.start()
    try:
        yield ua
    finally:
        await ua.stop()


def _detail(response: httpx2.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase


__all__ = ["BrowserDialer", "dialer_for", "is_console_url"]
