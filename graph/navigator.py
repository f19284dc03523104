"""Walks one call through the clinic's graph: caller turn in, the next step out.

The graph is a networkx ``DiGraph`` (:class:`CompiledGraph`, built once per graph version and shared
by calls); a :class:`Navigator` is one call's position in it, its slots and its counters.

One caller turn, in order (docs/graph.md has the full rules):

1. **Global transitions** (emergency words, asking for a person) are checked first, from any node.
2. If the node is **collecting a slot**, the slot is extracted from the words or keypad digits
   (:mod:`graph.slots`). Free-text slots let the node's own transitions speak first, so
   "actually, cancel that" is not taken as the answer.
3. Otherwise the node's **transitions** are scored (:mod:`graph.matcher`); those under
   ``settings.match_threshold`` or failing their ``slots`` condition are out.
4. **Emotion** only chooses among transitions that already match: one whose emotional condition
   holds wins over a better-scoring plain one if it is within ``settings.emotion_margin``; one
   whose emotional condition does not hold is out. Emotion never makes a transition match, so
   it can change *which* matching path a caller takes, never send them somewhere their words
   did not ask to go. With no emotional reading (service down), emotional conditions do not hold.
5. Nothing matched: ``otherwise``, else a **clarifying** question; after
   ``settings.max_clarifications`` in a row, the graph's ``fallback`` node (a person).

Entering a node queues its line, asks for its first missing slot, runs its actions once its
slots are in, and moves
straight on through ``next`` or through a transition that needs no words (slot conditions only).
The :class:`Step` that comes out says what to speak, node by node, and the **topics of those
nodes before a word of them is rendered**, so the delivery can be gentle from the first word."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

import networkx as nx

from emotion.events import EmotionUpdate
from graph.matcher import (
    EmbeddedTurn,
    Match,
    MatchedBy,
    TextEmbedder,
    TransitionMatcher,
)
from graph.schedule import Schedule, describe_times, spoken_datetime
from graph.schema import (
    PLACEHOLDER,
    Action,
    ActionType,
    EmotionCondition,
    GraphSpec,
    Node,
    Say,
    Slot,
    SlotCondition,
    SlotKind,
    Topic,
    Transition,
    WebhookAction,
)
from graph.slots import SlotValue, extract, keys_complete
from tts.expression import Expression
from tts.sentences import split_sentences

MAX_HOPS = 12  # nodes entered in one turn; a validated graph never needs this many
OFFER_COUNT = 3


class StepKind(StrEnum):
    START = "start"  # the call was answered
    TRANSITION = "transition"  # the caller's words chose a transition
    GLOBAL = "global"  # an emergency or operator request, from any node
    SLOT = "slot"  # a slot was filled (or asked again)
    CLARIFY = "clarify"  # nothing matched
    FALLBACK = "fallback"  # too many misunderstandings: to the fallback node


@dataclass(frozen=True, slots=True)
class Prompt:
    """One line to speak: the ``say`` of a node (or a slot's ``ask``), with the values its
    placeholders take. Rendering waits until the expression is chosen."""

    node: str
    say: Say
    values: Mapping[str, str]
    turn: int  # how many times this line was said before: picks the variant in rotation

    def render(self, expression: Expression) -> str:
        variants = self.say.variants(expression)
        line = variants[self.turn % len(variants)]
        return PLACEHOLDER.sub(lambda m: self.values.get(m.group(1), m.group(0)), line)


@dataclass(frozen=True, slots=True)
class Chosen:
    """Why a transition was taken: for logs, tests and the call record."""

    source: str  # node id, or "*" for a global transition
    target: str
    score: float
    by: MatchedBy
    emotional: bool  # an emotional condition held and counted
    clear: tuple[str, ...] = ()  # slots the transition forgets


@dataclass(frozen=True, slots=True)
class ActionTaken:
    """A graph action the call reached, where, and the slot values it carries (PHI)."""

    action: Action
    node: str
    slots: Mapping[str, str]


@dataclass(frozen=True)
class Step:
    kind: StepKind
    path: tuple[str, ...]  # nodes entered, in order (empty when the caller stays put)
    prompts: tuple[Prompt, ...]
    topics: frozenset[Topic]  # of every node whose line is in this step: known before rendering
    actions: tuple[Action, ...]
    chosen: Chosen | None = None
    filled: Mapping[str, SlotValue] = field(default_factory=dict)  # slots filled this turn
    node: str = ""  # where the call is now
    taken: tuple[ActionTaken, ...] = ()  # the actions with their node and slot values, for the call record

    @property
    def end_call(self) -> bool:
        return any(a.type in (ActionType.END_CALL, ActionType.TRANSFER) for a in self.actions)

    @property
    def transfer_to(self) -> str | None:
        return next((a.to for a in self.actions if a.type is ActionType.TRANSFER), None)

    def text(self, expression: Expression) -> str:
        return " ".join(p.render(expression) for p in self.prompts)


class CompiledGraph:
    """A validated graph ready for calls: networkx structure, embedded examples, the schedule.
    Built once per version of the file (hot reload builds a new one) and shared by calls."""

    def __init__(
        self, spec: GraphSpec, embedder: TextEmbedder, version: str = "", fixed_values: Mapping[str, str] | None = None,
    ) -> None:
        """``fixed_values``: placeholders the server fills for every call (``records.notice``)."""
        self.spec = spec
        self.version = version
        self.nodes: dict[str, Node] = {n.id: n for n in spec.nodes}
        self.matcher = TransitionMatcher(spec, embedder)
        self.schedule = Schedule(spec.clinic)
        clinic = spec.clinic
        self.clinic_values: dict[str, str] = {  # the placeholders that are the same on every call
            "clinic.name": clinic.name,
            "clinic.phone": clinic.phone,
            "clinic.address": clinic.address,
            "clinic.directions": clinic.directions,
            "clinic.hours": describe_hours(clinic.hours),
            "records.notice": "",
            **(fixed_values or {}),
        }
        self.slot_kinds: dict[str, SlotKind] = {slot.name: slot.kind for node in spec.nodes for slot in node.collect}
        self.graph = nx.DiGraph()
        for node in spec.nodes:
            self.graph.add_node(node.id, topics=tuple(node.topics))
            if node.next:
                self.graph.add_edge(node.id, node.next, kind="next")
            for t in node.transitions:
                self.graph.add_edge(node.id, t.to, kind="transition", emotional=t.emotion is not None)

    def successors(self, node_id: str) -> list[str]:
        return list(self.graph.successors(node_id))

    def topics_ahead(self, node_id: str) -> frozenset[Topic]:
        """Topics of the nodes one step from here: what the next reply may touch."""
        return frozenset(t for n in self.graph.successors(node_id) for t in self.graph.nodes[n]["topics"])


@dataclass(frozen=True, slots=True)
class CallerInput:
    text: str = ""
    dtmf: str = ""


class Navigator:
    """One call's walk through a :class:`CompiledGraph`. Not thread-safe; one per call."""

    def __init__(self, compiled: CompiledGraph, clock: Callable[[], datetime] = datetime.now) -> None:
        self.compiled = compiled
        self.spec = compiled.spec
        self.clock = clock
        self.node_id = self.spec.settings.start
        self.slots: dict[str, SlotValue] = {}
        self.history: list[str] = []  # every node entered, in order
        self.actions: list[Action] = []  # every action run, in order
        self.offers: list[datetime] = []
        self._pending: Slot | None = None
        self._attempts: dict[str, int] = {}
        self._clarifications = 0
        self._said: dict[tuple[str, str], int] = {}  # (node, line kind) -> times said
        self.ended = False
        # A fork holds back what it would do to state shared with other calls (the schedule) until
        # it is adopted (``commit``); None: this walk is the call's own and acts at once.
        self._held_bookings: list[datetime] | None = None

    def fork(self) -> Navigator:
        """A twin to try a turn on (speculative navigation): the compiled graph is shared, the
        walk's state is copied, so handling a turn on the twin leaves this walk as it was."""
        twin = copy.copy(self)
        twin.slots, twin.history, twin.actions = dict(self.slots), list(self.history), list(self.actions)
        twin.offers, twin._attempts, twin._said = list(self.offers), dict(self._attempts), dict(self._said)
        twin._held_bookings = []  # a discarded fork must not have taken a time from other callers
        return twin

    def commit(self) -> None:
        """This fork's walk became the call's: what it held back (bookings in the shared schedule)
        happens now, and from here it acts at once like any walk."""
        for when in self._held_bookings or ():
            self.compiled.schedule.book(when)
        self._held_bookings = None

    # ---- state the responder reads --------------------------------------------------------
    @property
    def node(self) -> Node:
        return self.compiled.nodes[self.node_id]

    @property
    def pending_slot(self) -> Slot | None:
        return self._pending

    @property
    def identity_verified(self) -> bool:
        """A name and a date of birth were given. The embedded default cannot check them against a
        patient record; a clinic does that in its webhook (docs/graph.md)."""
        kinds = {self.compiled.slot_kinds.get(name) for name in self.slots}
        return {SlotKind.NAME, SlotKind.DATE_OF_BIRTH} <= kinds

    def action_taken(self, action: Action) -> ActionTaken:
        """An action as it goes into the call record: with its node and the values of the slots it
        ``include``s (PHI: the record is for staff; logs get the action type only)."""
        include = getattr(action, "include", [])
        slots = {name: self.slots[name].value for name in include if name in self.slots}
        return ActionTaken(action, self.node_id, MappingProxyType(slots))

    def spoken_slots(self) -> dict[str, str]:
        return {name: value.spoken for name, value in self.slots.items()}

    def keys_complete(self, keys: str) -> bool:
        """Whether the keys pressed so far already answer this turn, so it need not wait for the
        keypad pause: the whole value of a pending slot that takes keys, or else the key of one of
        this node's transitions that no other of its keys begins with."""
        if self.ended or not keys:
            return False
        slot = self._pending
        if slot is not None and (slot.dtmf or slot.kind is SlotKind.YES_NO):
            return keys_complete(slot.kind, keys)
        offered = [t.dtmf for t in self.node.transitions if t.dtmf]
        return keys in offered and not any(other != keys and other.startswith(keys) for other in offered)

    def sentences_ahead(self, expression: Expression) -> list[str]:
        """First sentences the next reply may start with that carry this caller's details (a
        slot's value), to be synthesized while the caller answers so that reply starts at once.

        They are the lines of the nodes one step from here (the ``say``, or else the first ``ask``
        the node would make) for ``expression``, rendered with the slots as they are now, and once
        per time on offer when the slot being asked is a date and time ("That's {appointment}.").
        A sentence without the caller's details is in the phrase cache already; one waiting for a
        value nobody has given yet is left out. PHI: for the call's own speaker, never logged."""
        if self.ended:
            return []
        values = self._values()
        choices = [values]
        pending = self._pending
        if pending is not None and pending.kind is SlotKind.DATETIME and self.offers:
            now = self.clock()
            choices += [{**values, pending.name: spoken_datetime(o, now, relative=False)} for o in self.offers]
        fixed = self.compiled.clinic_values
        ahead: list[str] = []
        for node_id in self.compiled.successors(self.node_id):
            line = self._first_line(self.compiled.nodes[node_id])
            if line is None:
                continue
            say, turn = line
            unfilled = Prompt(node_id, say, {}, turn).render(expression)  # its placeholders as written
            if not any(name in self.compiled.slot_kinds for name in PLACEHOLDER.findall(unfilled)):
                continue
            without_caller = _first_sentence(Prompt(node_id, say, fixed, turn).render(expression))
            for choice in choices:
                first = _first_sentence(Prompt(node_id, say, choice, turn).render(expression))
                if first and first != without_caller and not PLACEHOLDER.search(first) and first not in ahead:
                    ahead.append(first)
        return ahead

    def _first_line(self, node: Node) -> tuple[Say, int] | None:
        """The line a node would start with if entered now (its say, or else its first ask), and
        how often it was said before (the variant ``_prompt`` would pick)."""
        if node.say is not None:
            say, key = node.say, (node.id, "say")
        else:
            slot = next((s for s in node.collect if s.required and s.name not in self.slots), None)
            if slot is None:
                return None
            say, key = slot.ask, (node.id, f"ask:{slot.name}")
        return say, self._said.get(key, 0)

    # ---- turns ------------------------------------------------------------------------------
    def start(self) -> Step:
        builder = _StepBuilder(StepKind.START)
        self._enter(self.spec.settings.start, builder)
        return builder.build(self.node_id)

    def handle(self, said: CallerInput, emotion: EmotionUpdate | None = None) -> Step:
        """The caller's turn: words and/or keypad digits, with the caller's current emotional state."""
        if self.ended and any(a.type is ActionType.TRANSFER for a in self.node.actions):
            # The caller spoke over a transfer's announcement (a person, an emergency): the call
            # stays handed off. The node is entered again, so its line and transfer repeat.
            builder = _StepBuilder(StepKind.TRANSITION, Chosen(self.node_id, self.node_id, 1.0, MatchedBy.ENDED, False))
            self._enter(self.node_id, builder, emotion)
            return builder.build(self.node_id)
        utterance = self.compiled.matcher.embed(said.text, said.dtmf)
        chosen = self._best(self.spec.global_transitions, utterance, emotion, source="*", words_only=True,
                            threshold=self.spec.settings.global_threshold)
        if chosen is not None:
            return self._follow(StepKind.GLOBAL, chosen, emotion)
        if self._pending is not None:
            step = self._handle_slot(self._pending, utterance, emotion)
            if step is not None:
                return step
        chosen = self._best(self.node.transitions, utterance, emotion, source=self.node_id)
        if chosen is not None:
            return self._follow(StepKind.TRANSITION, chosen, emotion)
        return self._not_understood()

    # ---- slots ------------------------------------------------------------------------------
    def _handle_slot(self, slot: Slot, utterance: EmbeddedTurn, emotion: EmotionUpdate | None) -> Step | None:
        """Fill the pending slot; None lets the node's transitions have the turn."""
        if slot.kind is SlotKind.TEXT:
            chosen = self._best(self.node.transitions, utterance, emotion, source=self.node_id, words_only=True)
            if chosen is not None:
                return self._follow(StepKind.TRANSITION, chosen, emotion)
        dtmf = utterance.dtmf if slot.dtmf or slot.kind is SlotKind.YES_NO else ""
        value = extract(slot.kind, utterance.text, dtmf=dtmf, now=self.clock(), offers=self.offers)
        if value is None:
            chosen = self._best(self.node.transitions, utterance, emotion, source=self.node_id, words_only=True)
            if chosen is not None:
                return self._follow(StepKind.TRANSITION, chosen, emotion)
            attempts = self._attempts.get(slot.name, 0) + 1
            self._attempts[slot.name] = attempts
            if attempts >= self.spec.settings.max_slot_attempts:
                return self._fallback()
            builder = _StepBuilder(StepKind.SLOT)
            builder.prompts.append(self._prompt(self.node_id, "clarify", self.spec.settings.clarify))
            self._ask(slot, builder)
            return builder.build(self.node_id)
        if slot.kind is SlotKind.DATETIME and not self._bookable(value):
            # A time the caller asked for that is taken or outside hours: offer the nearest free ones.
            self.offers = self.compiled.schedule.offers(self.clock(), count=OFFER_COUNT,
                                                        prefer=datetime.fromisoformat(value.value))
            builder = _StepBuilder(StepKind.SLOT)
            builder.prompts.append(self._prompt(self.node_id, "unavailable", self.spec.settings.unavailable))
            builder.prompts.append(self._prompt(self.node_id, f"ask:{slot.name}", slot.ask))
            return builder.build(self.node_id)
        self.slots[slot.name] = value
        self._pending = None
        self._clarifications = 0
        builder = _StepBuilder(StepKind.SLOT)
        builder.filled[slot.name] = value
        self._continue(self.node, builder, emotion)
        return builder.build(self.node_id)

    def _bookable(self, value: SlotValue) -> bool:
        return self.compiled.schedule.is_free(datetime.fromisoformat(value.value))

    def _ask(self, slot: Slot, builder: _StepBuilder) -> None:
        self._pending = slot
        if slot.kind is SlotKind.DATETIME:
            self.offers = self.compiled.schedule.offers(self.clock(), count=OFFER_COUNT)
        builder.prompts.append(self._prompt(self.node_id, f"ask:{slot.name}", slot.ask))
        builder.topics.update(self.node.topics)

    # ---- moving -----------------------------------------------------------------------------
    def _follow(self, kind: StepKind, chosen: Chosen, emotion: EmotionUpdate | None = None) -> Step:
        self._clarifications = 0
        self._pending = None
        for name in chosen.clear:
            self.slots.pop(name, None)
        builder = _StepBuilder(kind, chosen)
        self._enter(chosen.target, builder, emotion)
        return builder.build(self.node_id)

    def _not_understood(self) -> Step:
        otherwise = next((t for t in self.node.transitions if t.otherwise and self._slots_hold(t.slots)), None)
        if otherwise is not None:
            return self._follow(StepKind.TRANSITION, Chosen(self.node_id, otherwise.to, 0.0, MatchedBy.OTHERWISE, False, tuple(otherwise.clear)))
        self._clarifications += 1
        if self._clarifications > self.spec.settings.max_clarifications:
            return self._fallback()
        builder = _StepBuilder(StepKind.CLARIFY)
        builder.prompts.append(self._prompt(self.node_id, "clarify", self.spec.settings.clarify))
        builder.topics.update(self.node.topics)
        if self._pending is not None:
            self._ask(self._pending, builder)
        return builder.build(self.node_id)

    def _fallback(self) -> Step:
        self._clarifications = 0
        self._pending = None
        target = self.spec.settings.fallback  # emotion-free: the fallback is the same for everyone
        builder = _StepBuilder(StepKind.FALLBACK, Chosen(self.node_id, target, 0.0, MatchedBy.FALLBACK, False))
        self._enter(target, builder)
        return builder.build(self.node_id)

    def _enter(self, node_id: str, builder: _StepBuilder, emotion: EmotionUpdate | None = None) -> None:
        if len(builder.path) >= MAX_HOPS:
            raise RuntimeError(f"graph loop: entered {MAX_HOPS} nodes in one turn ({' -> '.join(builder.path)})")
        node = self.compiled.nodes[node_id]
        self.node_id = node_id
        self.history.append(node_id)
        builder.path.append(node_id)
        builder.topics.update(node.topics)
        self._attempts = {}
        if node.say is not None:
            builder.prompts.append(self._prompt(node_id, "say", node.say))
        self._continue(node, builder, emotion)

    def _continue(self, node: Node, builder: _StepBuilder, emotion: EmotionUpdate | None) -> None:
        """After a node's line or a filled slot: ask the next slot, or move on without a caller turn."""
        missing = next((s for s in node.collect if s.required and s.name not in self.slots), None)
        if missing is not None:
            self._ask(missing, builder)
            return
        for action in node.actions:  # once the node's slots are in: a call-back needs the number
            self._run(action, builder)
        if node.ends_call:
            self.ended = True
            return
        auto = [t for t in node.transitions if not t.has_utterance_matcher and not t.otherwise]
        chosen = self._best(auto, EmbeddedTurn(""), emotion, source=node.id)
        if chosen is not None:
            for name in chosen.clear:
                self.slots.pop(name, None)
            builder.chosen = chosen  # the last transition taken explains where the step ended
            self._enter(chosen.target, builder, emotion)
        elif node.next:
            self._enter(node.next, builder, emotion)

    def _run(self, action: Action, builder: _StepBuilder) -> None:
        builder.actions.append(action)
        builder.taken.append(self.action_taken(action))
        self.actions.append(action)
        if isinstance(action, WebhookAction) and action.event == "appointment_booked":
            # The embedded schedule stands in for the clinic's calendar: the booked time is taken.
            when = self.slots.get("appointment")
            if when is not None and self._held_bookings is not None:
                self._held_bookings.append(datetime.fromisoformat(when.value))
            elif when is not None:
                self.compiled.schedule.book(datetime.fromisoformat(when.value))

    # ---- choosing ---------------------------------------------------------------------------
    def _best(
        self, transitions: list[Transition], utterance: EmbeddedTurn, emotion: EmotionUpdate | None,
        source: str, words_only: bool = False, threshold: float | None = None,
    ) -> Chosen | None:
        settings = self.spec.settings
        threshold = settings.match_threshold if threshold is None else threshold
        scored: list[tuple[float, bool, Transition, MatchedBy]] = []
        for t in transitions:
            if t.otherwise:
                continue
            if t.has_utterance_matcher:
                match = self.compiled.matcher.match(t, utterance)
                if match.score < threshold:
                    continue
                assert match.by is not None  # a score over the threshold has a reason
                by = match.by
            elif words_only:
                continue
            else:
                match, by = Match(1.0, MatchedBy.SLOTS), MatchedBy.SLOTS  # conditions only: holds or not
            if not self._slots_hold(t.slots):
                continue
            if t.emotion is not None and not emotion_holds(t.emotion, emotion):
                continue
            scored.append((match.score, t.emotion is not None, t, by))
        if not scored:
            return None
        best_score = max(s for s, *_ in scored)
        emotional = [x for x in scored if x[1] and x[0] >= best_score - settings.emotion_margin]
        score, is_emotional, transition, by = max(emotional or scored, key=lambda x: x[0])
        return Chosen(source, transition.to, round(score, 3), by, is_emotional, tuple(transition.clear))

    def _slots_hold(self, condition: SlotCondition | None) -> bool:
        if condition is None:
            return True
        if any(name not in self.slots for name in condition.filled):
            return False
        if any(name in self.slots for name in condition.missing):
            return False
        return all(name in self.slots and self.slots[name].value == want for name, want in condition.equals.items())

    # ---- lines ------------------------------------------------------------------------------
    def _prompt(self, node_id: str, kind: str, say: Say) -> Prompt:
        key = (node_id, kind)
        turn = self._said.get(key, 0)
        self._said[key] = turn + 1
        return Prompt(node_id, say, MappingProxyType(self._values()), turn)

    def _values(self) -> dict[str, str]:
        now = self.clock()
        values = {
            **self.compiled.clinic_values,
            "today": now.strftime("%A, %B %-d"),
            "offers": describe_times(self.offers, now) if self.offers else "",
        }
        values.update(self.spoken_slots())
        return values


class _StepBuilder:
    def __init__(self, kind: StepKind, chosen: Chosen | None = None) -> None:
        self.kind = kind
        self.chosen = chosen
        self.path: list[str] = []
        self.prompts: list[Prompt] = []
        self.topics: set[Topic] = set()
        self.actions: list[Action] = []
        self.filled: dict[str, SlotValue] = {}
        self.taken: list[ActionTaken] = []

    def build(self, node: str) -> Step:
        return Step(self.kind, tuple(self.path), tuple(self.prompts), frozenset(self.topics), tuple(self.actions),
                    self.chosen, MappingProxyType(dict(self.filled)), node, tuple(self.taken))


def emotion_holds(condition: EmotionCondition, emotion: EmotionUpdate | None) -> bool:
    """Every given field must hold. No reading (or the service is down): nothing holds, so calls
    take the plain paths the graph would take without emotion."""
    if emotion is None or not emotion.available or emotion.readings == 0:
        return False
    if condition.valence_below is not None and not emotion.valence < condition.valence_below:
        return False
    if condition.arousal_above is not None and not emotion.arousal > condition.arousal_above:
        return False
    if condition.trend is not None and emotion.trend is not condition.trend:
        return False
    if condition.coherence_below is not None and not emotion.coherence < condition.coherence_below:
        return False
    if condition.burst and not any(b.name in condition.burst for b in emotion.recent_bursts):
        return False
    return True


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _first_sentence(text: str) -> str:
    return next(iter(split_sentences(text)), "")


def describe_hours(hours: Mapping[str, str]) -> str:
    """"Monday to Friday 8 AM to 6 PM, Saturday 9 AM to 12 PM": consecutive days with the same
    hours are grouped; closed days are left out."""
    groups: list[tuple[list[str], str]] = []
    for day in _DAYS:
        span = hours.get(day, "closed")
        if groups and groups[-1][1] == span and _DAYS.index(groups[-1][0][-1]) == _DAYS.index(day) - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], span))
    parts = []
    for days, span in groups:
        if span == "closed":
            continue
        name = days[0].title() if len(days) == 1 else f"{days[0].title()} to {days[-1].title()}"
        parts.append(f"{name} {_clock(span[:5])} to {_clock(span[6:])}")
    return ", ".join(parts) if parts else "by appointment only"


def _clock(hhmm: str) -> str:
    hour, minute = int(hhmm[:2]), int(hhmm[3:])
    suffix = "AM" if hour < 12 else "PM"
    hour12 = hour % 12 or 12
    return f"{hour12} {suffix}" if minute == 0 else f"{hour12}:{minute:02d} {suffix}"


__all__ = ["ActionTaken", "CallerInput", "Chosen", "CompiledGraph", "Navigator", "Prompt", "Step", "StepKind", "describe_hours", "emotion_holds"]
