"""The per-call turn loop: greet, listen, transcribe, reply, handle barge-in and silence.

Everything that happens to a call arrives as a frame in one inbox (agent/call/frames.py): the
session's audio, keys and hang-up and the emotion client's updates (three queues, each pumped
in by a small task; nothing is set on a collaborator as a callback), and the runtime's own frames
(a finished transcript or reply, a tick when nothing came). ``run`` takes them in order and
``_on_frame`` is one ``match`` over them, with the conversation in an explicit
:class:`CallState`. What is not the loop lives beside it: the listener (audio -> turn frames),
the timers (reprompt, keypad pause, call limit), the turn trace (stage timings), the call
record (what staff act on).

Replies run as one cancellable task, so a caller who speaks again supersedes a reply that is
still being prepared. The responder decides whether it needs the transcript before it answers
(``needs_transcript``): scripted lines start playing the moment the caller stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import NoOpTracer, Tracer

from agent.call.call_phase import CallPhaseConfig, CallPhaseTracker
from agent.call.escalation import EscalationConfig, Escalator
from agent.call.frames import (
    BargeIn,
    CallerSpeaking,
    CallState,
    EarlyTranscript,
    EmotionChanged,
    Frame,
    PartialTranscript,
    ReplyDone,
    Tick,
    Transcript,
    TurnEnded,
    TurnJudged,
)
from agent.call.listener import Listener
from agent.call.record import (
    CallRecord,
    RecordedAction,
    Transfer,
    Urgency,
    Webhook,
    journal_entry,
)
from agent.call.responder import AgentReply, CallerTurn, Responder
from agent.call.speaker import Speaker, Spoken
from agent.call.transcription import StreamingTranscription, Stt
from agent.call.turn_config import TurnConfig
from agent.call.turn_end import TurnEndJudge, TurnEndModel
from agent.call.turn_timers import TimerDue, TurnTimers
from agent.call.turn_trace import TurnInput, TurnTrace
from agent.call.turns_in_flight import TurnsInFlight
from agent.call.webhooks import WebhookSender
from agent.services.metrics import Metrics
from agent.services.records.entries import (
    CallClosed,
    Journal,
    NullJournal,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TranscriptLogged,
    TurnTimed,
    UtteranceScored,
)
from agent.services.records.rows import utc_now
from emotion.events import EmotionUpdate, Trend
from emotion.timeline import Timeline
from graph.schema import TransferAction
from telephony.call_session import CallSession
from telephony.frames import (
    AudioIn,
    DtmfDigit,
    Hangup,
    Segment,
    SpeechPaused,
    SpeechSoFar,
    Utterance,
)
from telephony.segmenter import Segmenter
from tts.expression import Expression

URGENCY = "urgency flag"  # the reason on the transfer the urgency flag starts
WEBHOOK_GRACE_S = 35  # at hang-up, webhooks in flight get this long (each has its own timeout)


class EmotionSink(Protocol):
    """Where the call's 2-second segments and transcripts go: the call's emotion client
    (emotion/client.py). Submitting never blocks; ``latest`` is the caller's current state and
    ``updates`` every change of it, in order (the turn loop pumps them into its inbox)."""

    latest: EmotionUpdate
    updates: asyncio.Queue[EmotionUpdate]
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
    partial_max_s: float = 10.0  # longer speech gets no partial transcripts (STT's one-window decode)


# The states in which the caller's words start a reply, and in which the agent still listens.
_CONVERSING = frozenset({CallState.LISTENING, CallState.REPLYING})


class CallAgent:
    def __init__(
        self,
        session: CallSession,
        config: CallSettings,
        responder: Responder,
        stt: Stt,
        speaker: Speaker,
        segmenter: Segmenter,
        emotion: EmotionSink,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        webhooks: WebhookSender | None = None,
        escalator: Escalator | None = None,
        journal: Journal | None = None,
        turns_in_flight: TurnsInFlight | None = None,
        turn_model: TurnEndModel | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.responder = responder
        self.stt = stt
        self.speaker = speaker
        self.emotion = emotion
        self.metrics = metrics
        self.tracer: Tracer = tracer if tracer is not None else NoOpTracer()  # telemetry.traces off: nothing recorded
        self._trace_parent: Context | None = None  # the call's span (made by the server around run())
        self.clock = clock
        self.webhooks = webhooks
        self.escalator = escalator
        self.log = structlog.get_logger(component="agent", call_id=session.call_id)
        self.record = CallRecord(session.call_id)
        # The records store's side of the record: each fact as it happens, never blocking (writer.py).
        self.journal: Journal = journal if journal is not None else NullJournal()
        # Shared by the server's calls: background synthesis waits while any caller awaits a reply.
        self.turns_in_flight = turns_in_flight if turns_in_flight is not None else TurnsInFlight()
        self.inbox: asyncio.Queue[Frame] = asyncio.Queue()
        self.listener = Listener(
            segmenter, config.turn.barge_in, lambda: speaker.speaking, lambda: session.is_playing, clock,
        )
        self.state = CallState.LISTENING
        started = clock()  # the agent is built when the call is answered, just before run()
        self._answered = started
        self.timers = TurnTimers.start(config.turn, started)
        self._phase = CallPhaseTracker(config.call_phase, started)
        self._emotion_shown: tuple[Trend, bool] = (emotion.latest.trend, emotion.latest.available)
        self._urgency_pending = False  # the urgency flag is up; the hand-off waits for a quiet moment
        self._turn = 0  # the last caller turn's number
        self._reply_task: asyncio.Task[None] | None = None
        self._reply_seq = 0  # the current reply's number: a superseded reply's ReplyDone is stale
        self.transcription = StreamingTranscription(
            stt, session.call_id, self.inbox.put_nowait, metrics, self.log, config.partial_max_s,
        )
        # Without a model, the end-of-speech silence alone ends a turn.
        self.turn_end = (
            TurnEndJudge(turn_model, config.turn.end_model_threshold, self.inbox.put_nowait, metrics, self.log)
            if turn_model is not None else None
        )
        self._deliveries: set[asyncio.Task[None]] = set()  # webhooks in flight: finished (bounded) at hang-up
        self._replies = 0  # replies journaled
        self._transcripts = 0  # transcripts journaled
        self._journaled = (0, 0, 0)  # timeline segments, utterances and states journaled

    # ---- lifecycle -------------------------------------------------------------------------
    async def run(self) -> CallRecord:
        # The SIP Call-ID (random, no PHI) ties the call to SIP traces and to the caller's side in benchmarks.
        self.log.info("call_started", caller=self.session.remote_uri, codec=self.session.stats.codec,
                      sip_call_id=self.session.sip_call_id or None)
        self.metrics.inc("calls")
        self._trace_parent = otel_context.get_current()  # turn spans are children of the call's
        self.emotion.start()
        call_id = self.session.call_id
        pumps = [  # the three sources of a call's frames, into its one inbox
            asyncio.create_task(self._pump(self.session.audio), name=f"audio-{call_id}"),
            asyncio.create_task(self._pump(self.session.events), name=f"events-{call_id}"),
            asyncio.create_task(self._pump(self.emotion.updates, EmotionChanged), name=f"emotion-{call_id}"),
        ]
        try:
            self._start_reply(self.responder.greeting(), label="greeting")
            while not self.session.ended.is_set():
                try:
                    frame: Frame = await asyncio.wait_for(self.inbox.get(), timeout=self.timers.next_wait(self.clock()))
                except TimeoutError:
                    frame = Tick(self.clock())
                if isinstance(frame, Hangup):
                    break
                await self._on_frame(frame)
                # Timers run after every frame, not only on ticks: a chatty line must not starve them.
                if await self._on_tick(frame.now if isinstance(frame, Tick) else self.clock()):
                    break
        finally:
            for task in [*pumps, self._reply_task]:
                if task is not None and not task.done():
                    task.cancel()
            self.speaker.stop_preparing()  # and what it prepared goes with the call
            if self.turn_end is not None:
                self.turn_end.close()
            await asyncio.gather(*pumps, return_exceptions=True)
            if self._reply_task is not None:
                await asyncio.gather(self._reply_task, return_exceptions=True)
            if not self.session.ended.is_set():
                await self.session.hangup("agent")
            await self._finish_listening()
            if self._deliveries:  # each has its own timeout; this bounds a stuck one
                await asyncio.wait(set(self._deliveries), timeout=WEBHOOK_GRACE_S)
            await self.emotion.close()
            self._close_record()
        return self.record

    async def _pump(self, source: asyncio.Queue[Any], as_frame: Callable[[Any], Frame] | None = None) -> None:
        while True:
            item = await source.get()
            self.inbox.put_nowait(as_frame(item) if as_frame is not None else item)

    def _enter(self, state: CallState) -> None:
        if state is not self.state:
            self.log.debug("call_state", state=str(state), was=str(self.state))
            self.state = state

    def _close_record(self) -> None:
        record = self.record
        record.emotion = self.emotion.latest
        record.emotion_timeline = timeline = self.emotion.timeline
        record.handed_off = self.state is CallState.HANDED_OFF
        self.log.info(
            "call_emotion",
            segments=len(timeline.segments),
            utterances=len(timeline.utterances),
            bursts=[s.burst for s in timeline.bursts],
            breaker_transitions=len(timeline.breaker),
            **{k: v for k, v in self.emotion.latest.as_dict().items() if k in ("valence", "arousal", "trend", "available")},
        )
        record.end_reason = self.session.end_reason or record.end_reason
        self._journal_timeline()
        latest = self.emotion.latest
        self.journal.write(CallClosed(
            record.call_id, utc_now(), record.end_reason, record.turns, record.barge_ins, record.reprompts, record.urgent,
            record.handed_off, latest.valence if latest.available else None, latest.arousal if latest.available else None,
            str(latest.trend) if latest.available else None,
        ))
        self.log.info(
            "call_ended",
            reason=record.end_reason,
            turns=record.turns,
            barge_ins=record.barge_ins,
            reprompts=record.reprompts,
            urgent=record.urgent,
            handed_off=record.handed_off,
            frames_received=self.session.stats.frames_received,
            frames_dropped=self.session.stats.frames_dropped,
        )

    # ---- the loop --------------------------------------------------------------------------
    async def _on_frame(self, frame: Frame) -> None:
        match frame:
            case AudioIn():
                if self.state is CallState.HANDED_OFF:
                    return  # a person has the call: the agent no longer listens, transcribes or scores
                for heard in self.listener.hear(frame, may_barge_in=self.state is not CallState.TRANSFERRING):
                    await self._on_frame(heard)
            case Segment():
                self.emotion.submit(self.session.call_id, frame)
            case SpeechSoFar() if self.state in _CONVERSING:
                self.transcription.speech_so_far(frame)
            case SpeechPaused() if self.state in _CONVERSING:
                self.transcription.paused(frame)
                if self.turn_end is not None:
                    self.turn_end.paused(frame)
            case TurnJudged():
                if frame.complete and self.state is not CallState.HANDED_OFF:
                    for heard in self.listener.end_paused_turn(frame.paused, self.config.turn.end_model_silence_ms):
                        await self._on_frame(heard)
            case EarlyTranscript():
                self._speculate(frame)
            case PartialTranscript():
                self.log.debug("caller_saying", words=len(frame.text.split()), stable_words=len(frame.stable.split()))
            case BargeIn():
                dropped = self.speaker.interrupt()
                self.record.barge_ins += 1
                self.metrics.inc("barge_ins")
                self.log.info("barge_in", dropped_ms=dropped, speech_ms=frame.speech_ms)
            case CallerSpeaking():
                self._caller_active()
            case TurnEnded():
                self._on_turn_ended(frame)
            case DtmfDigit():
                self._on_digit(frame)
            case Transcript():
                self._on_transcript(frame)
            case EmotionChanged():
                self._on_emotion(frame.update)
            case ReplyDone():
                if frame.reply == self._reply_seq and self.state is CallState.REPLYING:
                    self._enter(CallState.LISTENING)
            case Tick():
                pass  # the loop runs the timers after every frame

    def _caller_active(self) -> None:
        if self.state is not CallState.HANDED_OFF:
            self.timers.caller_active(self.clock())

    def _on_turn_ended(self, turn: TurnEnded) -> None:
        if self.state is CallState.HANDED_OFF:
            return
        self._caller_active()
        if self.state is CallState.TRANSFERRING or self.state is CallState.ENDING:
            # Putting the caller through (announcement, hold message, ringing) is not cancelled by
            # what they say meanwhile ("hello?"); it is kept for the record.
            self._start_transcription(turn.utterance)
            return
        if turn.backchannel:
            # Too short to barge in, so not a turn: the agent keeps talking. Kept for the record.
            self.metrics.inc("backchannels")
            self.log.info("backchannel", speech_s=round(turn.utterance.duration_s, 2))
            self._start_transcription(turn.utterance)
            return
        index = self._next_turn()
        self._run_reply(self._guarded(self._answer_utterance(turn, index)))

    def _speculate(self, early: EarlyTranscript) -> None:
        """Work out the reply to the words before the pause while the silence runs (the responder
        keeps it for when the turn ends the same) and start synthesizing its first sentence if that
        is not ready. Not over the agent's own speech: words there are mostly a backchannel."""
        if not early.text or not self.responder.needs_transcript or self.state not in _CONVERSING or self.speaker.speaking:
            return
        now = self.clock()
        reply = self.responder.speculate(CallerTurn(
            self.session.call_id, self._turn + 1, early.text, speech_s=early.speech_end - early.utterance_start,
            emotion=self.emotion.latest, phase=self._phase.current(now),
        ))
        if reply is not None:
            self.metrics.inc("speculations")
            self.speaker.prepare_head(reply)

    def _on_digit(self, digit: DtmfDigit) -> None:
        if self.state is CallState.HANDED_OFF:
            return
        self._caller_active()
        if self.state not in _CONVERSING:
            return  # keys pressed while being put through start nothing
        self.log.info("dtmf", digits=digit.digit)
        keys = self.timers.digits + digit.digit
        complete = digit.digit == "#" or self.responder.keys_complete(keys)
        self.timers.add_digit(digit.digit, self.clock(), complete)

    def _on_transcript(self, transcript: Transcript) -> None:
        self.record.transcripts.append(transcript.text)
        if transcript.text and self.journal.keeps_transcripts:
            self.journal.write(TranscriptLogged(self.session.call_id, self._transcripts, transcript.utterance_end, transcript.text))
            self._transcripts += 1
        if transcript.text:
            self.emotion.submit_transcript(transcript.text, transcript.utterance_end)

    def _on_emotion(self, update: EmotionUpdate) -> None:
        """The caller's emotional state changed. Replies read ``self.emotion.latest``; the log
        shows trend and availability changes at INFO (scores only, never words)."""
        self.metrics.inc("emotion_updates")
        self._journal_timeline()
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
        self._add_action(Urgency(negative_s, round(update.valence, 2)), "urgency")
        self.metrics.inc("urgency_flags")
        escalation = self.config.escalation
        reachable = self.escalator is not None and self.escalator.can_reach(escalation.urgent_to)
        self._urgency_pending = escalation.on_urgency and reachable
        self.log.warning("urgency_flag", negative_s=negative_s, valence=round(update.valence, 2),
                         escalate=self._urgency_pending)

    def _escalation_reply(self) -> AgentReply:
        escalation = self.config.escalation
        action = TransferAction(type="transfer", to=escalation.urgent_to, reason=URGENCY)
        return AgentReply(
            escalation.urgent_line, end_call=True, expression=Expression.CONCERNED, actions=(action,),
            records=(Transfer(escalation.urgent_to, URGENCY, "urgency"),), node="urgency",
        )

    # ---- timers ----------------------------------------------------------------------------
    async def _on_tick(self, now: float) -> bool:
        """Acts on what the timers say is due; True when the call should end now."""
        if self.state is CallState.HANDED_OFF or self.state is CallState.ENDING:
            return False  # the person on the line (or the goodbye under way) decides when it ends
        # Silence is not counted while anyone speaks or a reply or transfer is under way.
        busy = self.speaker.speaking or self.listener.in_speech or self.state in (CallState.REPLYING, CallState.TRANSFERRING)
        due = self.timers.due(now, busy)
        turn = self.config.turn
        if due is TimerDue.MAX_CALL:
            self.log.info("max_call_length")
            await self._goodbye(turn.max_call_goodbye, "max call length")
            return True
        if due is TimerDue.DIGITS:
            index, last_key_at = self._next_turn(), self.timers.digit_at
            self._run_reply(self._guarded(self._answer_dtmf(self.timers.take_digits(), index, last_key_at)))
            return False
        if (
            self._urgency_pending and self.state is not CallState.TRANSFERRING
            and not self.speaker.speaking and not self.listener.in_speech
        ):
            self._urgency_pending = False  # a reply being prepared is superseded: the person comes first
            self._start_reply(self._escalation_reply(), label="urgency")
            return False
        if due is TimerDue.SILENCE_GOODBYE:
            self.log.info("silence_goodbye", reprompts=self.timers.reprompts)
            await self._goodbye(turn.goodbye, "caller silent")
            return True
        if due is TimerDue.REPROMPT:
            number = self.timers.reprompted(now)
            self.record.reprompts += 1
            self.metrics.inc("reprompts")
            self._start_reply(AgentReply(turn.reprompt), label=f"reprompt-{number}")
        return False

    # ---- replies ---------------------------------------------------------------------------
    def _next_turn(self) -> int:
        self._turn += 1
        self.record.turns = self._turn
        return self._turn

    def _supersede_reply(self) -> None:
        if self._reply_task is not None and not self._reply_task.done():
            self._reply_task.cancel()
            self.speaker.interrupt()

    def _run_reply(self, reply: Coroutine[Any, Any, None]) -> None:
        """The one reply in flight: a newer one cancels it. Its end comes back as a frame."""
        self._supersede_reply()
        self._reply_seq += 1
        seq = self._reply_seq
        if self.state in _CONVERSING:
            self._enter(CallState.REPLYING)
        self._reply_task = asyncio.create_task(reply)
        self._reply_task.add_done_callback(lambda _: self.inbox.put_nowait(ReplyDone(seq)))

    def _start_reply(self, reply: AgentReply, label: str) -> None:
        self._run_reply(self._speak(reply, label))

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
                apology = AgentReply(self.config.turn.not_understood)
                self._log_reply(apology, "reply-failed")
                await self.speaker.say(apology, label="reply-failed")

    async def _speak(
        self, reply: AgentReply, label: str, on_first_audio: Callable[[float | None], None] | None = None
    ) -> Spoken:
        self._record_actions(reply)
        self._log_reply(reply, label)
        transfer = next((a for a in reply.actions if a.type == "transfer"), None)
        if transfer is not None and reply.end_call:
            self._enter(CallState.TRANSFERRING)
        spoken = await self.speaker.say(reply, label, on_first_audio)
        self.timers.agent_active(self.clock())
        # A goodbye the caller talks over is not the end (they have more to say); a transfer
        # (a person, an emergency) goes ahead even if they talk over its announcement.
        if reply.end_call and (not spoken.interrupted or transfer is not None):
            if transfer is not None:
                reason = await self._transfer(transfer.to, urgent=transfer.reason == URGENCY)
            else:
                reason = "responder ended call"
            if self.state is not CallState.HANDED_OFF:
                self._enter(CallState.ENDING)
            self.record.end_reason = reason
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
            self._add_action(handoff.callback, handoff.callback.node)
        return handoff.reason

    def _drop_out(self) -> None:
        """The caller is bridged to a person: stop listening, replying and timing the call."""
        self._enter(CallState.HANDED_OFF)
        self._urgency_pending = False

    def _record_actions(self, reply: AgentReply) -> None:
        """Actions go into the call record and the records store as they are decided, before
        the line announcing them is spoken (a hang-up or a crash must not lose a call-back
        request). Webhooks go through the store's durable outbox; with records off they are
        sent once, in the background. The log gets the action's kind and target, never slot
        values."""
        if reply.node:
            self.record.nodes.append(reply.node)
        for action in reply.records:
            index = self._add_action(action, reply.node)
            if isinstance(action, Webhook) and action.url and self.webhooks is not None and not self.journal.delivers_webhooks:
                task = asyncio.create_task(self._deliver(action, index))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

    def _add_action(self, action: RecordedAction, node: str) -> int:
        index = self.record.add(action)
        self.journal.write(journal_entry(action, self.session.call_id, index, utc_now()))
        self.metrics.inc(f"action_{action.kind}")
        self.log.info("agent_action", action=str(action.kind), node=node, **action.log_fields())
        return index

    def _log_reply(self, reply: AgentReply, label: str) -> None:
        turn = self._turn if label.startswith("turn-") else None
        self.journal.write(ReplyLogged(
            self.session.call_id, self._replies, round(self.clock() - self._answered, 3), label, turn, reply.node or None,
            str(reply.expression), str(reply.expression_why),
        ))
        self._replies += 1

    def _journal_timeline(self) -> None:
        """What the emotion client measured since the last call: segments (with the audio
        embedding), utterance scores and window states — numbers, never words."""
        timeline, call_id = self.emotion.timeline, self.session.call_id
        segments, utterances, states = self._journaled
        for seq, s in enumerate(timeline.segments[segments:], segments):
            self.journal.write(SegmentScored(call_id, seq, s.begin_s, s.end_s, s.valence, s.arousal, s.burst, s.burst_score,
                                             s.prosody, s.embedding))
        for seq, u in enumerate(timeline.utterances[utterances:], utterances):
            self.journal.write(UtteranceScored(call_id, seq, u.at_s, u.valence, u.arousal, u.top_emotions))
        for seq, e in enumerate(timeline.states[states:], states):
            burst = e.recent_bursts[-1].name if e.recent_bursts else None
            self.journal.write(StateChanged(call_id, seq, e.at_s, e.valence, e.arousal, str(e.trend), e.coherence,
                                            e.available, burst))
        self._journaled = (len(timeline.segments), len(timeline.utterances), len(timeline.states))

    async def _deliver(self, webhook: Webhook, index: int) -> None:
        assert self.webhooks is not None and webhook.url is not None
        payload = webhook.payload(self.session.call_id)
        delivery = await self.webhooks.send(webhook.url, payload, webhook.timeout_s, self.session.call_id)
        self.record.delivered(index, delivery)

    async def _goodbye(self, text: str, reason: str) -> None:
        self._supersede_reply()
        self._enter(CallState.ENDING)
        self.record.end_reason = reason
        goodbye = AgentReply(text)
        self._log_reply(goodbye, "goodbye")
        await self.speaker.say(goodbye, label="goodbye")
        await self.session.hangup(reason)

    async def _answer_dtmf(self, digits: str, index: int, last_key_at: float) -> None:
        trace = TurnTrace(index, last_key_at, 0.0, False, TurnInput.KEYPAD)
        trace.mark("keypad_pause_ms", self.clock())
        in_flight = self.turns_in_flight.begin()
        try:
            reply = await self.responder.respond(
                CallerTurn(self.session.call_id, index, None, dtmf=digits, emotion=self.emotion.latest,
                           phase=self._phase.current(self.clock()))
            )
            trace.mark("reply_ready_ms", self.clock())
            trace.reply = self.speaker.source_of(reply)
            await self._speak(reply, f"turn-{index}", self._timed(trace, in_flight))
        finally:
            in_flight()

    def _timed(self, trace: TurnTrace, in_flight: Callable[[], None]) -> Callable[[float | None], None]:
        """The first-audio callback of a turn's reply: the caller is no longer waiting, and its
        trace is closed (log, metrics, journal)."""

        def first_audio(at: float | None) -> None:
            in_flight()
            trace.mark("first_audio_ms", at)
            timings = trace.report(self.metrics, self.log)
            trace.record_span(self.tracer, self._trace_parent, timings)
            self.journal.write(TurnTimed(self.session.call_id, trace.turn, trace.speech_s, timings))

        return first_audio

    async def _answer_utterance(self, ended: TurnEnded, index: int) -> None:
        utterance = ended.utterance
        trace = TurnTrace(index, ended.end_of_speech, utterance.duration_s, self.responder.needs_transcript,
                          ended_by_model=ended.by_model)
        trace.mark("vad_ms", ended.detected_at)
        in_flight = self.turns_in_flight.begin()
        try:
            stt_task = self._start_transcription(utterance)
            trace.early_transcript = self.transcription.last_early
            transcript: str | None = None
            if self.responder.needs_transcript:
                transcript = await asyncio.shield(stt_task)
                trace.mark("transcript_ms", self.clock())
            reply = await self.responder.respond(
                CallerTurn(self.session.call_id, index, transcript, speech_s=utterance.duration_s,
                           emotion=self.emotion.latest, phase=self._phase.current(self.clock()))
            )
            trace.mark("reply_ready_ms", self.clock())
            trace.reply = self.speaker.source_of(reply)
            spoken_task = asyncio.create_task(self._speak(reply, f"turn-{index}", self._timed(trace, in_flight)))
            if transcript is None:
                # Scripted replies did not wait; keep the transcript for the record and the log.
                await asyncio.shield(stt_task)
                transcript_ms = round((self.clock() - ended.end_of_speech) * 1000)
                self.metrics.observe_turn_ms("transcript_ms", transcript_ms)
                self.log.info("turn_transcript", turn=index, transcript_ms=transcript_ms)
            await spoken_task
        finally:
            in_flight()  # a reply superseded or failed before its first audio

    def _start_transcription(self, utterance: Utterance) -> asyncio.Task[str]:
        return self.transcription.final(utterance)

    async def _finish_listening(self) -> None:
        """After hang-up: close the caller's last utterance and let pending transcripts finish
        (bounded), so words spoken just before hanging up still reach the record."""
        pending: list[Frame] = []
        while not self.inbox.empty():
            pending.append(self.inbox.get_nowait())
        while not self.session.audio.empty():
            pending.append(self.session.audio.get_nowait())
        for frame in pending:
            match frame:
                case AudioIn() if self.state is not CallState.HANDED_OFF:
                    self._keep_for_record(self.listener.hear(frame, may_barge_in=False))
                case Transcript():
                    self._on_transcript(frame)
        self._keep_for_record(self.listener.flush(), segments=True)
        self.transcription.close()
        if self.transcription.finals:
            await asyncio.wait(set(self.transcription.finals), timeout=self.config.stt_wait_s)
        while not self.inbox.empty():  # the transcripts that just finished
            frame = self.inbox.get_nowait()
            if isinstance(frame, Transcript):
                self._on_transcript(frame)

    def _keep_for_record(self, frames: list[Frame], segments: bool = False) -> None:
        for frame in frames:
            if isinstance(frame, TurnEnded):
                self._start_transcription(frame.utterance)
            elif segments and isinstance(frame, Segment):
                self.emotion.submit(self.session.call_id, frame)


__all__ = ["CallAgent", "CallSettings", "EmotionSink"]
