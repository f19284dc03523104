"""The seam where the conversation logic plugs into the call: turn in, reply out.

Three responders implement one protocol:

* ``GraphResponder`` (the product): walks the clinic's conversation graph (:mod:`graph.navigator`)
  with the caller's words, keypad digits and emotional state, chooses the voice style
  (:mod:`agent.call.voice_style`) from the topics of what it is about to say, and words the reply with
  the LLM when one is configured (:mod:`agent.services.llm`), else with the graph's own scripted line.
* ``ScriptedResponder``: a fixed greeting and reply (latency benchmarks; no transcript needed,
  so its reply starts the moment the caller stops speaking).
* ``EchoResponder`` (QA): repeats what it heard, so a test can check the ear-to-mouth path.

A :class:`ResponderFactory` gives each call its own responder (the graph walk is per call)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import structlog

from agent.call.burst_table import BurstTable
from agent.call.call_phase import CallPhase
from agent.call.record import RecordedAction, from_graph
from agent.call.turn_config import TurnConfig
from agent.call.voice_style import ExpressionWhy, VoiceStyleConfig, choose_expression
from agent.services.llm import Worded
from agent.services.metrics import Metrics
from emotion.events import EmotionUpdate
from graph.navigator import CallerInput, CompiledGraph, Navigator, Step
from graph.prompt import WordingRequest
from graph.schema import PLACEHOLDER, Action, Topic
from tts.expression import Expression
from tts.sentences import split_sentences


@dataclass(frozen=True, slots=True)
class CallerTurn:
    call_id: str
    index: int
    transcript: str | None  # None when the responder did not wait for STT
    dtmf: str = ""
    speech_s: float = 0.0
    emotion: EmotionUpdate | None = None  # the caller's state when the turn ended
    phase: CallPhase | None = None  # how long the call has run, and whether it must hurry


@dataclass(frozen=True, slots=True)
class AgentReply:
    text: str  # the scripted wording (also what is said if a streamed wording fails)
    end_call: bool = False
    scripted: bool = True  # fixed wording: its sentences come from the phrase cache when they are there
    expression: Expression = Expression.NEUTRAL
    expression_why: ExpressionWhy = ExpressionWhy.FIXED  # the rule that chose it, for the call record
    sentences: AsyncIterator[str] | None = None  # streamed wording (LLM): spoken as each sentence completes
    actions: tuple[Action, ...] = ()
    records: tuple[RecordedAction, ...] = ()  # the actions for the call record, with their slot values
    node: str = ""
    topics: frozenset[Topic] = field(default_factory=frozenset)
    # First sentences the next reply may start with that carry the caller's details (PHI, never
    # logged): the speaker synthesizes them while the caller answers.
    ahead: tuple[str, ...] = ()


class Responder(Protocol):
    needs_transcript: bool

    def greeting(self) -> AgentReply: ...

    def keys_complete(self, keys: str) -> bool:
        """The keypad digits so far already answer the turn: take them now, not after the pause."""
        ...

    def speculate(self, turn: CallerTurn) -> AgentReply | None:
        """The reply ``respond`` would give to ``turn``, worked out before the turn has ended (from
        the transcript of the caller's pause), without changing the conversation. ``respond`` uses
        it when the turn comes out the same; None when the responder cannot tell in advance."""
        ...

    async def respond(self, turn: CallerTurn) -> AgentReply: ...


class ResponderFactory(Protocol):
    def for_call(self, call_id: str) -> Responder: ...

    def scripted_lines(self) -> list[str]:
        """Every fixed line the responders can say, for pre-synthesis at start-up."""
        ...


class ResponderKind(StrEnum):
    GRAPH = "graph"
    SCRIPTED = "scripted"
    ECHO = "echo"


class ScriptedResponder:
    """Stateless: one instance serves every call."""

    needs_transcript = False

    def __init__(self, config: TurnConfig) -> None:
        self._config = config

    def for_call(self, call_id: str) -> ScriptedResponder:
        return self

    def greeting(self) -> AgentReply:
        return AgentReply(self._config.greeting)

    def keys_complete(self, keys: str) -> bool:
        return False  # no graph to say how many keys an answer has: the pause (or #) ends them

    def speculate(self, turn: CallerTurn) -> AgentReply | None:
        return None  # nothing to work out: the reply is ready the moment the turn ends

    async def respond(self, turn: CallerTurn) -> AgentReply:
        return AgentReply(self._config.reply)

    def scripted_lines(self) -> list[str]:
        c = self._config
        return [c.greeting, c.reply, c.reprompt, c.goodbye, c.max_call_goodbye, c.not_understood]


class EchoResponder(ScriptedResponder):
    """QA responder: says back what the STT heard."""

    needs_transcript = True

    async def respond(self, turn: CallerTurn) -> AgentReply:
        if turn.dtmf:
            return AgentReply(f"You pressed {' '.join(turn.dtmf)}.", scripted=False)
        if not turn.transcript:
            return AgentReply(self._config.not_understood)
        return AgentReply(f"You said: {turn.transcript}", scripted=False)


class Wording(Protocol):
    """The LLM path (agent.services.llm.LlmWriter): sentences for a wording request, falling back to the
    scripted line on its own when the model is slow, failing or says something it must not."""

    def sentences(self, request: WordingRequest) -> AsyncIterator[Worded]: ...


@dataclass(frozen=True, slots=True)
class _Speculation:
    """A turn tried on a fork of the walk (``Navigator.fork``) before it ended, and what holds it."""

    transcript: str
    emotion: EmotionUpdate | None  # the very reading it was made with
    hurry: bool
    steps: int  # turns the walk had taken: a turn handled since makes it stale
    navigator: Navigator
    step: Step
    reply: AgentReply

    def holds_for(self, turn: CallerTurn, steps: int) -> bool:
        return (
            turn.transcript == self.transcript and not turn.dtmf and turn.emotion is self.emotion
            and (turn.phase is not None and turn.phase.hurry) == self.hurry and steps == self.steps
        )


class GraphResponder:
    """One call's walk through the graph. The greeting and clarifications are always the graph's
    own lines; node replies are worded by the LLM when one is configured, except emergency lines,
    which are safety wording and never rephrased."""

    needs_transcript = True

    def __init__(
        self, compiled: CompiledGraph, call_id: str, bursts: BurstTable, voice_style: VoiceStyleConfig,
        metrics: Metrics, wording: Wording | None = None, clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.compiled = compiled
        self.call_id = call_id
        self.navigator = Navigator(compiled, clock)
        self.bursts = bursts
        self.voice_style = voice_style
        self.metrics = metrics
        self.wording = wording
        self.log = structlog.get_logger(component="graph", call_id=call_id)
        self.history: list[tuple[str, str]] = []  # (caller|agent, text): context for the LLM only, never logged
        self.steps: list[Step] = []
        self._speculation: _Speculation | None = None

    def greeting(self) -> AgentReply:
        step = self.navigator.start()
        return self._commit(step, self._build(self.navigator, step, None, None))

    def keys_complete(self, keys: str) -> bool:
        return self.navigator.keys_complete(keys)

    def speculate(self, turn: CallerTurn) -> AgentReply | None:
        """The turn tried on a fork of the walk; ``respond`` adopts the fork when the turn is the
        same (words, emotional reading, hurry, and no turn handled in between). Nothing is logged
        or recorded until then."""
        self._speculation = None
        if not turn.transcript or turn.dtmf or self.navigator.ended:
            return None
        started = time.perf_counter()
        fork = self.navigator.fork()
        step = fork.handle(CallerInput(turn.transcript), turn.emotion)
        reply = self._build(fork, step, turn.emotion, turn.transcript, turn.phase)
        self._speculation = _Speculation(turn.transcript, turn.emotion, turn.phase is not None and turn.phase.hurry,
                                         len(self.steps), fork, step, reply)
        self.metrics.observe_ms("speculation_ms", (time.perf_counter() - started) * 1000)
        return reply

    async def respond(self, turn: CallerTurn) -> AgentReply:
        started = time.perf_counter()
        said = CallerInput(turn.transcript or "", turn.dtmf)
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation.holds_for(turn, len(self.steps)):
            self.navigator, step, reply = speculation.navigator, speculation.step, speculation.reply
            self.navigator.commit()
            self.metrics.inc("speculations_used")
        else:
            if speculation is not None:
                self.metrics.inc("speculations_discarded")
            step = self.navigator.handle(said, turn.emotion)
            reply = self._build(self.navigator, step, turn.emotion, said.text or None, turn.phase)
        self.metrics.observe_ms("navigation_ms", (time.perf_counter() - started) * 1000)
        if said.text:
            self.history.append(("caller", said.text))
        return self._commit(step, reply)

    def _commit(self, step: Step, reply: AgentReply) -> AgentReply:
        """The step is the call's: logged, kept, and its line in the LLM's context."""
        self.steps.append(step)
        chosen = step.chosen
        self.log.info(
            "graph_step", kind=str(step.kind), node=step.node, path=list(step.path), topics=sorted(step.topics),
            expression=str(reply.expression), why=str(reply.expression_why),
            by=chosen.by if chosen else None, score=chosen.score if chosen else None,
            emotional=chosen.emotional if chosen else False, filled=sorted(step.filled),  # slot names, never values
            actions=[str(a.type) for a in step.actions], graph=self.compiled.version,
        )
        self.history.append(("agent", reply.text))
        return reply

    def _build(
        self, navigator: Navigator, step: Step, emotion: EmotionUpdate | None, caller_text: str | None,
        phase: CallPhase | None = None,
    ) -> AgentReply:
        """The reply to a step of ``navigator``'s walk; no side effects (a speculation may be dropped)."""
        choice = choose_expression(step.topics, emotion, self.bursts, self.voice_style, phase)
        expression = choice.expression
        text = step.text(expression)
        sentences = None
        if self.wording is not None and self._wordable(step) and caller_text is not None:
            sentences = self._worded(step, text, expression, emotion, caller_text, phase)
        return AgentReply(
            text=text,
            end_call=step.end_call,
            scripted=sentences is None,  # the graph's own words: cached sentence by sentence
            expression=expression,
            expression_why=choice.why,
            sentences=sentences,
            actions=step.actions,
            records=tuple(from_graph(taken) for taken in step.taken),
            node=step.node,
            topics=step.topics,
            ahead=() if step.end_call else tuple(navigator.sentences_ahead(expression)),
        )

    @staticmethod
    def _wordable(step: Step) -> bool:
        return bool(step.path) and Topic.EMERGENCY not in step.topics

    async def _worded(
        self, step: Step, scripted: str, expression: Expression, emotion: EmotionUpdate | None, caller_text: str,
        phase: CallPhase | None,
    ) -> AsyncIterator[str]:
        node = self.compiled.nodes[step.path[-1]]
        request = WordingRequest(
            call_id=self.call_id, node=node, clinic=self.compiled.spec.clinic, scripted=scripted, expression=expression,
            slots=self.navigator.spoken_slots(), identity_verified=self.navigator.identity_verified, emotion=emotion,
            history=tuple(self.history[-7:-1]), caller_text=caller_text, hurry=phase is not None and phase.hurry,
        )
        async for worded in self.wording.sentences(request):
            yield worded.text


class GraphResponderFactory:
    """Gives each call a GraphResponder on the graph in use when the call started."""

    def __init__(
        self, current: Callable[[], CompiledGraph], bursts: BurstTable, voice_style: VoiceStyleConfig,
        metrics: Metrics, wording: Wording | None = None,
    ) -> None:
        self._current = current
        self.bursts = bursts
        self.voice_style = voice_style
        self.metrics = metrics
        self.wording = wording

    def for_call(self, call_id: str) -> GraphResponder:
        return GraphResponder(self._current(), call_id, self.bursts, self.voice_style, self.metrics, self.wording)

    def scripted_lines(self) -> list[str]:
        """The graph's fixed sentences (no slot placeholders), the greeting first: it plays from
        the cache on every call."""
        warm_up = self.for_call("warm-up")
        spec, clinic = warm_up.compiled.spec, warm_up.compiled.clinic_values
        lines = [warm_up.greeting().text]
        says = [n.say for n in spec.nodes if n.say] + [s.ask for n in spec.nodes for s in n.collect]
        says.append(spec.settings.clarify)
        for say in says:
            for line in say.all_lines():
                # Sentences without the caller's details are the same on every call: cached.
                line = PLACEHOLDER.sub(lambda m: clinic.get(m.group(1), m.group(0)), line)
                lines.extend(s for s in split_sentences(line) if not PLACEHOLDER.search(s))
        return list(dict.fromkeys(lines))


def create_responder_factory(kind: ResponderKind, config: TurnConfig) -> ScriptedResponder:
    """The stateless responders; the graph responder needs the server's graph store."""
    return {ResponderKind.SCRIPTED: ScriptedResponder, ResponderKind.ECHO: EchoResponder}[kind](config)


__all__ = [
    "AgentReply", "CallerTurn", "EchoResponder", "GraphResponder", "GraphResponderFactory", "Responder",
    "ResponderFactory", "ResponderKind", "ScriptedResponder", "create_responder_factory",
]
