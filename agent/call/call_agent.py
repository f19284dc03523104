"""The per-call turn loop: greet, listen, transcribe, reply, handle barge-in and silence.

Three small tasks per call:
- ``_listen`` feeds caller frames to the segmenter (VAD), fires barge-in, forwards
  utterances to the turn queue and 2-second segments to the emotion sink;
- ``_forward_events`` moves DTMF and hang-up events onto the same turn queue;
- ``run`` consumes that queue in order and drives replies, reprompts and the call limit.

Replies run as one cancellable task, so a caller who speaks again supersedes a reply that
is still being prepared. The responder decides whether it needs the transcript before it
answers (``needs_transcript``): scripted lines start playing the moment the caller stops."""

from __future__ import annotations

import structlog
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from agent.call.call_phase import CallPhaseConfig, CallPhaseTracker
from agent.call.turn_config import TurnConfig
from agent.call.escalation import EscalationConfig, Escalator
from agent.services.metrics import Metrics
from agent.call.responder import AgentReply, CallerTurn, Responder
from agent.call.speaker import Speaker, Spoken
from agent.call.webhooks import WebhookSender
from agent.services.stt import SttOverloaded, SttWorker
from emotion.events import EmotionUpdate, Trend
from emotion.timeline import Timeline
from graph.schema import TransferAction
from telephony.barge_in import BargeInDetector
from telephony.call_session import CallSession
from telephony.events import DtmfDigit, Hangup, Segment, SpeechStarted, Utterance
from telephony.segmenter import Segmenter
from tts.expression import Expression

URGENCY = "urgency flag"  # the reason on the transfer the urgency flag starts


class EmotionSink(Protocol):
    """Where the call's 2-second segments and transcripts go: the call's emotion client
    (emotion/client.py). Submitting never blocks; ``latest`` is the caller's current state."""

    latest: EmotionUpdate
    on_update: Callable[[EmotionUpdate], None] | None
    timeline: Timeline

    def submit(self, call_id: str, segment: Segment) -> None: ...

    def submit_transcript(self, text: str, at_s: float) -> bool: ...

    def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CallSettings:
    """The sections of the configuration one call reads (the composition root picks them)."""

    turn: TurnConfig
    call_phase: CallPhaseConfig
    escalation: EscalationConfig
    stt_wait_s: float  # how long pending transcripts may take after hang-up


@dataclass(frozen=True, slots=True)
class _UtteranceReady:
    utterance: Utterance
    detected_at: float  # monotonic time the closing silence was seen
    backchannel: bool = False  # spoken over the agent without barging in: "mm-hm", a cough


@dataclass(frozen=True, slots=True)
class _CallerSpeaking:
    event: SpeechStarted


@dataclass
class CallSummary:
    call_id: str
    turns: int = 0
    barge_ins: int = 0
    reprompts: int = 0
    end_reason: str = ""
    transcripts: list[str] = field(default_factory=list)
    emotion: EmotionUpdate | None = None  # the caller's state when the call ended
    emotion_timeline: Timeline | None = None  # scores per segment/utterance, states, bursts (no words)
    nodes: list[str] = field(default_factory=list)  # graph node after each reply
    actions: list[dict] = field(default_factory=list)  # transfers, call-backs, webhooks, urgency, end of call
    urgent: bool = False  # the urgency flag went up (agent/call/call_phase.py)
    handed_off: bool = False  # a person took the call over (bridged transfer)


class CallAgent:
    def __init__(
        self,
        session: CallSession,
        config: CallSettings,
        responder: Responder,
        stt: SttWorker,
        speaker: Speaker,
        segmenter: Segmenter,
        emotion: EmotionSink,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        webhooks: WebhookSender | None = None,
        escalator: Escalator | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.responder = responder
        self.stt = stt
        self.speaker = speaker
        self.segmenter = segmenter
        self.emotion = emotion
        emotion.on_update = self._on_emotion
        self._emotion_shown: tuple[Trend, bool] = (emotion.latest.trend, emotion.latest.available)
        self.metrics = metrics
        self.clock = clock
        self.log = structlog.get_logger(component="agent", call_id=session.call_id)
        self.summary = CallSummary(session.call_id)
        self._barge_in = BargeInDetector(config.turn.barge_in)
        self._inbox: asyncio.Queue[_UtteranceReady | _CallerSpeaking | DtmfDigit | Hangup] = asyncio.Queue()
        self._reply_task: asyncio.Task[None] | None = None
        self._overlapped = False  # the caller's current speech began while the agent was talking
        self._barged = False  # ... and it stopped the agent
        self._stt_tasks: set[asyncio.Task[str]] = set()  # survive hang-up: the record keeps the last words
        self._last_activity = clock()
        self._reprompts = 0
        self._dtmf = ""
        self._dtmf_at = 0.0
        self.webhooks = webhooks
        self._deliveries: set[asyncio.Task[None]] = set()  # webhooks in flight: finished (bounded) at hang-up
        self.escalator = escalator
        self._phase = CallPhaseTracker(config.call_phase, clock())
        self._escalate = False  # the urgency flag is up and the hand-off waits for a quiet moment
        self._handed_off = False  # bridged to a person: the agent has dropped out of the conversation
        self._transferring = False  # a transfer is under way: the caller's words no longer start replies

    # ---- lifecycle -------------------------------------------------------------------------
    async def run(self) -> CallSummary:
        turn = self.config.turn
        self.log.info("call_started", caller=self.session.remote_uri, codec=self.session.stats.codec)
        self.metrics.inc("calls")
        self.emotion.start()
        self._phase = CallPhaseTracker(self.config.call_phase, self.clock())
        deadline = self.clock() + turn.max_call_s
        helpers = [
            asyncio.create_task(self._listen(), name=f"listen-{self.session.call_id}"),
            asyncio.create_task(self._forward_events(), name=f"events-{self.session.call_id}"),
        ]
        try:
            self._start_reply(self.responder.greeting(), label="greeting")
            while not self.session.ended.is_set():
                try:
                    item = await asyncio.wait_for(self._inbox.get(), timeout=self._next_timer(deadline))
                except TimeoutError:
                    item = None
                if isinstance(item, Hangup):
                    break
                if item is not None:
                    await self._handle(item)
                # Timers are checked after every input too: a chatty line must not starve them.
                if await self._on_timer(deadline):
                    break
        finally:
            for task in [*helpers, self._reply_task]:
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if self._reply_task is not None:
                await asyncio.gather(self._reply_task, return_exceptions=True)
            if not self.session.ended.is_set():
                await self.session.hangup("agent")
            await self._finish_listening()
            if self._deliveries:  # each has its own timeout; this bounds a stuck one
                await asyncio.wait(set(self._deliveries), timeout=35)
            await self.emotion.close()
            self.summary.emotion = self.emotion.latest
            self.summary.emotion_timeline = timeline = self.emotion.timeline
            self.log.info(
                "call_emotion",
                segments=len(timeline.segments),
                utterances=len(timeline.utterances),
                bursts=[s.burst for s in timeline.bursts],
                breaker_transitions=len(timeline.breaker),
                **{k: v for k, v in self.emotion.latest.as_dict().items() if k in ("valence", "arousal", "trend", "available")},
            )
            self.summary.end_reason = self.session.end_reason or self.summary.end_reason
            self.log.info(
                "call_ended",
                reason=self.summary.end_reason,
                turns=self.summary.turns,
                barge_ins=self.summary.barge_ins,
                reprompts=self.summary.reprompts,
                urgent=self.summary.urgent,
                handed_off=self.summary.handed_off,
                frames_received=self.session.stats.frames_received,
                frames_dropped=self.session.stats.frames_dropped,
            )
        return self.summary

    # ---- inputs ----------------------------------------------------------------------------
    async def _listen(self) -> None:
        barge = self.config.turn.barge_in
        while True:
            frame = await self.session.audio.get()
            if self._handed_off:
                continue  # a person has the call: the agent no longer listens, transcribes or scores
            events = self.segmenter.feed(frame)
            if barge.enabled and not self._transferring and self.speaker.speaking and self.session.is_playing:
                if self._barge_in.update(self.segmenter.last_probability):
                    self._barged = True
                    dropped = self.speaker.interrupt()
                    self.summary.barge_ins += 1
                    self.metrics.inc("barge_ins")
                    self.log.info("barge_in", dropped_ms=dropped, speech_ms=self.segmenter.speech_ms)
            else:
                self._barge_in.reset()
            for event in events:
                if isinstance(event, Segment):
                    self.emotion.submit(self.session.call_id, event)
                elif isinstance(event, Utterance):
                    backchannel = self._overlapped and not self._barged
                    self._inbox.put_nowait(_UtteranceReady(event, self.clock(), backchannel))
                elif isinstance(event, SpeechStarted):
                    self._overlapped, self._barged = self.speaker.speaking, False
                    self._inbox.put_nowait(_CallerSpeaking(event))

    async def _forward_events(self) -> None:
        while True:
            self._inbox.put_nowait(await self.session.events.get())

    async def _handle(self, item: _UtteranceReady | _CallerSpeaking | DtmfDigit) -> None:
        if self._handed_off:
            return
        self._last_activity = self.clock()
        self._reprompts = 0
        if isinstance(item, _CallerSpeaking):
            return
        if isinstance(item, DtmfDigit):
            if self._transferring:
                return  # keys pressed while being put through start nothing
            self.log.info("dtmf", digits=item.digit)
            self._dtmf += item.digit
            self._dtmf_at = self.clock()
            return
        if self._transferring:
            # Putting the caller through (announcement, hold message, ringing) is not cancelled by
            # what they say meanwhile ("hello?"); it is kept for the record.
            self._start_transcription(item.utterance)
            return
        if item.backchannel:
            # Too short to barge in, so not a turn: the agent keeps talking. Kept for the record.
            self.metrics.inc("backchannels")
            self.log.info("backchannel", speech_s=round(item.utterance.duration_s, 2))
            self._start_transcription(item.utterance)
            return
        self.summary.turns += 1
        self._supersede_reply()
        self._reply_task = asyncio.create_task(self._guarded(self._answer_utterance(item, self.summary.turns)))

    def _on_emotion(self, update: EmotionUpdate) -> None:
        """The caller's emotional state changed. Replies read ``self.emotion.latest``; the log
        shows trend and availability changes at INFO (scores only, never words)."""
        self.metrics.inc("emotion_updates")
        if self._phase.observe(update, self.clock()):
            self._raise_urgency(update)
        shown = (update.trend, update.available)
        if shown != self._emotion_shown:
            self._emotion_shown = shown
            self.log.info(
                "emotion_state", trend=str(update.trend), available=update.available,
                valence=round(update.valence, 2), arousal=round(update.arousal, 2), coherence=round(update.coherence, 2),
            )

    def _raise_urgency(self, update: EmotionUpdate) -> None:
        """Sustained negative valence: flag the call (record, metric, log) and, when a person can
        be reached, put the caller through at the next quiet moment (not over their words)."""
        negative_s = round(self._phase.negative_s(self.clock()), 1)
        self.summary.urgent = True
        self.summary.actions.append({"type": "urgency", "negative_s": negative_s, "valence": round(update.valence, 2)})
        self.metrics.inc("urgency_flags")
        escalation = self.config.escalation
        reachable = self.escalator is not None and self.escalator.can_reach(escalation.urgent_to)
        self._escalate = escalation.on_urgency and reachable
        self.log.warning("urgency_flag", negative_s=negative_s, valence=round(update.valence, 2), escalate=self._escalate)

    def _escalation_reply(self) -> AgentReply:
        escalation = self.config.escalation
        action = TransferAction(type="transfer", to=escalation.urgent_to, reason=URGENCY)
        return AgentReply(
            escalation.urgent_line, end_call=True, expression=Expression.CONCERNED, actions=(action,),
            records=({"type": "transfer", "to": escalation.urgent_to, "reason": URGENCY},), node="urgency",
        )

    # ---- timers ----------------------------------------------------------------------------
    def _next_timer(self, deadline: float) -> float:
        now = self.clock()
        waits = [deadline - now, 0.5]
        if self._dtmf:
            waits.append(self._dtmf_at + self.config.turn.dtmf_timeout_s - now)
        return max(0.01, min(waits))

    async def _on_timer(self, deadline: float) -> bool:
        """Returns True when the call should end now."""
        turn = self.config.turn
        now = self.clock()
        if self._handed_off:
            return False  # the person on the line decides when the call ends
        if now >= deadline:
            self.log.info("max_call_length")
            await self._goodbye(turn.max_call_goodbye, "max call length")
            return True
        if self._dtmf and now - self._dtmf_at >= turn.dtmf_timeout_s:
            digits, self._dtmf = self._dtmf, ""
            self.summary.turns += 1
            self._supersede_reply()
            self._reply_task = asyncio.create_task(self._guarded(self._answer_dtmf(digits, self.summary.turns)))
            return False
        busy = (
            self.speaker.speaking
            or self.segmenter.in_speech
            or (self._reply_task is not None and not self._reply_task.done())
        )
        if self._escalate and not self._transferring and not self.speaker.speaking and not self.segmenter.in_speech:
            self._escalate = False  # a reply being prepared is superseded: the person comes first
            self._start_reply(self._escalation_reply(), label="urgency")
            return False
        if busy:
            self._last_activity = now
            return False
        if now - self._last_activity < turn.reprompt_after_s:
            return False
        if self._reprompts >= turn.max_reprompts:
            self.log.info("silence_goodbye", reprompts=self._reprompts)
            await self._goodbye(turn.goodbye, "caller silent")
            return True
        self._reprompts += 1
        self.summary.reprompts += 1
        self.metrics.inc("reprompts")
        self._start_reply(AgentReply(turn.reprompt), label=f"reprompt-{self._reprompts}")
        self._last_activity = now
        return False

    # ---- replies ---------------------------------------------------------------------------
    def _supersede_reply(self) -> None:
        if self._reply_task is not None and not self._reply_task.done():
            self._reply_task.cancel()
            self.speaker.interrupt()

    async def _guarded(self, answer: Awaitable[None]) -> None:
        """A bug in answering one turn must not leave the caller in silence: it is logged and
        counted, and the caller hears the apology line (then the turn loop carries on)."""
        try:
            await answer
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            self.metrics.inc("reply_errors")
            self.log.exception("reply_failed")
            if not self.session.ended.is_set():
                await self.speaker.say(AgentReply(self.config.turn.not_understood), label="reply-failed")

    def _start_reply(self, reply: AgentReply, label: str) -> None:
        self._supersede_reply()
        self._reply_task = asyncio.create_task(self._speak(reply, label))

    async def _speak(
        self, reply: AgentReply, label: str, on_first_audio: Callable[[float | None], None] | None = None
    ) -> Spoken:
        self._record_actions(reply)
        transfer = next((a for a in reply.actions if a.type == "transfer"), None)
        self._transferring = transfer is not None and reply.end_call
        spoken = await self.speaker.say(reply, label, on_first_audio)
        self._last_activity = self.clock()
        # A goodbye the caller talks over is not the end (they have more to say); a transfer
        # (a person, an emergency) goes ahead even if they talk over its announcement.
        if reply.end_call and (not spoken.interrupted or transfer is not None):
            urgent = transfer is not None and transfer.reason == URGENCY
            reason = await self._transfer(transfer.to, urgent) if transfer is not None else "responder ended call"
            self.summary.end_reason = reason
            await self.session.hangup(reason)
        return spoken

    async def _transfer(self, to: str, urgent: bool) -> str:
        """Put the caller through to the target named ``to`` (agent/call/escalation.py); returns the
        call's end reason. A transfer that does not connect leaves a call-back request."""
        if self.escalator is None:
            self.log.warning("transfer_not_configured", to=to)
            return f"transfer requested: {to}"
        handoff = await self.escalator.hand_off(self.session, self.speaker, to, urgent, on_bridged=self._drop_out)
        if handoff.callback is not None:
            self.summary.actions.append(handoff.callback)
            self.metrics.inc("action_callback")
            self.log.info("agent_action", action="callback", node="transfer", team=to, priority=handoff.callback["priority"])
        return handoff.reason

    def _drop_out(self) -> None:
        """The caller is bridged to a person: stop listening, replying and timing the call."""
        self._handed_off = self.summary.handed_off = True
        self._escalate = False

    def _record_actions(self, reply: AgentReply) -> None:
        """Actions go into the call record as they are decided (a hang-up must not lose a
        call-back request), webhooks are sent in the background. The log gets the action's
        kind and target, never slot values; those stay in the record."""
        if reply.node:
            self.summary.nodes.append(reply.node)
        for record in reply.records:
            record = dict(record)
            self.summary.actions.append(record)
            self.metrics.inc(f"action_{record['type']}")
            self.log.info("agent_action", action=str(record["type"]), node=reply.node, hook=record.get("event"),
                          **{k: v for k, v in record.items() if k in ("to", "team", "priority")})
            if record["type"] == "webhook" and record.get("url") and self.webhooks is not None:
                task = asyncio.create_task(self._deliver(record))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, record: dict) -> None:
        payload = {"event": record["event"], "call_id": self.session.call_id, "node": record.get("node"),
                   "slots": record.get("slots", {})}
        record["delivery"] = await self.webhooks.send(record["url"], payload, record["timeout_s"], self.session.call_id)

    async def _goodbye(self, text: str, reason: str) -> None:
        self._supersede_reply()
        self.summary.end_reason = reason
        await self.speaker.say(AgentReply(text), label="goodbye")
        await self.session.hangup(reason)

    async def _answer_dtmf(self, digits: str, index: int) -> None:
        reply = await self.responder.respond(
            CallerTurn(self.session.call_id, index, None, dtmf=digits, emotion=self.emotion.latest,
                       phase=self._phase.current(self.clock()))
        )
        await self._speak(reply, label=f"turn-{index}")

    async def _answer_utterance(self, ready: _UtteranceReady, index: int) -> None:
        utterance = ready.utterance
        # The closing silence was detected `silence` after speech really ended.
        end_of_speech = ready.detected_at - (utterance.detected_time - utterance.end_time)
        stt_task = self._start_transcription(utterance)
        transcript: str | None = None
        transcript_at: float | None = None
        if self.responder.needs_transcript:
            transcript = await asyncio.shield(stt_task)
            transcript_at = self.clock()
        reply = await self.responder.respond(
            CallerTurn(self.session.call_id, index, transcript, speech_s=utterance.duration_s, emotion=self.emotion.latest,
                       phase=self._phase.current(self.clock()))
        )
        reply_at = self.clock()
        stages = {"vad_ms": ready.detected_at, "reply_ready_ms": reply_at}
        if transcript_at is not None:
            stages["transcript_ms"] = transcript_at

        def first_audio(at: float | None) -> None:
            stages["first_audio_ms"] = at if at is not None else float("nan")
            self._log_turn(index, utterance, end_of_speech, stages)

        spoken_task = asyncio.create_task(self._speak(reply, f"turn-{index}", first_audio))
        if transcript is None:
            # Scripted replies did not wait; keep the transcript for the record and the log.
            transcript = await asyncio.shield(stt_task)
            transcript_ms = round((self.clock() - end_of_speech) * 1000)
            self.metrics.observe_ms("transcript_ms", transcript_ms)
            self.log.info("turn_transcript", turn=index, transcript_ms=transcript_ms)
        await spoken_task

    def _log_turn(self, index: int, utterance: Utterance, end_of_speech: float, stages: dict[str, float]) -> None:
        timings = {
            stage: (round((at - end_of_speech) * 1000) if at == at else None)  # NaN: reply never played
            for stage, at in stages.items()
        }
        for stage, ms in timings.items():
            if ms is not None:
                self.metrics.observe_ms(stage, ms)
        self.log.info(
            "turn",
            turn=index,
            speech_s=round(utterance.duration_s, 2),
            waited_for_transcript=self.responder.needs_transcript,
            **timings,
        )

    def _start_transcription(self, utterance: Utterance) -> asyncio.Task[str]:
        task = asyncio.create_task(self._transcribe(utterance))
        self._stt_tasks.add(task)
        task.add_done_callback(self._stt_tasks.discard)
        return task

    async def _finish_listening(self) -> None:
        """After hang-up: close the caller's last utterance and let pending transcripts finish
        (bounded), so words spoken just before hanging up still reach the record."""
        while not self.session.audio.empty():
            for event in self.segmenter.feed(self.session.audio.get_nowait()):
                if isinstance(event, Utterance):
                    self._start_transcription(event)
        for event in self.segmenter.flush():
            if isinstance(event, Utterance):
                self._start_transcription(event)
            elif isinstance(event, Segment):
                self.emotion.submit(self.session.call_id, event)
        if self._stt_tasks:
            await asyncio.wait(set(self._stt_tasks), timeout=self.config.stt_wait_s)

    async def _transcribe(self, utterance: Utterance) -> str:
        try:
            result = await self.stt.transcribe(utterance.pcm, self.session.call_id)
        except SttOverloaded:
            self.metrics.inc("stt_overloaded")
            self.log.warning("stt_overloaded")
            return ""
        except Exception:  # noqa: BLE001 - a failed transcript must not end the call
            self.metrics.inc("stt_errors")
            self.log.exception("stt_failed")
            return ""
        self.metrics.observe_ms("stt_inference_ms", result.elapsed_s * 1000)
        self.summary.transcripts.append(result.text)
        self.log.info("caller_said", transcript=result.text, stt_ms=round(result.elapsed_s * 1000))
        if result.text:
            self.emotion.submit_transcript(result.text, utterance.end_time)
        return result.text


__all__ = ["CallAgent", "CallSettings", "CallSummary", "EmotionSink"]
