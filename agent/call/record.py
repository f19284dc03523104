"""What a call leaves behind: the typed call record and its actions.

Every action the call decided is one frozen variant (a call-back request, a webhook, a
transfer, the urgency flag, the graph's end of call), appended the moment it is decided, so a
hang-up never loses a request, and written to the records store (:func:`journal_entry`) at the
same moment. Slot values (PHI) go only there, encrypted, for staff; logs get :meth:`log_fields`
(kind and target, never slot values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar

from agent.services.records.entries import ActionLogged, WebhookOrder
from emotion.events import EmotionUpdate
from emotion.timeline import Timeline
from graph.navigator import ActionTaken
from graph.schema import CallbackAction, EndCallAction, TransferAction, WebhookAction

_NO_SLOTS: Mapping[str, str] = MappingProxyType({})
TRANSFER_NODE = "transfer"  # the node of a call-back left by a transfer nobody answered


class ActionKind(StrEnum):
    CALLBACK = "callback"
    WEBHOOK = "webhook"
    TRANSFER = "transfer"
    URGENCY = "urgency"
    END_OF_CALL = "end_call"


class Priority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


@dataclass(frozen=True, slots=True)
class Callback:
    """Staff should call the caller back (the graph asked, or a transfer did not connect)."""

    kind: ClassVar[ActionKind] = ActionKind.CALLBACK
    team: str
    reason: str = ""
    priority: Priority = Priority.ROUTINE
    node: str = ""
    slots: Mapping[str, str] = field(default_factory=lambda: _NO_SLOTS)

    def log_fields(self) -> dict[str, str]:
        return {"team": self.team, "priority": str(self.priority)}


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """How sending a webhook went (never its payload)."""

    delivered: bool
    ms: int
    status: int | None = None  # HTTP status, when there was a response
    error: str | None = None  # the exception's type, when there was none


@dataclass(frozen=True, slots=True)
class Webhook:
    """An event for the clinic's systems; without ``url`` it is only kept in the record."""

    kind: ClassVar[ActionKind] = ActionKind.WEBHOOK
    event: str
    url: str | None = None
    timeout_s: float = 3.0
    node: str = ""
    slots: Mapping[str, str] = field(default_factory=lambda: _NO_SLOTS)
    delivery: WebhookDelivery | None = None  # set when the POST has finished

    def log_fields(self) -> dict[str, str]:
        return {"hook": self.event}

    def payload(self, call_id: str) -> dict[str, object]:
        """The JSON body the clinic's system receives (slots are PHI)."""
        return {"event": self.event, "call_id": call_id, "node": self.node or None, "slots": dict(self.slots)}


@dataclass(frozen=True, slots=True)
class Transfer:
    """The caller is being put through to a person (``to`` names a sip.transfer_targets entry)."""

    kind: ClassVar[ActionKind] = ActionKind.TRANSFER
    to: str
    reason: str = ""
    node: str = ""

    def log_fields(self) -> dict[str, str]:
        return {"to": self.to}


@dataclass(frozen=True, slots=True)
class Urgency:
    """The caller sounded negative for long enough to raise the urgency flag."""

    kind: ClassVar[ActionKind] = ActionKind.URGENCY
    negative_s: float
    valence: float

    def log_fields(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True, slots=True)
class EndOfCall:
    """The conversation graph ended the call at ``node``."""

    kind: ClassVar[ActionKind] = ActionKind.END_OF_CALL
    node: str = ""

    def log_fields(self) -> dict[str, str]:
        return {}


RecordedAction = Callback | Webhook | Transfer | Urgency | EndOfCall


def journal_entry(action: RecordedAction, call_id: str, seq: int, decided_at: datetime) -> ActionLogged:
    """The records store's entry for an action (agent/services/records): written the moment it is
    decided. A call-back is a work item for staff; a webhook with a URL goes to the outbox."""
    match action:
        case Callback():
            work = "unanswered_transfer" if action.node == TRANSFER_NODE else "callback"
            return ActionLogged(call_id, seq, decided_at, action.kind, action.node or None, action.team,
                                str(action.priority), action.reason, action.slots, work_item=work)
        case Webhook():
            order = WebhookOrder(action.url, action.timeout_s, action.payload(call_id)) if action.url else None
            return ActionLogged(call_id, seq, decided_at, action.kind, action.node or None, action.event,
                                slots=action.slots, webhook=order)
        case Transfer():
            return ActionLogged(call_id, seq, decided_at, action.kind, action.node or None, action.to, reason=action.reason)
        case Urgency():
            return ActionLogged(call_id, seq, decided_at, action.kind, "urgency", priority=str(Priority.URGENT),
                                reason=f"negative for {action.negative_s:g} s (valence {action.valence:+.2f})")
        case EndOfCall():
            return ActionLogged(call_id, seq, decided_at, action.kind, action.node or None)
    raise TypeError(f"no journal entry for {type(action).__name__}")


def from_graph(taken: ActionTaken) -> RecordedAction:
    """The record's variant of a graph action the call reached."""
    action, node, slots = taken.action, taken.node, MappingProxyType(dict(taken.slots))
    match action:
        case CallbackAction():
            return Callback(action.team, action.reason, Priority(action.priority), node, slots)
        case WebhookAction():
            return Webhook(action.event, action.url, action.timeout_s, node, slots)
        case TransferAction():
            return Transfer(action.to, action.reason, node)
        case EndCallAction():
            return EndOfCall(node)
    raise TypeError(f"no record variant for {type(action).__name__}")


@dataclass(slots=True)
class CallRecord:
    """One call's outcome, filled in as the call goes, on the call's event loop only (the turn loop
    and its reply tasks)."""

    call_id: str
    turns: int = 0
    barge_ins: int = 0
    reprompts: int = 0
    end_reason: str = ""
    transcripts: list[str] = field(default_factory=list)
    emotion: EmotionUpdate | None = None  # the caller's state when the call ended
    emotion_timeline: Timeline | None = None  # scores per segment/utterance, states, bursts (no words)
    nodes: list[str] = field(default_factory=list)  # graph node after each reply
    actions: list[RecordedAction] = field(default_factory=list)
    handed_off: bool = False  # a person took the call over (bridged transfer)

    @property
    def urgent(self) -> bool:
        """The urgency flag went up (agent/call/call_phase.py)."""
        return any(isinstance(a, Urgency) for a in self.actions)

    def add(self, action: RecordedAction) -> int:
        """Append an action; returns its index (a webhook's delivery is filled in there later)."""
        self.actions.append(action)
        return len(self.actions) - 1

    def delivered(self, index: int, delivery: WebhookDelivery) -> None:
        webhook = self.actions[index]
        if not isinstance(webhook, Webhook):
            raise TypeError(f"action {index} is a {webhook.kind}, not a webhook")
        self.actions[index] = replace(webhook, delivery=delivery)

__all__ = [
    "ActionKind", "CallRecord", "Callback", "EndOfCall", "Priority", "RecordedAction", "Transfer", "Urgency",
    "TRANSFER_NODE", "Webhook", "WebhookDelivery", "from_graph", "journal_entry",
]
