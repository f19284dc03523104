"""The turn loop's clocks: the call's length limit, the keypad pause, the caller's silence.

Pure logic over a monotonic ``now``: the loop asks :meth:`TurnTimers.due` after every frame
and on every tick and acts on the answer, so the rules are testable without any waiting."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agent.call.turn_config import TurnConfig

IDLE_TICK_S = 0.5  # the loop wakes at least this often when nothing arrives


class TimerDue(StrEnum):
    MAX_CALL = "max_call"  # the call reached turn.max_call_s: say the limit line and end it
    DIGITS = "digits"  # the caller stopped pressing keys (or pressed all an answer needs): the digits are a turn
    REPROMPT = "reprompt"  # the caller has been silent for turn.reprompt_after_s
    SILENCE_GOODBYE = "silence_goodbye"  # ... and was reprompted turn.max_reprompts times


@dataclass(slots=True)
class TurnTimers:
    config: TurnConfig
    deadline: float  # monotonic end of the allowed call length
    last_activity: float  # the caller or the agent last did something
    reprompts: int = 0  # in a row, since the caller last did something
    digits: str = ""  # keypad digits collected, not yet a turn
    digit_at: float = 0.0
    digits_complete: bool = False  # the digits already answer the turn: no need to wait for the pause

    @classmethod
    def start(cls, config: TurnConfig, now: float) -> TurnTimers:
        return cls(config, now + config.max_call_s, now)

    def caller_active(self, now: float) -> None:
        """The caller said or pressed something: silence counting starts again."""
        self.last_activity = now
        self.reprompts = 0

    def agent_active(self, now: float) -> None:
        """The agent is busy or just finished speaking: silence is counted from here."""
        self.last_activity = now

    def add_digit(self, digit: str, now: float, complete: bool = False) -> None:
        """A key; ``complete``: with it the digits answer the turn (``#``, or all an answer needs)."""
        self.digits += digit
        self.digit_at = now
        self.digits_complete = complete

    def take_digits(self) -> str:
        """The entry, as a turn: a ``#`` that ended keys before it is not part of it."""
        digits, self.digits, self.digits_complete = self.digits, "", False
        return digits[:-1] if len(digits) > 1 and digits.endswith("#") else digits

    def next_wait(self, now: float) -> float:
        """How long the loop may wait for a frame before the next timer could fire."""
        waits = [self.deadline - now, IDLE_TICK_S]
        if self.digits:
            waits.append(0.0 if self.digits_complete else self.digit_at + self.config.dtmf_timeout_s - now)
        return max(0.01, min(waits))

    def due(self, now: float, busy: bool) -> TimerDue | None:
        """What is due at ``now``; ``busy``: someone is speaking or a reply is under way
        (silence is not counted then)."""
        if now >= self.deadline:
            return TimerDue.MAX_CALL
        if self.digits and (self.digits_complete or now - self.digit_at >= self.config.dtmf_timeout_s):
            return TimerDue.DIGITS
        if busy:
            self.last_activity = now
            return None
        if now - self.last_activity < self.config.reprompt_after_s:
            return None
        if self.reprompts >= self.config.max_reprompts:
            return TimerDue.SILENCE_GOODBYE
        return TimerDue.REPROMPT

    def reprompted(self, now: float) -> int:
        """Count a reprompt; returns its number (1, 2 ...)."""
        self.reprompts += 1
        self.last_activity = now
        return self.reprompts


__all__ = ["IDLE_TICK_S", "TimerDue", "TurnTimers"]
