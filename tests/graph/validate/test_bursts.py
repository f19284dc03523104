"""graph/validate/bursts.py: emotional conditions name only bursts the burst model knows."""

from __future__ import annotations

from pathlib import Path

from graph.validate import known_bursts
from tests.graph.validate.helpers import BASE, at, error_lines, has


def test_unknown_burst_types(tmp_path: Path) -> None:
    text = BASE.replace("        intent: book", "        intent: book\n        emotion: {burst: [sigh, sighh, yodel]}")
    path, errors = error_lines(tmp_path, text)
    assert len(errors) == 2, errors
    has(errors, path, at(text, "sighh"), "unknown burst type 'sighh' (did you mean 'sigh'?)")
    has(errors, path, at(text, "yodel"), "unknown burst type 'yodel'", "known: ")


def test_known_bursts_are_the_burst_models_labels() -> None:
    from agent.call.burst_table import load_burst_table  # imports torch (~2 s); validate itself does not
    from emotion.models.burst import NONE, output_labels

    assert known_bursts() == set(output_labels()) - {NONE}
    assert known_bursts() == set(load_burst_table().bursts)
