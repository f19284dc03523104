"""graph/validate/structure.py: targets that do not exist, nodes nothing leads to, nodes with no
way out, and node ids used twice."""

from __future__ import annotations

from pathlib import Path

from graph.validate import validate_file
from tests.graph.validate.helpers import BASE, at, error_lines, has, one, write


def test_dangling_targets_with_did_you_mean(tmp_path: Path) -> None:
    text = BASE.replace("  start: hello", "  start: helo").replace("      - to: bye", "      - to: byee")
    text = text.replace("      - type: end_call", "      - type: end_call\n    next: hallo")
    text = text.replace("intents:", "global_transitions:\n  - {to: nurse, keywords: [nurse]}\nintents:")
    path, errors = error_lines(tmp_path, text)
    assert len(errors) == 4, errors
    has(errors, path, at(text, "helo"), "start: unknown node 'helo' (did you mean 'hello'?)")
    has(errors, path, at(text, "byee"), "transition: unknown node 'byee' (did you mean 'bye'?)")
    has(errors, path, at(text, "hallo"), "next: unknown node 'hallo' (did you mean 'hello'?)")
    has(errors, path, at(text, "nurse,"), "transition: unknown node 'nurse'")


def test_unreachable_nodes(tmp_path: Path) -> None:
    island = "  - id: island\n    next: bye\n"
    text = BASE + island
    one(tmp_path, text, at(text, "id: island"), "node 'island' is unreachable")
    # reachable through a global transition, or as the fallback: not reported
    text = BASE.replace("intents:", "global_transitions:\n  - {to: island, keywords: [x]}\nintents:") + island
    assert validate_file(write(tmp_path, text)).ok
    text = BASE.replace("fallback: bye", "fallback: island") + island
    assert validate_file(write(tmp_path, text)).ok


def test_dead_ends(tmp_path: Path) -> None:
    text = BASE.replace("    actions:\n      - type: end_call\n", "")
    one(tmp_path, text, at(text, "id: bye"), "node 'bye' is a dead end")
    text = BASE.replace("- type: end_call", "- {type: transfer, to: nurse}")  # a transfer ends the call too
    assert validate_file(write(tmp_path, text)).ok


def test_duplicate_node_ids_point_at_the_second(tmp_path: Path) -> None:
    text = BASE + "  - id: hello\n    next: bye\n"
    error = one(tmp_path, text, at(text, "id: hello", 2), "duplicate node id 'hello'")
    assert f"first defined at line {at(text, 'id: hello').split(':')[0]}" in error
