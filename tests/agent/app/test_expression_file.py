"""The presets file a clinic edits: every problem with its FILE:LINE:COL (agent/app/expression_file.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.app.expression_file import load_expressions
from graph.yaml_source import ConfigError
from tts.expression import DEFAULT_PATH, Expression, bundled_expressions


def test_the_bundled_file_loads_the_same_through_the_locator() -> None:
    assert load_expressions() == bundled_expressions()
    assert set(load_expressions().presets) == set(Expression)


def test_a_missing_preset_and_a_bad_value_point_into_the_file(tmp_path: Path) -> None:
    text = DEFAULT_PATH.read_text()
    broken = tmp_path / "expressions.yaml"
    broken.write_text(text.replace("gain_db: -4.0", "gain_db: -40.0").replace("  urgent:", "  urgnt:"))
    with pytest.raises(ConfigError) as err:
        load_expressions(broken)
    message = str(err.value)
    line = next(i for i, l in enumerate(broken.read_text().splitlines(), 1) if "gain_db: -40.0" in l)
    assert f"{broken}:{line}:" in message and "sympathetic.gain_db" in message, message
    assert "urgnt" in message, message
