"""The bench's clinic conversation (agent/app/bench_conversation.py): it walks the shipped clinic
graph the whole way, and the caller's timings join the server's turns per call and in order."""

from __future__ import annotations

from datetime import datetime

import pytest

from agent.app.bench_conversation import (
    DATE_OF_BIRTH_KEYED,
    CallerTiming,
    as_script,
    completed_calls,
    conversation,
    server_turns,
    timings_by_kind,
)
from graph.config import DEFAULT_GRAPH
from graph.navigator import CallerInput, CompiledGraph, Navigator, StepKind
from graph.validate import load_graph

NOW = datetime(2026, 12, 1, 10, 15)  # a Tuesday morning: times are on offer


@pytest.fixture(scope="module")
def clinic(text_encoder) -> CompiledGraph:
    return CompiledGraph(load_graph(DEFAULT_GRAPH), text_encoder, version="test")


@pytest.mark.parametrize("call_no", [0, 1])
def test_the_conversation_walks_the_clinic_graph_to_its_goodbye(clinic: CompiledGraph, call_no: int) -> None:
    steps = conversation(call_no)
    assert ("dtmf" in [s.kind for s in steps]) is (call_no % 2 == 1)  # odd calls key the date of birth
    nav = Navigator(clinic, clock=lambda: NOW)
    nav.start()
    path = []
    for step in steps:
        said = CallerInput(dtmf=step.value) if step.kind == "dtmf" else CallerInput(step.value)
        taken = nav.handle(said, None)
        assert taken.kind not in (StepKind.CLARIFY, StepKind.FALLBACK), (step, taken.node)
        path += taken.path
    for node in ("identify", "menu", "hours", "booking", "booking_confirm", "booked", "goodbye"):
        assert node in path, path
    assert taken.end_call and nav.identity_verified


def test_the_script_plays_spoken_lines_from_their_files_and_keys_digits() -> None:
    steps = conversation(1)
    files = {s.value: f"/tmp/{n}.wav" for n, s in enumerate(steps) if s.kind == "say"}
    script = as_script(steps, files)  # type: ignore[arg-type]
    assert ("dtmf", DATE_OF_BIRTH_KEYED) in script
    assert script[0] == ("play", files["Yes, that's fine."]) and len(script) == len(steps)


EVENTS = [
    {"event": "call_started", "call_id": "in-1", "sip_call_id": "abc"},
    {"event": "call_started", "call_id": "in-2", "sip_call_id": "def"},
    {"event": "call_started", "call_id": "wr-3"},  # a browser call: no SIP Call-ID, its own id instead
    # Logged when each reply's first audio plays: a later turn's line can come first.
    {"event": "turn", "call_id": "in-1", "turn": 2, "input": "keypad", "reply": "synthesized"},
    {"event": "turn", "call_id": "in-1", "turn": 1, "input": "voice", "reply": "cached"},
    {"event": "turn", "call_id": "in-1", "turn": 3, "input": "voice", "reply": "synthesized"},
    {"event": "turn", "call_id": "in-2", "turn": 1, "input": "voice", "reply": "cached"},
    {"event": "turn", "call_id": "in-2", "turn": 2, "input": "voice", "reply": "cached"},  # one sentence split in two
    {"event": "turn", "call_id": "wr-3", "turn": 1, "input": "voice", "reply": "prepared"},
    {"event": "call_ended", "call_id": "in-1", "reason": "responder ended call"},
    {"event": "call_ended", "call_id": "in-2", "reason": "caller hung up"},
]


def test_caller_timings_are_joined_to_the_servers_turns_by_call_and_order() -> None:
    server = server_turns(EVENTS)
    assert set(server) == {"abc", "def", "wr-3"}
    assert [t["turn"] for t in server["abc"]] == [1, 2, 3]
    calls = [
        CallerTiming("abc", (("voice", 410.0), ("keypad", 2300.0), ("voice", 650.0))),
        CallerTiming("def", (("voice", 420.0),)),  # the server heard two turns: not paired
        CallerTiming("wr-3", (("voice", 380.0),)),  # the browser call, by the id in the console's answer
        CallerTiming("", (("voice", 430.0), ("voice", None))),  # no key; no agent audio after the last line
    ]
    assert timings_by_kind(calls, server) == {
        "cached": [410.0], "keypad": [2300.0], "synthesized": [650.0], "prepared": [380.0], "unmatched": [420.0, 430.0],
    }
    assert completed_calls(EVENTS) == 1


def test_a_call_whose_inputs_disagree_with_the_servers_is_not_paired() -> None:
    server = server_turns(EVENTS)
    swapped = CallerTiming("abc", (("keypad", 400.0), ("voice", 500.0), ("voice", 600.0)))
    assert timings_by_kind([swapped], server) == {"keypad": [400.0], "unmatched": [500.0, 600.0]}


def test_timings_survive_the_trip_between_processes_as_json() -> None:
    timing = CallerTiming("abc", (("voice", 410.5), ("keypad", None)))
    assert CallerTiming.from_json(timing.to_json()) == timing
