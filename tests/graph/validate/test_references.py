"""graph/validate/references.py: placeholders, slots and intents used but never defined, with
the closest defined name."""

from __future__ import annotations

from pathlib import Path

from tests.graph.validate.helpers import BASE, at, error_lines, has


def test_placeholders_never_collected(tmp_path: Path) -> None:
    text = BASE.replace("neutral: Hello.", "neutral: Hello {clinic.name}, {full_name}.")
    text = text.replace("  fallback: bye", "  fallback: bye\n  clarify: {neutral: 'Sorry {nme}?'}\n"
                        "  unavailable: {neutral: 'Not at {tme}.'}")
    text = text.replace("    actions:", "    collect:\n      - name: name\n        kind: name\n"
                        "        ask: {neutral: ['Your name?', 'Your name, {callr}?']}\n    actions:")
    path, errors = error_lines(tmp_path, text)
    assert len(errors) == 4, errors
    has(errors, path, at(text, "Hello {"), "placeholder {full_name} is never collected by any node")
    has(errors, path, at(text, "'Not at"), "placeholder {tme}")
    has(errors, path, at(text, "'Sorry"), "placeholder {nme}", "did you mean {name}?")
    has(errors, path, at(text, "'Your name, "), "placeholder {callr}")


def test_slot_references_and_intents(tmp_path: Path) -> None:
    text = BASE.replace("        intent: book", "        intent: bok\n        slots: {filled: [dob], equals: {consent: 'yes'}}\n        clear: [date_of_birth, tim]")
    text = text.replace("type: end_call", "{type: callback, team: nurse, include: [phone]}")
    text = text.replace("    actions:", "    collect:\n      - {name: date_of_birth, kind: date_of_birth, ask: {neutral: 'Birthday?'}}\n    actions:")
    path, errors = error_lines(tmp_path, text)
    assert len(errors) == 6, errors
    has(errors, path, at(text, "tim]"), "slot 'tim' is never collected")
    has(errors, path, at(text, "id: bye"), "node 'bye' is a dead end")  # a callback does not end the call
    has(errors, path, at(text, "bok"), "unknown intent 'bok' (did you mean 'book'?)")
    has(errors, path, at(text, "dob]"), "slot 'dob' is never collected by any node")
    has(errors, path, at(text, "consent:"), "slot 'consent' is never collected")
    has(errors, path, at(text, "phone]"), "slot 'phone' is never collected")
