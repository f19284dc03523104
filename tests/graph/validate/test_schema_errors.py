"""graph/validate/schema_errors.py: pydantic's errors worded for the admin, at the key or value
that is wrong: unknown keys with a did-you-mean, wrong types, enums, tags, ranges, and model
rules."""

from __future__ import annotations

from pathlib import Path

from tests.graph.validate.helpers import BASE, at, error_lines, has, one


def test_unknown_keys_with_did_you_mean(tmp_path: Path) -> None:
    text = BASE.replace("    transitions:", "    trasitions:")
    _, errors = error_lines(tmp_path, text)
    assert errors[0] == f"{tmp_path / 'g.yaml'}:{at(text, 'trasitions')}: unknown key 'trasitions' (did you mean 'transitions'?)"
    text = BASE.replace("nodes:", "node:")
    path, errors = error_lines(tmp_path, text)
    has(errors, path, at(text, "node:"), "unknown key 'node'", "did you mean 'nodes'?")
    has(errors, path, "1:1", "missing required key 'nodes'")
    text = BASE.replace("  name: Test Clinic", "  name: Test Clinic\n  zzzz: 1")
    one(tmp_path, text, at(text, "zzzz"), "unknown key 'zzzz'", "allowed here: name, phone")


def test_unknown_key_inside_an_action_uses_that_action_type(tmp_path: Path) -> None:
    text = BASE.replace("      - type: end_call", "      - type: transfer\n        too: nurse")
    path, errors = error_lines(tmp_path, text)
    assert len(errors) == 2, errors
    has(errors, path, at(text, "too:"), "unknown key 'too' (did you mean 'to'?)")
    has(errors, path, at(text, "type: transfer"), "missing required key 'to'")
    text = BASE.replace("type: end_call", "type: endcall")
    one(tmp_path, text, at(text, "endcall"), "unknown type 'endcall'", "did you mean 'end_call'?", "transfer, end_call")
    text = BASE.replace("type: end_call", "kind: end_call")
    one(tmp_path, text, at(text, "kind:"), "missing 'type'", "transfer, end_call, callback, webhook")


# --- c. wrong types ---------------------------------------------------------------------------


def test_wrong_types_are_readable_and_point_at_the_value(tmp_path: Path) -> None:
    text = BASE.replace("  fallback: bye", "  fallback: bye\n  match_threshold: high")
    one(tmp_path, text, at(text, "high"), "match_threshold: expected a number, got text 'high'")
    text = BASE.replace("neutral: Goodbye.", "neutral: 5")
    error = one(tmp_path, text, at(text, "5\n"), "neutral: expected text or a list, got the number 5")
    assert "quotes" in error
    text = BASE.replace("neutral: Goodbye.", "neutral: [Goodbye., 7]")
    one(tmp_path, text, at(text, "7]"), "neutral: expected text, got the number 7")
    text = BASE.replace("        intent: book", "        dtmf: 0")
    one(tmp_path, text, at(text, "0\n"), "dtmf: expected text", "quotes")
    text = BASE.replace("    say:\n      neutral: Goodbye.", "    say: Goodbye.")
    one(tmp_path, text, at(text, "Goodbye."), "say: expected a mapping with keys neutral")
    text = BASE.replace("  - id: bye", "  - id: 5")
    one(tmp_path, text, at(text, "5\n"), "id: expected text, got the number 5")
    text = BASE.replace("  - id: bye", "  - id: Bye")
    one(tmp_path, text, at(text, "Bye"), "id: 'Bye' must be lowercase letters")


def test_nodes_not_a_list_and_enum_values(tmp_path: Path) -> None:
    text = "clinic: {name: x}\nsettings: {start: a, fallback: a}\nnodes: {id: a}\n"
    one(tmp_path, text, "3:8", "nodes: expected a list, got a mapping")
    text = BASE.replace("    say:\n      neutral: Goodbye.", "    topics: [test_result]\n    say:\n      neutral: Goodbye.")
    one(tmp_path, text, at(text, "test_result]"), "'test_result' is not one of diagnosis", "did you mean 'test_results'?")
    text = BASE.replace("  name: Test Clinic", "  name: Test Clinic\n  hours: {mon: closed}")
    one(tmp_path, text, at(text, "mon:"), "hours: key: 'mon' is not one of monday", "did you mean 'monday'?")
    text = BASE.replace("  name: Test Clinic", "  name: Test Clinic\n  hours:\n    monday: '17:00-09:00'")
    one(tmp_path, text, at(text, "'17:00"), "hours.monday", "opening 17:00 is not before closing 09:00")


def test_model_level_rules_point_at_the_item(tmp_path: Path) -> None:
    text = BASE.replace("        intent: book\n", "")
    one(tmp_path, text, at(text, "to: bye"), "transitions: a transition needs intent")
    text = BASE.replace("    examples: [I want to book an appointment]\n", "    examples: []\n")
    one(tmp_path, text, at(text, "book:"), "intents: an intent needs examples or keywords")


def test_emotion_ranges_say_the_allowed_range(tmp_path: Path) -> None:
    text = BASE.replace("        intent: book", "        intent: book\n"
                        "        emotion: {valence_below: -1.5, arousal_above: 2, coherence_below: -0.1}")
    path, errors = error_lines(tmp_path, text)
    assert len(errors) == 3, errors
    has(errors, path, at(text, "-1.5"), "valence_below: -1.5 is out of range (allowed -1..1)")
    has(errors, path, at(text, "2,"), "arousal_above: 2 is out of range (allowed 0..1)")
    has(errors, path, at(text, "-0.1"), "coherence_below: -0.1 is out of range (allowed 0..1)")
