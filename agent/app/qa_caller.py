"""``bedside call``: the QA test caller. It dials, speaks a script (audio files, synthesized
text, DTMF), records what the agent says, and prints both sides' transcripts as they
happen. Turn-taking is by ear: each caller item waits until the agent has finished
speaking (``--at`` instead starts at a fixed time, e.g. to talk over the greeting)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

from agent.app.audio_files import load_pcm16k, speech_bounds, write_wav
from agent.services.stt import SttWorker
from telephony.audio import FRAME_MS, rms_dbfs
from telephony.call_session import CallSession
from telephony.user_agent import CallFailed
from tts.synthesizer import PiperSynthesizer

ItemKind = Literal["play", "say", "dtmf"]


class Dialer(Protocol):
    """Places the call: a SIP user agent (telephony.user_agent.SipUserAgent), or the console's
    browser-call path (agent/app/browser_dialer.py). CallFailed when it is not answered."""

    async def dial(self, uri: str, timeout: float = 15.0) -> CallSession: ...


@dataclass(frozen=True, slots=True)
class ScriptItem:
    kind: ItemKind
    value: str


@dataclass
class AgentTurn:
    start: float
    end: float = 0.0
    text: str = ""


@dataclass
class CallerItemReport:
    kind: str
    start: float
    speech_end: float = 0.0  # call time the last audible caller sample was sent
    end: float = 0.0
    first_agent_audio: float | None = None  # first agent audio after speech_end


@dataclass
class CallReport:
    answered: bool = False
    # What both ends know the call by: the SIP Call-ID, or a browser call's id in the console.
    call_key: str = ""
    codec: str = ""
    status_code: int = 0
    end_reason: str = ""
    hung_up_by: str = ""
    duration_s: float = 0.0
    agent_turns: list[AgentTurn] = field(default_factory=list)
    caller_items: list[CallerItemReport] = field(default_factory=list)


class AgentVoiceTracker:
    """Finds the agent's speech in received audio: on above ``threshold_db``, off after
    ``hangover_ms`` of quiet (long enough to bridge pauses between sentences)."""

    # -60 dBFS: the agent's silence is digital zero (about -78 dBFS after G.711), while the
    # soft first consonant of a reply ("th", "f") can sit near -50 dBFS.
    def __init__(self, threshold_db: float = -60.0, hangover_ms: int = 700) -> None:
        self.threshold_db = threshold_db
        self.hangover_frames = hangover_ms // FRAME_MS
        self.talking = False
        self._quiet = 0
        self._pcm = bytearray()
        self.turns: list[AgentTurn] = []
        self.last_audio_at: float | None = None

    def feed(self, frame: bytes, t: float) -> tuple[AgentTurn | None, tuple[AgentTurn, bytes] | None]:
        """Returns (turn started, (turn ended, its audio))."""
        loud = rms_dbfs(frame) > self.threshold_db
        started = ended = None
        if loud:
            self.last_audio_at = t
        if self.talking:
            self._pcm += frame
            self._quiet = 0 if loud else self._quiet + 1
            if self._quiet >= self.hangover_frames:
                self.talking = False
                turn = self.turns[-1]
                turn.end = t - self._quiet * FRAME_MS / 1000.0
                ended = (turn, bytes(self._pcm[: len(self._pcm) - self._quiet * len(frame)]))
                self._pcm.clear()
        elif loud:
            self.talking, self._quiet = True, 0
            self._pcm = bytearray(frame)
            started = AgentTurn(start=t - FRAME_MS / 1000.0)
            self.turns.append(started)
        return started, ended

    def cut_off(self) -> tuple[AgentTurn, bytes] | None:
        """The turn in progress when the call ended mid-sentence, with what was heard of it."""
        if not self.talking:
            return None
        self.talking = False
        pcm, self._pcm = bytes(self._pcm), bytearray()
        return self.turns[-1], pcm


class QaCaller:
    def __init__(
        self,
        dialer: Dialer,
        stt: SttWorker | None,
        synth: PiperSynthesizer | None,
        emit: Callable[[dict[str, object]], None],
        turn_timeout_s: float = 20.0,
    ) -> None:
        self.dialer = dialer
        self.stt = stt
        self.synth = synth
        self.emit = emit
        self.turn_timeout_s = turn_timeout_s
        self.report = CallReport()
        self.tracker = AgentVoiceTracker()
        self._recording = bytearray()
        self._agent_turn_ended = asyncio.Event()
        self._t0 = 0.0
        self._pending: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def run(
        self, uri: str, script: list[ScriptItem], duration_s: float | None = None, at_s: float | None = None,
        quiet_s: float = 0.0,
    ) -> CallReport:
        """Dial, run the script, and hang up at the end of the agent's last reply (or when the
        agent has said nothing for ``quiet_s``, if longer: a reply that stalls mid-way on a loaded
        server is then heard whole), after ``duration_s`` at most, or when the agent hangs up."""
        prepared = [await self._prepare(item) for item in script]
        try:
            session = await self.dialer.dial(uri)
        except CallFailed as exc:
            self.report.status_code, self.report.end_reason = exc.status_code, exc.reason
            self.emit({"event": "call_failed", "status": exc.status_code, "reason": exc.reason})
            return self.report
        self._t0 = session.answered_monotonic or time.monotonic()
        self.report.answered, self.report.codec = True, session.stats.codec
        self.report.call_key = session.sip_call_id or session.peer_call_id
        answered: dict[str, object] = {"event": "answered", "codec": session.stats.codec}
        if session.peer_call_id:
            answered["console_call_id"] = session.peer_call_id  # its review page: /calls/<id>
        self.emit(answered)
        reader = asyncio.create_task(self._read(session))
        try:
            runner = self._run_script(session, prepared, at_s, quiet_s)
            limit = None if duration_s is None else duration_s
            try:
                await asyncio.wait_for(runner, timeout=limit)
                if duration_s is not None:
                    await asyncio.wait_for(session.ended.wait(), timeout=max(0.0, duration_s - self.now()))
            except TimeoutError:
                pass
            if not session.ended.is_set():
                self.report.hung_up_by = "caller"
                await session.hangup("caller done")
                await asyncio.wait_for(session.ended.wait(), 5)
            elif not self.report.hung_up_by:
                self.report.hung_up_by = "agent"
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            cut = self.tracker.cut_off()
            if cut is not None:  # the call ended mid-sentence: transcribe what we have
                self._finish_turn(*cut)
            await asyncio.gather(*self._pending, return_exceptions=True)
        self.report.duration_s = round(self.now(), 3)
        self.report.end_reason = session.end_reason
        self.report.agent_turns = self.tracker.turns
        return self.report

    @property
    def recording(self) -> bytes:
        return bytes(self._recording)

    def save_recording(self, path: str) -> None:
        write_wav(path, self.recording)

    # ---- script ----------------------------------------------------------------------------
    async def _prepare(self, item: ScriptItem) -> tuple[ScriptItem, bytes, str]:
        if item.kind == "play":
            pcm = load_pcm16k(item.value)
            text = ""
            if self.stt is not None:
                text = (await self.stt.transcribe(pcm, "qa-caller")).text
            return item, pcm, text
        if item.kind == "say":
            if self.synth is None:
                raise RuntimeError("--say needs the TTS voice")
            return item, await asyncio.to_thread(self.synth.synthesize, item.value), item.value
        return item, b"", item.value

    async def _run_script(
        self, session: CallSession, prepared: list[tuple[ScriptItem, bytes, str]], at_s: float | None, quiet_s: float
    ) -> None:
        if at_s is not None:
            await asyncio.sleep(max(0.0, at_s - self.now()))
        else:
            await self._wait_agent_turn(session)
        for i, (item, pcm, text) in enumerate(prepared):
            if session.ended.is_set():
                return
            if i > 0:
                await self._wait_agent_turn(session)
            await self._perform(session, item, pcm, text)
        await self._wait_agent_turn(session)
        await self._wait_quiet(session, quiet_s)

    async def _wait_agent_turn(self, session: CallSession) -> None:
        """Wait for the agent to say something and finish (or for the call to end)."""
        self._agent_turn_ended.clear()
        ended = asyncio.create_task(session.ended.wait())
        turn = asyncio.create_task(self._agent_turn_ended.wait())
        await asyncio.wait({ended, turn}, timeout=self.turn_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        turn.cancel()

    async def _wait_quiet(self, session: CallSession, quiet_s: float, poll_s: float = 0.05) -> None:
        """Wait until the agent has been silent for ``quiet_s`` (from its last audible frame)."""
        while quiet_s > 0 and not session.ended.is_set():
            last = self.tracker.last_audio_at
            if not self.tracker.talking and (last is None or self.now() - last >= quiet_s):
                return
            await asyncio.sleep(poll_s)

    async def _perform(self, session: CallSession, item: ScriptItem, pcm: bytes, text: str) -> None:
        report = CallerItemReport(kind=item.kind, start=self.now())
        self.report.caller_items.append(report)
        if item.kind == "dtmf":
            self.emit({"event": "caller_dtmf", "t": round(self.now(), 3), "digits": item.value})
            await session.send_dtmf(item.value)
            await asyncio.sleep(0.1 * len(item.value) + 0.2)
            report.speech_end = report.end = self.now()
            return
        _, speech_end_s = speech_bounds(pcm)
        cut = int(speech_end_s * 16000) * 2
        started = session.play(pcm[:cut])
        speech_done = session.mark("speech-end")
        session.play(pcm[cut:])
        done = session.mark("item-end")
        start = await started
        report.start = start.monotonic - self._t0
        self.emit({"event": "caller_said", "t": round(report.start, 3), "text": text})
        report.speech_end = (await speech_done).monotonic - self._t0
        report.end = (await done).monotonic - self._t0

    # ---- listening ---------------------------------------------------------------------------
    async def _read(self, session: CallSession) -> None:
        while True:
            frame = (await session.audio.get()).pcm
            t = self.now()
            self._recording += frame
            started, ended = self.tracker.feed(frame, t)
            if started is not None:
                for item in self.report.caller_items:
                    if item.first_agent_audio is None and item.speech_end and item.speech_end <= started.start + 0.02:
                        item.first_agent_audio = started.start
                self.emit({"event": "agent_speech_started", "t": round(started.start, 3)})
            if ended is not None:
                self._finish_turn(*ended)

    def _finish_turn(self, turn: AgentTurn, pcm: bytes) -> None:
        if not turn.end:
            turn.end = self.now()
        self._agent_turn_ended.set()
        task = asyncio.create_task(self._transcribe_turn(turn, pcm))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _transcribe_turn(self, turn: AgentTurn, pcm: bytes) -> None:
        if self.stt is not None and pcm:
            try:
                turn.text = (await self.stt.transcribe(pcm, "qa-caller")).text
            except Exception as exc:  # noqa: BLE001 - report, keep the call going
                turn.text = f"<transcription failed: {exc}>"
        self.emit({"event": "agent_said", "t": round(turn.start, 3), "end": round(turn.end, 3), "text": turn.text})


def console_emitter(as_json: bool) -> Callable[[dict[str, object]], None]:
    def emit(event: dict[str, object]) -> None:
        if as_json:
            print(json.dumps(event), flush=True)
            return
        kind = event["event"]
        t = event.get("t")
        stamp = f"[{t:7.2f}s] " if isinstance(t, float | int) else " " * 11
        if kind == "agent_said":
            print(f"{stamp}agent:  {event['text']}", flush=True)
        elif kind == "caller_said":
            print(f"{stamp}caller: {event['text']}", flush=True)
        elif kind == "caller_dtmf":
            print(f"{stamp}caller: <DTMF {event['digits']}>", flush=True)
        elif kind == "answered":
            review = f", review: /calls/{event['console_call_id']}" if event.get("console_call_id") else ""
            print(f"{stamp}answered ({event['codec']}{review})", flush=True)
        elif kind == "call_failed":
            print(f"call failed: {event['status']} {event['reason']}", file=sys.stderr, flush=True)

    return emit


def report_json(report: CallReport) -> str:
    return json.dumps({"event": "summary", **asdict(report)})
