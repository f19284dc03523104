"""The turn loop's clocks as pure rules (agent/call/turn_timers.py)."""

from __future__ import annotations

import pytest

from agent.call.turn_config import TurnConfig
from agent.call.turn_timers import IDLE_TICK_S, TimerDue, TurnTimers

CONFIG = TurnConfig(reprompt_after_s=8.0, max_reprompts=2, dtmf_timeout_s=2.0, max_call_s=900.0)


def test_silence_reprompts_twice_then_says_goodbye() -> None:
    timers = TurnTimers.start(CONFIG, 0.0)
    assert timers.due(7.9, busy=False) is None
    assert timers.due(8.0, busy=False) is TimerDue.REPROMPT
    assert timers.reprompted(8.0) == 1
    assert timers.due(15.9, busy=False) is None
    assert timers.due(16.0, busy=False) is TimerDue.REPROMPT and timers.reprompted(16.0) == 2
    assert timers.due(24.0, busy=False) is TimerDue.SILENCE_GOODBYE


def test_busy_time_is_not_silence_and_the_caller_resets_the_count() -> None:
    timers = TurnTimers.start(CONFIG, 0.0)
    assert timers.due(30.0, busy=True) is None  # the agent talked (or the caller did) until 30 s
    assert timers.due(37.9, busy=False) is None
    timers.reprompted(38.0)
    timers.caller_active(40.0)
    assert timers.reprompts == 0 and timers.due(47.9, busy=False) is None


def test_digits_wait_for_the_pause_and_are_taken_once() -> None:
    timers = TurnTimers.start(CONFIG, 0.0)
    timers.add_digit("1", 1.0)
    timers.add_digit("2", 2.0)
    assert timers.due(3.9, busy=False) is None
    assert timers.next_wait(3.5) == pytest.approx(0.5)
    assert timers.due(4.0, busy=True) is TimerDue.DIGITS  # keys do not wait for the agent to finish
    assert timers.take_digits() == "12" and timers.digits == ""


def test_digits_that_already_answer_the_turn_are_taken_without_the_pause() -> None:
    timers = TurnTimers.start(CONFIG, 0.0)
    timers.add_digit("0", 1.0)
    assert timers.due(1.0, busy=False) is None
    timers.add_digit("3", 1.2, complete=True)
    assert timers.next_wait(1.2) == 0.01 and timers.due(1.2, busy=True) is TimerDue.DIGITS
    assert timers.take_digits() == "03" and not timers.digits_complete
    timers.add_digit("1", 5.0)  # the next entry waits for its pause again
    assert timers.due(6.9, busy=False) is None


def test_the_call_limit_comes_first_and_bounds_the_wait() -> None:
    timers = TurnTimers.start(TurnConfig(max_call_s=60.0), 0.0)
    timers.add_digit("5", 59.5)
    assert timers.due(60.0, busy=True) is TimerDue.MAX_CALL
    assert timers.next_wait(59.9) == pytest.approx(0.1)
    assert TurnTimers.start(CONFIG, 0.0).next_wait(0.0) == IDLE_TICK_S
