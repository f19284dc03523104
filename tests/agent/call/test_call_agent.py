"""The turn loop from scripted frame lists: no SIP, no models, no waiting on real timers.

The call agent runs on stand-ins for what surrounds it (a session, speaker, responder, STT,
segmenter and emotion client that record what they were asked to do). Frames go straight into
its inbox; time is a fake clock moved by the test and delivered with ``Tick`` frames. The same
behaviour is exercised end to end by the SIP call tests (tests/e2e/test_call*.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from agent.call.call_agent import URGENCY, CallAgent, CallSettings
from agent.call.call_phase import CallPhaseConfig
from agent.call.escalation import EscalationConfig, Handoff
from agent.call.frames import CallState, EmotionChanged, Tick, TurnEnded
from agent.call.record import Callback, EndOfCall, Priority, Transfer, Urgency, Webhook
from agent.call.responder import AgentReply, CallerTurn
from agent.call.speaker import ReplySource, Spoken
from agent.call.turn_config import TurnConfig
from agent.services.metrics import Metrics
from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    Entry,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TranscriptLogged,
    TurnTimed,
)
from agent.services.stt import SttOverloaded
from emotion.events import EmotionUpdate, Trend, UpdateSource
from emotion.timeline import SegmentEntry, Timeline
from graph.schema import EndCallAction, TransferAction
from telephony.config import BargeInConfig
from telephony.frames import AudioIn, DtmfDigit, SpeechPaused, SpeechStarted, Utterance

FRAME = b"\x00\x00" * 320  # 20 ms of 16 kHz PCM16


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Stats:
    codec: str = "PCMU"
    frames_received: int = 0
    frames_dropped: int = 0


class Session:
    def __init__(self) -> None:
        self.call_id = "call-1"
        self.remote_uri = "sip:caller@127.0.0.1"
        self.sip_call_id = "a84b4c76e66710"
        self.stats = Stats()
        self.audio: asyncio.Queue[AudioIn] = asyncio.Queue()
        self.events: asyncio.Queue[object] = asyncio.Queue()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.is_playing = False

    async def hangup(self, reason: str = "agent") -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()


class Journal:
    """The records writer's stand-in: keeps every entry in order."""

    def __init__(self, keeps_transcripts: bool = False, delivers_webhooks: bool = True) -> None:
        self.keeps_transcripts = keeps_transcripts
        self.delivers_webhooks = delivers_webhooks
        self.entries: list[Entry] = []

    def write(self, entry: Entry) -> None:
        self.entries.append(entry)

    def of(self, kind: type) -> list:
        return [e for e in self.entries if isinstance(e, kind)]


class Speaker:
    """Speaks for ``seconds`` of real time (short) unless interrupted; remembers every line, and
    how many record entries had been written when each began (write-ahead checks)."""

    def __init__(self, session: Session, seconds: float = 0.02, journal: Journal | None = None) -> None:
        self.session = session
        self.seconds = seconds
        self.journal = journal
        self.journaled_before: list[int] = []
        self.said: list[tuple[str, str]] = []  # (label, text)
        self.heads: list[str] = []  # replies worked out before their turn ended
        self.speaking = False
        self.interrupts = 0
        self._cut: asyncio.Event | None = None

    def source_of(self, reply: AgentReply) -> ReplySource:
        return ReplySource.CACHED if reply.scripted else ReplySource.SYNTHESIZED

    def stop_preparing(self) -> None:
        self.stopped_preparing = True

    def prepare_head(self, reply: AgentReply) -> None:
        self.heads.append(reply.text)

    def interrupt(self) -> int:
        self.interrupts += 1
        if self._cut is not None:
            self._cut.set()
        return 120

    async def say(self, reply: AgentReply, label: str, on_first_audio: Callable[[float | None], None] | None = None) -> Spoken:
        self.said.append((label, reply.text))
        self.journaled_before.append(len(self.journal.entries) if self.journal is not None else 0)
        cut = self._cut = asyncio.Event()
        self.speaking = self.session.is_playing = True
        if on_first_audio is not None:
            on_first_audio(1000.0)
        try:
            await asyncio.wait_for(cut.wait(), self.seconds)
        except TimeoutError:
            pass
        finally:
            if self._cut is cut:
                self.speaking = self.session.is_playing = False
                self._cut = None
        return Spoken(label, 0.0, 0.0, 0.0, cut.is_set(), 100)

    def lines(self) -> list[str]:
        return [label for label, _ in self.said]


class Responder:
    needs_transcript = True

    def __init__(self, answer: Callable[[CallerTurn], AgentReply] | None = None, delay_s: float = 0.0,
                 keys_needed: int = 0) -> None:
        self.turns: list[CallerTurn] = []
        self.speculated: list[CallerTurn] = []
        self.answer = answer or (lambda turn: AgentReply(f"you said {turn.transcript or turn.dtmf}"))
        self.delay_s = delay_s
        self.keys_needed = keys_needed  # 0: the answer's length is open (the pause ends it)

    def greeting(self) -> AgentReply:
        return AgentReply("Hello, this is the clinic.")

    def keys_complete(self, keys: str) -> bool:
        return 0 < self.keys_needed <= len(keys)

    def speculate(self, turn: CallerTurn) -> AgentReply | None:
        self.speculated.append(turn)
        return self.answer(turn)

    async def respond(self, turn: CallerTurn) -> AgentReply:
        self.turns.append(turn)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self.answer(turn)


@dataclass
class SttResult:
    text: str
    elapsed_s: float = 0.05


class Stt:
    idle = True
    queue_depth = 0

    def __init__(self, *texts: str, fail: Exception | None = None) -> None:
        self.texts = list(texts)
        self.fail = fail
        self.decodes = 0

    async def transcribe(self, pcm: bytes, call_id: str) -> SttResult:
        self.decodes += 1
        if self.fail is not None:
            raise self.fail
        return SttResult(self.texts.pop(0) if self.texts else "")


class Segmenter:
    """Plays a script: for each fed frame, (VAD probability, events)."""

    def __init__(self) -> None:
        self.script: list[tuple[float, list[object]]] = []
        self.open_utterance: Utterance | None = None  # what end_paused_turn closes
        self.last_probability = 0.0
        self.in_speech = False
        self.speech_ms = 0

    def feed(self, pcm: bytes) -> list[object]:
        self.last_probability, events = self.script.pop(0) if self.script else (0.0, [])
        self.in_speech = self.last_probability >= 0.5
        self.speech_ms = self.speech_ms + 20 if self.in_speech else 0
        return events

    def flush(self) -> list[object]:
        return []

    def end_paused_turn(self, paused: SpeechPaused, silence_ms: int) -> list[object]:
        """The turn-end model's verdict: the utterance the test set, if it is still open."""
        self.verdict_silence_ms = silence_ms
        utterance, self.open_utterance = self.open_utterance, None
        return [utterance] if utterance is not None else []


def mood(valence: float, available: bool = True) -> EmotionUpdate:
    return EmotionUpdate("call-1", 0.0, valence, 0.4, Trend.STABLE, 0.0, 1.0,
                         UpdateSource.READING if available else UpdateSource.DEFAULTS, available=available,
                         readings=5 if available else 0)


@dataclass
class Emotion:
    latest: EmotionUpdate = field(default_factory=lambda: mood(0.0, available=False))
    updates: asyncio.Queue[EmotionUpdate] = field(default_factory=asyncio.Queue)
    timeline: Timeline = field(default_factory=lambda: Timeline("call-1"))
    segments: int = 0
    transcripts: list[str] = field(default_factory=list)
    closed: bool = False

    def submit(self, call_id: str, segment: object) -> None:
        self.segments += 1

    def submit_transcript(self, text: str, at_s: float) -> bool:
        self.transcripts.append(text)
        return True

    def start(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


class Escalator:
    def __init__(self, connect: bool = False) -> None:
        self.connect = connect
        self.handed: list[tuple[str, bool]] = []

    def can_reach(self, to: str) -> bool:
        return True

    async def hand_off(self, caller, speaker, to, urgent=False, on_bridged=None) -> Handoff:
        self.handed.append((to, urgent))
        if self.connect:
            on_bridged()
            return Handoff(True, f"transferred: {to}", 200)
        callback = Callback(to, f"transfer to {to} not answered (486)", Priority.URGENT if urgent else Priority.ROUTINE,
                            node="transfer")
        return Handoff(False, f"transfer failed (486): {to}", 486, callback)


@dataclass
class Call:
    agent: CallAgent
    session: Session
    speaker: Speaker
    responder: Responder
    segmenter: Segmenter
    emotion: Emotion
    clock: Clock
    journal: Journal
    task: asyncio.Task | None = None

    def push(self, *frames: object) -> None:
        for frame in frames:
            self.agent.inbox.put_nowait(frame)

    def utterance(self, backchannel: bool = False, end: float = 2.0) -> TurnEnded:
        return TurnEnded(Utterance(FRAME * 10, end - 0.6, end, end + 0.3), self.clock.now, backchannel)

    def tick(self, advance_s: float) -> None:
        self.clock.now += advance_s
        self.push(Tick(self.clock.now))

    async def settle(self, condition: Callable[[], bool], timeout: float = 2.0) -> None:
        async def wait() -> None:
            while not condition():
                await asyncio.sleep(0.005)
        await asyncio.wait_for(wait(), timeout)

    async def ended(self):
        assert self.task is not None
        return await asyncio.wait_for(self.task, 3.0)


class TurnModel:
    def __init__(self, probability: float) -> None:
        self.p = probability

    def probability(self, pcm16k: bytes) -> float:
        return self.p


def make_call(*, responder: Responder | None = None, stt: Stt | None = None, escalator: Escalator | None = None,
              turn: TurnConfig | None = None, phase: CallPhaseConfig | None = None, speak_s: float = 0.02,
              journal: Journal | None = None, turn_model: TurnModel | None = None) -> Call:
    clock, session, segmenter, emotion = Clock(), Session(), Segmenter(), Emotion()
    journal = journal or Journal()
    speaker = Speaker(session, speak_s, journal)
    responder = responder or Responder()
    settings = CallSettings(
        turn or TurnConfig(responder="scripted", reprompt_after_s=8.0, max_reprompts=2, dtmf_timeout_s=2.0),
        phase or CallPhaseConfig(), EscalationConfig(), stt_wait_s=1.0,
    )
    agent = CallAgent(session, settings, responder, stt or Stt("I need a refill"), speaker, segmenter, emotion,
                      Metrics(), clock=clock, escalator=escalator, journal=journal, turn_model=turn_model)
    return Call(agent, session, speaker, responder, segmenter, emotion, clock, journal)


async def started(call: Call) -> Call:
    call.task = asyncio.create_task(call.agent.run())
    await call.settle(lambda: call.speaker.lines() == ["greeting"] and not call.speaker.speaking)
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    return call


async def test_an_utterance_is_a_turn_answered_with_its_transcript() -> None:
    call = await started(make_call())
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.lines() == ["greeting", "turn-1"])
    assert call.responder.turns[0].transcript == "I need a refill" and call.responder.turns[0].index == 1
    assert call.speaker.said[-1][1] == "you said I need a refill"
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    await call.session.hangup("caller")
    call.push(DtmfDigit("1", 0.0))  # wakes the loop, which sees the hang-up
    record = await call.ended()
    assert record.turns == 1 and record.transcripts == ["I need a refill"] and record.end_reason == "caller"
    assert call.emotion.transcripts == ["I need a refill"] and call.emotion.closed


async def test_speech_paused_is_transcribed_before_the_turn_ends_and_the_turn_reuses_it() -> None:
    call = await started(make_call())
    stt = call.agent.stt
    utterance = Utterance(FRAME * 10, 1.4, 2.0, 2.3)
    call.segmenter.script = [(0.0, [SpeechPaused(utterance.pcm, 1.4, 2.0)]), (0.0, [utterance])]
    call.push(AudioIn(FRAME, 2.1))
    await call.settle(lambda: stt.decodes == 1)
    assert call.speaker.lines() == ["greeting"]  # decoded while the silence ran: no turn yet
    call.push(AudioIn(FRAME, 2.3))
    await call.settle(lambda: call.speaker.lines() == ["greeting", "turn-1"])
    assert call.responder.turns[0].transcript == "I need a refill" and stt.decodes == 1
    assert call.agent.metrics.counter("stt_early_used") == 1
    # the reply was worked out from the pause's words, before the turn ended
    assert [t.transcript for t in call.responder.speculated] == ["I need a refill"]
    assert call.responder.speculated[0].index == 1 and call.speaker.heads == ["you said I need a refill"]


@pytest.mark.parametrize("probability", [0.9, 0.1])
async def test_the_turn_end_model_ends_a_finished_turn_at_its_pause(probability: float) -> None:
    call = await started(make_call(turn_model=TurnModel(probability)))
    utterance = Utterance(FRAME * 10, 1.4, 2.0, 2.2, shortened=True)
    paused = SpeechPaused(utterance.pcm, 1.4, 2.0)
    call.segmenter.open_utterance = utterance
    call.segmenter.script = [(0.0, [paused])]
    call.push(AudioIn(FRAME, 2.12))
    if probability < 0.5:  # not finished: the silence decides (it has not yet)
        await asyncio.sleep(0.1)
        assert call.speaker.lines() == ["greeting"] and call.segmenter.open_utterance is utterance
        return
    await call.settle(lambda: call.speaker.lines() == ["greeting", "turn-1"])
    assert call.responder.turns[0].transcript == "I need a refill"
    assert call.segmenter.verdict_silence_ms == TurnConfig().end_model_silence_ms


async def test_speech_over_the_agent_barges_in_and_its_utterance_is_a_turn() -> None:
    call = await started(make_call(turn=TurnConfig(barge_in=BargeInConfig(min_speech_ms=100))))
    call.speaker.seconds = 5.0
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.speaking and call.speaker.lines()[-1] == "turn-1")
    onset = SpeechStarted(3.0)
    call.segmenter.script = [(0.9, [onset])] + [(0.9, [])] * 6
    call.push(*[AudioIn(FRAME, 3.0 + i * 0.02) for i in range(7)])
    await call.settle(lambda: call.agent.record.barge_ins == 1)
    assert call.speaker.interrupts >= 1 and not call.speaker.speaking
    # The caller's words after the barge-in are the next turn, not a backchannel.
    call.segmenter.script = [(0.0, [Utterance(FRAME, 3.0, 3.5, 3.8)])]
    call.push(AudioIn(FRAME, 3.8))
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-2")
    assert call.agent.record.turns == 2


async def test_a_short_sound_over_the_agent_is_a_backchannel_not_a_turn() -> None:
    call = await started(make_call())
    call.speaker.seconds = 5.0
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.speaking and call.speaker.lines()[-1] == "turn-1")
    # "mm-hm": speech starts over the agent, too short (below barge-in's 180 ms) and closes.
    call.segmenter.script = [(0.9, [SpeechStarted(3.0)]), (0.9, []), (0.1, [Utterance(FRAME, 3.0, 3.1, 3.4)])]
    call.push(*[AudioIn(FRAME, 3.0 + i * 0.02) for i in range(3)])
    await call.settle(lambda: len(call.agent.record.transcripts) == 2)
    assert call.agent.record.turns == 1 and call.agent.record.barge_ins == 0
    assert call.speaker.speaking and call.speaker.lines() == ["greeting", "turn-1"]  # it kept talking
    assert call.agent.metrics.counter("backchannels") == 1


async def test_silence_is_reprompted_then_the_agent_says_goodbye() -> None:
    call = await started(make_call())
    call.tick(7.9)
    await asyncio.sleep(0.02)
    assert call.speaker.lines() == ["greeting"]  # not yet
    call.tick(0.2)
    await call.settle(lambda: call.speaker.lines() == ["greeting", "reprompt-1"])
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    call.tick(8.1)
    await call.settle(lambda: call.speaker.lines()[-1] == "reprompt-2")
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    call.tick(8.1)
    record = await call.ended()
    assert call.speaker.lines() == ["greeting", "reprompt-1", "reprompt-2", "goodbye"]
    assert record.reprompts == 2 and record.end_reason == "caller silent" and call.session.end_reason == "caller silent"


async def test_the_caller_speaking_restarts_the_silence_count() -> None:
    call = await started(make_call())
    call.tick(8.1)
    await call.settle(lambda: call.speaker.lines()[-1] == "reprompt-1")
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-1")
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    for _ in range(2):  # two more full silences: reprompts again from 1, no goodbye yet
        call.tick(8.1)
        await call.settle(lambda: call.agent.state is CallState.REPLYING)
        await call.settle(lambda: call.agent.state is CallState.LISTENING)
    assert call.speaker.lines()[-2:] == ["reprompt-1", "reprompt-2"] and not call.session.ended.is_set()


async def test_keypad_digits_become_one_turn_after_the_pause() -> None:
    call = await started(make_call())
    call.push(DtmfDigit("0", 1.0), DtmfDigit("3", 1.1))
    await call.settle(lambda: call.agent.timers.digits == "03")
    call.tick(1.0)
    await asyncio.sleep(0.02)
    assert not call.responder.turns
    call.tick(1.1)
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-1")
    assert call.responder.turns[0].dtmf == "03" and call.responder.turns[0].transcript is None
    # Timed from the last key (clock 1000.0): the 2-s pause closed it at 1002.1 (the fake speaker's
    # first audio is stamped 1000.0).
    (timed,) = call.journal.of(TurnTimed)
    assert timed.turn == 1 and timed.speech_s == 0.0
    assert timed.timings_ms["keypad_pause_ms"] == 2100 and "vad_ms" not in timed.timings_ms
    assert call.agent.metrics.percentiles("first_audio_cached_ms")["n"] == 1


async def test_keys_that_answer_the_turn_or_a_hash_end_it_without_the_pause() -> None:
    call = await started(make_call(responder=Responder(keys_needed=2)))
    call.push(DtmfDigit("0", 1.0), DtmfDigit("3", 1.1))  # no tick: the clock never reaches the pause
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-1")
    assert call.responder.turns[0].dtmf == "03"
    call.push(DtmfDigit("4", 2.0), DtmfDigit("#", 2.1))
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-2")
    assert call.responder.turns[1].dtmf == "4"  # the # ended the entry; it is not part of it


async def test_a_caller_awaiting_a_reply_is_in_flight_until_its_first_audio() -> None:
    seen: list[bool] = []

    def answer(turn: CallerTurn) -> AgentReply:
        seen.append(call.agent.turns_in_flight.any)  # while the reply is being made
        return AgentReply("you said it")

    call = await started(make_call(responder=Responder(answer, delay_s=0.05, keys_needed=1)))
    assert not call.agent.turns_in_flight.any
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-1")
    assert seen == [True] and not call.agent.turns_in_flight.any  # the fake speaker's first audio is at once
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    call.push(DtmfDigit("4", 2.0))
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-2")
    assert seen == [True, True] and not call.agent.turns_in_flight.any


async def test_a_newer_turn_supersedes_a_reply_still_being_prepared() -> None:
    call = await started(make_call(responder=Responder(delay_s=0.3), stt=Stt("first", "second")))
    call.push(call.utterance())
    await call.settle(lambda: len(call.responder.turns) == 1)
    call.push(call.utterance(end=4.0))
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-2")
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    assert call.speaker.lines() == ["greeting", "turn-2"]  # turn 1's reply was never spoken
    assert call.agent.record.transcripts == ["first", "second"]
    await call.settle(lambda: not call.agent.turns_in_flight.any)  # the superseded turn left the flight too


async def test_a_goodbye_from_the_graph_ends_the_call() -> None:
    bye = AgentReply("Goodbye.", end_call=True, actions=(EndCallAction(type="end_call"),),
                     records=(EndOfCall("goodbye"),), node="goodbye")
    call = await started(make_call(responder=Responder(lambda turn: bye)))
    call.push(call.utterance())
    record = await call.ended()
    assert record.end_reason == "responder ended call" and record.nodes == ["goodbye"]
    assert record.actions == [EndOfCall("goodbye")] and call.agent.state is CallState.ENDING


async def test_a_transfer_that_does_not_connect_leaves_a_call_back_and_ignores_words_meanwhile() -> None:
    escalator = Escalator(connect=False)
    put_through = AgentReply("Let me put you through.", end_call=True, actions=(TransferAction(type="transfer", to="nurse"),),
                             records=(Transfer("nurse", "", "nurse"),), node="nurse")
    call = await started(make_call(responder=Responder(lambda turn: put_through), escalator=escalator, speak_s=0.2))
    call.push(call.utterance())
    await call.settle(lambda: call.agent.state is CallState.TRANSFERRING)
    call.push(call.utterance(end=5.0), DtmfDigit("5", 5.0))  # "hello?" and a key while being put through
    record = await call.ended()
    assert escalator.handed == [("nurse", False)] and len(call.responder.turns) == 1
    assert record.actions == [Transfer("nurse", "", "nurse"),
                              Callback("nurse", "transfer to nurse not answered (486)", Priority.ROUTINE, node="transfer")]
    assert record.end_reason == "transfer failed (486): nurse" and not record.handed_off


async def test_a_bridged_transfer_hands_the_call_off_and_the_agent_stops_listening() -> None:
    put_through = AgentReply("Connecting you.", end_call=True, actions=(TransferAction(type="transfer", to="operator"),),
                             records=(Transfer("operator", "", "operator"),), node="operator")
    call = await started(make_call(responder=Responder(lambda turn: put_through), escalator=Escalator(connect=True)))
    call.push(call.utterance())
    record = await call.ended()
    assert record.handed_off and call.agent.state is CallState.HANDED_OFF
    assert record.end_reason == "transferred: operator"


async def test_sustained_negative_emotion_raises_urgency_and_puts_the_caller_through() -> None:
    escalator = Escalator(connect=False)
    call = await started(make_call(escalator=escalator, phase=CallPhaseConfig(urgent_after_s=60.0),
                                   turn=TurnConfig(reprompt_after_s=600.0)))
    call.push(EmotionChanged(mood(-0.6)))
    await call.settle(lambda: call.agent.metrics.counter("emotion_updates") == 1)
    call.clock.now += 61.0
    call.push(EmotionChanged(mood(-0.6)))
    record = await call.ended()
    assert isinstance(record.actions[0], Urgency) and record.actions[0].negative_s == 61.0 and record.urgent
    assert record.actions[1] == Transfer("operator", URGENCY, "urgency")
    assert escalator.handed == [("operator", True)]
    assert call.speaker.lines()[-1] == "urgency"
    assert isinstance(record.actions[2], Callback) and record.actions[2].priority is Priority.URGENT


async def test_the_emotion_clients_updates_arrive_as_frames() -> None:
    call = await started(make_call())
    call.emotion.updates.put_nowait(mood(-0.2))
    call.emotion.updates.put_nowait(mood(0.3))
    await call.settle(lambda: call.agent.metrics.counter("emotion_updates") == 2)


async def test_a_dead_emotion_service_leaves_the_call_on_defaults() -> None:
    call = await started(make_call(escalator=Escalator(), phase=CallPhaseConfig(urgent_after_s=1.0)))
    call.push(EmotionChanged(mood(-0.9, available=False)))
    await call.settle(lambda: call.agent.metrics.counter("emotion_updates") == 1)
    call.clock.now += 5.0
    call.push(EmotionChanged(mood(-0.9, available=False)), call.utterance())
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-1")
    assert not call.agent.record.urgent and call.responder.turns[0].emotion is call.emotion.latest
    assert call.agent.metrics.counter("emotion_updates") == 2


async def test_a_failing_turn_is_apologised_for_and_the_call_goes_on() -> None:
    def broken(turn: CallerTurn) -> AgentReply:
        raise RuntimeError("bug")

    call = await started(make_call(responder=Responder(broken)))
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.lines()[-1] == "reply-failed")
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    assert call.agent.metrics.counter("reply_errors") == 1 and not call.session.ended.is_set()


async def test_an_overloaded_stt_gives_an_empty_transcript_not_a_dead_call() -> None:
    call = await started(make_call(stt=Stt(fail=SttOverloaded("full"))))
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-1")
    assert call.responder.turns[0].transcript == "" and call.agent.metrics.counter("stt_overloaded") == 1


async def test_webhook_records_are_kept_even_without_a_sender() -> None:
    booked = AgentReply("Booked.", records=(Webhook("appointment_booked", None, 3.0, "booked", {"appointment": "x"}),),
                        node="booked")
    call = await started(make_call(responder=Responder(lambda turn: booked)))
    call.push(call.utterance())
    await call.settle(lambda: call.agent.record.actions)
    (webhook,) = call.agent.record.actions
    assert isinstance(webhook, Webhook) and webhook.delivery is None and dict(webhook.slots) == {"appointment": "x"}


async def test_the_call_length_limit_ends_the_call_politely() -> None:
    call = await started(make_call(turn=TurnConfig(max_call_s=60.0)))
    call.tick(60.0)
    record = await call.ended()
    assert call.speaker.lines()[-1] == "goodbye" and record.end_reason == "max call length"


@pytest.mark.parametrize("state", [CallState.TRANSFERRING, CallState.ENDING])
async def test_words_while_the_call_is_closing_start_no_reply(state: CallState) -> None:
    call = await started(make_call())
    call.agent.state = state
    call.push(call.utterance())
    await call.settle(lambda: call.agent.record.transcripts == ["I need a refill"])
    assert not call.responder.turns


# ---- the records store's entries (agent/services/records), written as the call goes ----------

async def test_an_action_is_journaled_before_the_line_announcing_it_is_spoken() -> None:
    callback = Callback("clinician", "test results", Priority.URGENT, "results_callback", {"callback_phone": "5550100"})
    confirm = AgentReply("A clinician will call you today.", records=(callback,), node="results_callback")
    call = await started(make_call(responder=Responder(lambda turn: confirm)))
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.lines()[-1] == "turn-1")
    (action,) = call.journal.of(ActionLogged)
    position = call.journal.entries.index(action)
    assert call.speaker.journaled_before[-1] > position  # written before the sentence began
    assert (action.kind, action.target, action.priority, action.work_item) == ("callback", "clinician", "urgent", "callback")
    assert dict(action.slots) == {"callback_phone": "5550100"} and action.seq == 0
    reply = call.journal.of(ReplyLogged)[-1]
    assert (reply.label, reply.turn, reply.node) == ("turn-1", 1, "results_callback")


async def test_a_durable_journal_owns_webhooks_and_the_call_sends_none() -> None:
    class Sender:
        sent = 0

        async def send(self, *args: object) -> None:
            Sender.sent += 1

    hook = Webhook("appointment_booked", "http://127.0.0.1:9/hook", 3.0, "booked", {"appointment": "x"})
    call = make_call(responder=Responder(lambda turn: AgentReply("Booked.", records=(hook,), node="booked")))
    call.agent.webhooks = Sender()  # type: ignore[assignment]
    await started(call)
    call.push(call.utterance())
    await call.settle(lambda: call.journal.of(ActionLogged))
    (action,) = call.journal.of(ActionLogged)
    assert action.webhook is not None and action.webhook.url == hook.url
    assert action.webhook.payload == {"event": "appointment_booked", "call_id": "call-1", "node": "booked",
                                      "slots": {"appointment": "x"}}
    await asyncio.sleep(0.05)
    assert Sender.sent == 0  # the outbox delivers it, once, durably


async def test_a_transfer_nobody_answers_journals_an_unanswered_transfer_work_item() -> None:
    put_through = AgentReply("Let me put you through.", end_call=True, actions=(TransferAction(type="transfer", to="nurse"),),
                             records=(Transfer("nurse", "", "nurse"),), node="nurse")
    call = await started(make_call(responder=Responder(lambda turn: put_through), escalator=Escalator(connect=False)))
    call.push(call.utterance())
    await call.ended()
    kinds = [(a.kind, a.work_item) for a in call.journal.of(ActionLogged)]
    assert kinds == [("transfer", None), ("callback", "unanswered_transfer")]
    closed = call.journal.entries[-1]
    assert isinstance(closed, CallClosed) and closed.end_reason == "transfer failed (486): nurse"


async def test_words_are_journaled_only_when_transcripts_are_kept() -> None:
    for keep in (False, True):
        call = await started(make_call(journal=Journal(keeps_transcripts=keep)))
        call.push(call.utterance())
        await call.settle(lambda c=call: c.speaker.lines()[-1] == "turn-1" and c.agent.record.transcripts)
        texts = [t.text for t in call.journal.of(TranscriptLogged)]
        assert texts == (["I need a refill"] if keep else [])


async def test_turn_timings_the_emotional_timeline_and_the_close_are_journaled() -> None:
    call = await started(make_call())
    call.emotion.timeline.segments.append(SegmentEntry(0.0, 2.0, {"calm": 0.7}, 0.1, 0.3, "sigh", 0.8, (0.5,) * 64))
    sad = mood(-0.4)
    call.emotion.timeline.states.append(sad)
    call.push(EmotionChanged(sad), call.utterance())
    await call.settle(lambda: call.journal.of(TurnTimed))
    (timed,) = call.journal.of(TurnTimed)
    assert timed.turn == 1 and set(timed.timings_ms) >= {"vad_ms", "first_audio_ms"}
    (segment,) = call.journal.of(SegmentScored)
    assert segment.burst == "sigh" and len(segment.embedding) == 64
    assert [s.valence for s in call.journal.of(StateChanged)] == [-0.4]
    await call.session.hangup("caller hung up")
    await call.ended()
    closed = call.journal.entries[-1]
    assert isinstance(closed, CallClosed) and closed.turns == 1 and closed.end_reason == "caller hung up"
    assert len(call.journal.of(SegmentScored)) == 1  # the close does not journal a segment twice
