"""The conversation graph a clinic admin edits (``configs/graphs/*.yaml``), as pydantic models.

One file is one :class:`GraphSpec`: the clinic's facts, navigator settings, named intents,
global transitions (emergency, operator) and a list of nodes. A node is an action: it may
*say* something (variants per :class:`~tts.expression.Expression`, with ``{slot}``
placeholders), give the LLM *instructions*, *collect* slots, mark sensitive *topics*, run
*actions*, and leave by *transitions* (or straight on with ``next``). ``bedside graph schema``
prints this as JSON Schema so editors autocomplete; docs/graph.md explains each field.

These models check shape and ranges only. Whole-graph checks (dangling targets, unreachable
nodes, dead ends, placeholders never collected ...) are in :mod:`graph.validate`."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emotion.events import Trend
from tts.expression import Expression

Lines = str | list[str]
"""One line, or several said in turn (a repeat of the node says the next one)."""

NODE_ID = r"^[a-z][a-z0-9_]*$"
SLOT_NAME = r"^[a-z][a-z0-9_]*$"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
"""``{full_name}``, ``{clinic.phone}``: slot names and built-ins (see :data:`BUILTIN_PLACEHOLDERS`)."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Topic(StrEnum):
    """Sensitive content. A node marked with one is delivered gently from its first word, and
    the LLM is told what it must not do there (docs/graph.md)."""

    DIAGNOSIS = "diagnosis"
    TEST_RESULTS = "test_results"
    BILLING = "billing"
    MISSED_APPOINTMENT = "missed_appointment"
    BEREAVEMENT = "bereavement"
    MENTAL_HEALTH = "mental_health"
    EMERGENCY = "emergency"
    MEDICATION = "medication"


class SlotKind(StrEnum):
    NAME = "name"  # a person's name, "Maria Lopez"
    DATE_OF_BIRTH = "date_of_birth"  # a past date; keypad MMDDYYYY allowed
    DATETIME = "datetime"  # an appointment time, "Tuesday at 3 pm", or one of the offers read out
    PHONE = "phone"  # a phone number; keypad allowed
    DIGITS = "digits"  # a number spoken or keyed, e.g. a reference number
    TEXT = "text"  # whatever the caller says, e.g. the medication name or a reason
    YES_NO = "yes_no"  # consent, confirmations


class Say(_Spec):
    """Variants of one line per expression. ``neutral`` is required; a missing variant falls
    back along :data:`EXPRESSION_FALLBACK` to ``neutral``."""

    neutral: Lines
    calm: Lines | None = None
    sympathetic: Lines | None = None
    concerned: Lines | None = None
    enthusiastic: Lines | None = None
    direct: Lines | None = None
    urgent: Lines | None = None

    @field_validator("*")
    @classmethod
    def _not_empty(cls, value: Lines | None) -> Lines | None:
        if value is not None and (value == [] or (isinstance(value, str) and not value.strip())
                                  or (isinstance(value, list) and any(not v.strip() for v in value))):
            raise ValueError("a line must not be empty")
        return value

    def variants(self, expression: Expression) -> list[str]:
        """The lines for ``expression``, falling back towards neutral."""
        expression = Expression(expression)
        for candidate in (expression, *EXPRESSION_FALLBACK.get(expression, ()), Expression.NEUTRAL):
            lines = getattr(self, candidate.value)
            if lines is not None:
                return [lines] if isinstance(lines, str) else list(lines)
        raise AssertionError("neutral is required")  # pragma: no cover - pydantic enforces it

    def all_lines(self) -> list[str]:
        out: list[str] = []
        for expression in Expression:
            lines = getattr(self, expression.value)
            if lines is not None:
                out.extend([lines] if isinstance(lines, str) else lines)
        return out


EXPRESSION_FALLBACK: dict[Expression, tuple[Expression, ...]] = {
    Expression.CONCERNED: (Expression.SYMPATHETIC, Expression.CALM),
    Expression.SYMPATHETIC: (Expression.CALM,),
    Expression.CALM: (Expression.SYMPATHETIC,),
    Expression.URGENT: (Expression.DIRECT,),
    Expression.DIRECT: (),
    Expression.ENTHUSIASTIC: (),
}


class Slot(_Spec):
    """Something the node collects. Asked in order; each is asked until it is filled (at most
    ``settings.max_slot_attempts`` times, then the graph's fallback)."""

    name: str = Field(pattern=SLOT_NAME, description="placeholder name, e.g. full_name -> {full_name}")
    kind: SlotKind
    ask: Say = Field(description="how the slot is asked for")
    dtmf: bool = Field(False, description="the caller may key it (digits, phone, date of birth as MMDDYYYY)")
    required: bool = True


class ActionType(StrEnum):
    TRANSFER = "transfer"
    END_CALL = "end_call"
    CALLBACK = "callback"
    WEBHOOK = "webhook"


class TransferAction(_Spec):
    type: Literal[ActionType.TRANSFER]
    to: str = Field(description="a name in sip.transfer_targets (operator, nurse, emergency ...)")
    reason: str = ""


class EndCallAction(_Spec):
    type: Literal[ActionType.END_CALL]


class CallbackAction(_Spec):
    """A call-back request for the clinic's staff, stored with the call record."""

    type: Literal[ActionType.CALLBACK]
    team: str = Field(description="who calls back: clinician, billing, front_desk ...")
    reason: str = ""
    priority: Literal["routine", "urgent"] = "routine"
    include: list[str] = Field(default_factory=list, description="slots copied into the request")


class WebhookAction(_Spec):
    """Hands collected slots to the clinic's systems (booking, refill queue). Without ``url`` the
    request is only stored with the call record, for staff to action."""

    type: Literal[ActionType.WEBHOOK]
    event: str = Field(pattern=SLOT_NAME, description="what happened, e.g. appointment_booked")
    url: str | None = Field(None, pattern=r"^https?://")
    include: list[str] = Field(default_factory=list, description="slots sent with the event")
    timeout_s: float = Field(3.0, gt=0, le=30)


Action = Annotated[TransferAction | EndCallAction | CallbackAction | WebhookAction, Field(discriminator="type")]


class Intent(_Spec):
    """What a caller means, by example. Matched by sentence embeddings (MiniLM) against the
    examples, and by keywords (whole words or phrases, case-insensitive)."""

    examples: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_something(self) -> Intent:
        if not self.examples and not self.keywords:
            raise ValueError("an intent needs examples or keywords")
        return self


class SlotCondition(_Spec):
    filled: list[str] = Field(default_factory=list, description="these slots have values")
    missing: list[str] = Field(default_factory=list, description="these slots have no value")
    equals: dict[str, str] = Field(default_factory=dict, description="slot -> value, e.g. consent: 'yes'")


class EmotionCondition(_Spec):
    """Prefers this transition over the others that match when the caller's state fits. All
    given fields must hold (AND). Never makes a transition match on its own."""

    valence_below: float | None = Field(None, ge=-1.0, le=1.0)
    arousal_above: float | None = Field(None, ge=0.0, le=1.0)
    trend: Trend | None = None
    burst: list[str] = Field(default_factory=list, description="any of these burst types within the window")
    coherence_below: float | None = Field(None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _has_something(self) -> EmotionCondition:
        if (self.valence_below, self.arousal_above, self.trend, self.coherence_below) == (None,) * 4 and not self.burst:
            raise ValueError("an emotion condition needs at least one field")
        return self


class Transition(_Spec):
    """Where to go next. Matches on any of intent / examples / keywords / dtmf, and then needs
    its ``slots`` condition too. ``otherwise`` matches when nothing else does."""

    to: str = Field(pattern=NODE_ID)
    intent: str | None = Field(None, description="a name under intents:")
    examples: list[str] = Field(default_factory=list, description="example phrases just for this transition")
    keywords: list[str] = Field(default_factory=list)
    dtmf: str | None = Field(None, pattern=r"^[0-9*#]{1,8}$")
    slots: SlotCondition | None = None
    emotion: EmotionCondition | None = None
    otherwise: bool = False
    clear: list[str] = Field(default_factory=list, description="slots forgotten when taken, so they are asked again")

    @model_validator(mode="after")
    def _matches_something(self) -> Transition:
        matchers = (self.intent, self.examples, self.keywords, self.dtmf, self.slots)
        if not any(matchers) and not self.otherwise:
            raise ValueError("a transition needs intent, examples, keywords, dtmf, slots or otherwise: true")
        return self

    @property
    def has_utterance_matcher(self) -> bool:
        return bool(self.intent or self.examples or self.keywords or self.dtmf)


class Node(_Spec):
    id: str = Field(pattern=NODE_ID)
    say: Say | None = None
    instructions: str | None = Field(None, description="guidance for the LLM when one words the replies")
    collect: list[Slot] = Field(default_factory=list)
    topics: list[Topic] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list, description="run once the node's slots are collected (at once if it collects none)")
    transitions: list[Transition] = Field(default_factory=list)
    next: str | None = Field(None, pattern=NODE_ID, description="go straight on after speaking (no caller turn)")

    @property
    def ends_call(self) -> bool:
        return any(a.type in (ActionType.END_CALL, ActionType.TRANSFER) for a in self.actions)


class ClinicFacts(_Spec):
    """What the agent may tell anyone (no PHI). Also available as ``{clinic.name}`` etc."""

    name: str
    phone: str = ""
    address: str = ""
    directions: str = ""
    hours: dict[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"], str] = Field(
        default_factory=dict, description="day -> 'HH:MM-HH:MM' or 'closed'"
    )
    appointment_minutes: int = Field(20, ge=5, le=240, description="length of a bookable slot")
    facts: list[str] = Field(default_factory=list, description="anything else the LLM may say")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        for day, span in value.items():
            if span != "closed" and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", span):
                raise ValueError(f"{day}: hours must be 'HH:MM-HH:MM' or 'closed', not {span!r}")
            if span != "closed" and span[:5] >= span[6:]:
                raise ValueError(f"{day}: opening {span[:5]} is not before closing {span[6:]}")
        return value


class GraphSettings(_Spec):
    start: str = Field(pattern=NODE_ID, description="the node said when the call is answered")
    fallback: str = Field(pattern=NODE_ID, description="where a caller goes after too many misunderstandings")
    match_threshold: float = Field(0.5, gt=0, lt=1, description="a transition needs at least this confidence")
    global_threshold: float = Field(
        0.65, gt=0, lt=1,
        description="global transitions need this confidence from example phrases (their keywords always count): "
        "they interrupt any node, so a loose match must not send a caller with a headache to emergency",
    )
    emotion_margin: float = Field(
        0.15, ge=0, le=1, description="an emotional transition wins over a better-matching plain one within this"
    )
    max_clarifications: int = Field(2, ge=0, le=10, description="clarifying questions in a row before the fallback")
    max_slot_attempts: int = Field(3, ge=1, le=10, description="times a slot is asked before the fallback")
    unavailable: Say = Field(
        default_factory=lambda: Say(neutral="Sorry, that time isn't available."),
        description="said when the caller asks for an appointment time that is taken or outside opening hours",
    )
    clarify: Say = Field(
        default_factory=lambda: Say(
            neutral="Sorry, I didn't quite get that. Could you say it another way?",
            sympathetic="I'm sorry, I didn't quite catch that. Could you tell me again?",
        ),
        description="said when nothing matches the caller's words",
    )


class GraphSpec(_Spec):
    version: Literal[1] = 1
    clinic: ClinicFacts
    settings: GraphSettings
    intents: dict[str, Intent] = Field(default_factory=dict)
    global_transitions: list[Transition] = Field(
        default_factory=list, description="checked first, from every node: emergency words, asking for a person"
    )
    nodes: list[Node]

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


BUILTIN_PLACEHOLDERS = frozenset(
    {f"clinic.{name}" for name in ("name", "phone", "address", "directions", "hours")} | {"offers", "today", "records.notice"}
)
"""Placeholders filled by the navigator, not by slots: clinic facts, ``{offers}`` (the
appointment times offered, in words), ``{today}``, and ``{records.notice}`` (what is kept of
the call and for how long, written by the server from its ``records.*`` settings so that what
callers hear is what is done)."""


__all__ = [
    "BUILTIN_PLACEHOLDERS",
    "EXPRESSION_FALLBACK",
    "PLACEHOLDER",
    "Action",
    "ActionType",
    "CallbackAction",
    "ClinicFacts",
    "EmotionCondition",
    "EndCallAction",
    "GraphSettings",
    "GraphSpec",
    "Intent",
    "Lines",
    "Node",
    "Say",
    "Slot",
    "SlotCondition",
    "SlotKind",
    "Topic",
    "TransferAction",
    "Transition",
    "WebhookAction",
]
