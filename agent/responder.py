"""The seam where the conversation logic plugs into the call: turn in, reply out.

Until the conversation graph lands, two responders exist: ``ScriptedResponder`` (the
configured greeting and reply; it does not need the transcript, so its reply can start
the moment the caller stops speaking) and ``EchoResponder`` (QA: repeats what it heard,
so a test can check the whole ear-to-mouth path). The graph navigator and the LLM
responder implement the same protocol."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from agent.config import TurnConfig


@dataclass(frozen=True, slots=True)
class CallerTurn:
    call_id: str
    index: int
    transcript: str | None  # None when the responder did not wait for STT
    dtmf: str = ""
    speech_s: float = 0.0


@dataclass(frozen=True, slots=True)
class AgentReply:
    text: str
    end_call: bool = False
    scripted: bool = True  # fixed wording: eligible for the pre-synthesized phrase cache


class Responder(Protocol):
    needs_transcript: bool

    def greeting(self) -> AgentReply: ...

    async def respond(self, turn: CallerTurn) -> AgentReply: ...

    def scripted_lines(self) -> list[str]:
        """Every fixed line this responder can say, for pre-synthesis at start-up."""
        ...


class ResponderKind(StrEnum):
    SCRIPTED = "scripted"
    ECHO = "echo"


class ScriptedResponder:
    needs_transcript = False

    def __init__(self, config: TurnConfig) -> None:
        self._config = config

    def greeting(self) -> AgentReply:
        return AgentReply(self._config.greeting)

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


def create_responder(kind: ResponderKind, config: TurnConfig) -> Responder:
    return {ResponderKind.SCRIPTED: ScriptedResponder, ResponderKind.ECHO: EchoResponder}[kind](config)
