"""One SIP call as pjsua2 sees it: state, media and DTMF callbacks, on pjsip threads.

Each callback only translates pjsua2 state into ``CallSession`` updates scheduled on the
event loop; nothing here blocks or touches asyncio objects directly."""

from __future__ import annotations

import time
from collections.abc import Callable

import pjsua2 as pj
import structlog

from telephony.call_session import CallSession
from telephony.media_port import CallAudioPort, PortPool


class SipCall(pj.Call):
    def __init__(
        self,
        account: pj.Account,
        session: CallSession,
        on_confirmed: Callable[[SipCall], None],
        on_disconnected: Callable[[SipCall], None],
        ports: PortPool,
        call_index: int = pj.PJSUA_INVALID_ID,
    ) -> None:
        super().__init__(account, call_index)
        self.session = session
        self._ports = ports
        self._on_confirmed = on_confirmed
        self._on_disconnected = on_disconnected
        self.port: CallAudioPort | None = None
        self.audio_media: pj.AudioMedia | None = None
        self.media_index = -1
        self.confirmed = False
        self.answered_at: float | None = None  # monotonic time our 200 went out (inbound calls)
        self.disconnected = False
        self.hangup_reason = ""
        self.last_rx_packets = -1
        self.last_rx_change = time.monotonic()
        self.log = structlog.get_logger(component="sip.call", call_id=session.call_id)

    # ---- pjsua2 callbacks (pjsip thread) ---------------------------------------------------
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        loop = self.session.loop
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.confirmed:
            self.confirmed = True
            self.last_rx_change = time.monotonic()
            loop.call_soon_threadsafe(self.session.mark_answered)
            self._on_confirmed(self)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            reason = self.hangup_reason or ("remote" if self.confirmed else info.lastReason or "failed")
            self.log.info(
                "call_disconnected",
                reason=reason,
                status=info.lastStatusCode,
                duration_s=info.connectDuration.sec,
                frames_sent=self.session.playout.frames_sent,
            )
            self._detach_media()
            loop.call_soon_threadsafe(self.session.mark_ended, reason, info.lastStatusCode)
            self._on_disconnected(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        for media in info.media:
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            audio = self.getAudioMedia(media.index)
            if self.port is None:
                self.port = self._ports.acquire(self.session.push_audio_threadsafe, self.session.playout)
            audio.startTransmit(self.port)
            self.port.startTransmit(audio)
            self.audio_media = audio
            self.media_index = media.index
            try:
                self.session.stats.codec = self.getStreamInfo(media.index).codecName
            except pj.Error:
                pass
            self.log.info("media_active", codec=self.session.stats.codec)
            return

    def onCallRedirected(self, prm: pj.OnCallRedirectedParam) -> int:  # noqa: N802
        # Bedside's own servers redirect (302) to a sibling worker when a process is full.
        self.log.info("call_redirected")
        return pj.PJSIP_REDIRECT_ACCEPT_REPLACE

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:  # noqa: N802
        # Being transferred away (a REFER from the far end) is declined: following it would need
        # a new pjsua2 Call for the new leg, and pjsua2 crashes when it makes one on its own.
        self.log.info("transfer_request_declined")
        prm.statusCode = pj.PJSIP_SC_DECLINE

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802
        status, final = int(prm.statusCode), bool(prm.finalNotify)
        self.log.info("transfer_status", status=status, final=final)
        self.session.loop.call_soon_threadsafe(self.session.transfer_progress, status, final)
        if final or status >= 200:
            prm.cont = False  # no more NOTIFYs needed

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802
        digit = str(prm.digit)
        self.log.info("dtmf_received", method=int(prm.method))
        self.session.loop.call_soon_threadsafe(self.session.push_dtmf, digit, int(prm.duration))

    # ---- helpers (pjsip thread) ------------------------------------------------------------
    def rtp_idle_s(self, now: float) -> float:
        """Seconds since an RTP packet last arrived (0 until media is up)."""
        if self.media_index < 0 or self.disconnected:
            return 0.0
        try:
            packets = self.getStreamStat(self.media_index).rtcp.rxStat.pkt
        except pj.Error:
            return 0.0
        if packets != self.last_rx_packets:
            self.last_rx_packets = packets
            self.last_rx_change = now
        return now - self.last_rx_change

    def hangup_quietly(self, reason: str, status_code: int = 0) -> None:
        if self.disconnected:
            return
        self.hangup_reason = self.hangup_reason or reason
        prm = pj.CallOpParam()
        if status_code:
            prm.statusCode = status_code
        try:
            self.hangup(prm)
        except pj.Error as exc:
            self.log.warning("hangup_failed", error=exc.reason)

    def transfer_quietly(self, target_uri: str) -> None:
        """Send REFER; a failure to send is reported like a failed transfer (status 0)."""
        try:
            self.xfer(target_uri, pj.CallOpParam())
        except pj.Error as exc:
            self.log.warning("transfer_failed", error=exc.reason)
            self.session.loop.call_soon_threadsafe(self.session.transfer_progress, 0, True)

    def _detach_media(self) -> None:
        # pjsua has already removed the call's stream from the bridge by DISCONNECTED;
        # stopTransmit now would only log PJ_EINVAL. Dropping our references is enough.
        self.audio_media = None
