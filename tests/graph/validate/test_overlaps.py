"""graph/validate/overlaps.py: shared or nearly shared examples are warnings, and only between
examples that can compete."""

from __future__ import annotations

from pathlib import Path

from graph.validate import validate_file
from tests.graph.validate.helpers import BASE, at, write


def test_overlapping_examples_are_warnings(tmp_path: Path) -> None:
    text = BASE.replace(
        "    examples: [I want to book an appointment]",
        "    examples: [I want to book an appointment]\n"
        "  cancel:\n"
        "    examples: [\"I want to book an appointment!\", i want to book an appointment please]\n",
    )
    path = write(tmp_path, text)
    report = validate_file(path)
    assert report.ok and report.spec is not None
    warnings = [str(w) for w in report.warnings]
    assert len(warnings) == 2, warnings
    quoted = at(text, '"I want')
    assert warnings[0].startswith(f"{path}:{quoted}: warning: example 'i want to book an appointment'"
                                  " of intent 'cancel' is also an example of intent 'book' (line 8)")
    assert warnings[1].startswith(f"{path}:{at(text, 'i want to book an appointment please')}: warning: ")
    assert "nearly the same" in warnings[1]
    assert report.summary().endswith("(2 warnings)")


def test_inline_examples_overlap_only_where_they_compete(tmp_path: Path) -> None:
    same_node = BASE.replace("        intent: book", "        intent: book\n      - to: hello\n        examples: [i want to book an appointment]")
    report = validate_file(write(tmp_path, same_node))
    assert [w.message for w in report.warnings] == [
        "example 'i want to book an appointment' of the transition to 'hello' in node 'hello' is also an example"
        " of intent 'book' (line 8)"
    ]
    other_nodes = BASE.replace("        intent: book", "        examples: [call me back]").replace(
        "    actions:", "    transitions:\n      - {to: hello, examples: [call me back]}\n    actions:")
    report = validate_file(write(tmp_path, other_nodes))
    assert report.ok and report.warnings == []
