"""The server-wide count of callers waiting for a reply (agent/call/turns_in_flight.py)."""

from __future__ import annotations

from agent.call.turns_in_flight import TurnsInFlight


def test_a_turn_is_in_flight_until_its_end_is_called_once() -> None:
    turns = TurnsInFlight()
    assert not turns.any
    first, second = turns.begin(), turns.begin()
    first()
    first()  # a second call (first audio, then the turn's clean-up) counts once
    assert turns.any
    second()
    assert not turns.any
