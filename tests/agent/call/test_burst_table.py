"""The burst-to-delivery table: the shipped file is complete, bad files say where they are wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.call.burst_table import DEFAULT_PATH, load_burst_table
from emotion.models.burst import NONE, output_labels
from graph.yaml_source import ConfigError
from tts.expression import Expression


def test_shipped_table_covers_every_burst_type() -> None:
    table = load_burst_table()
    assert set(table.bursts) == set(output_labels()) - {NONE} and len(table.bursts) >= 25
    assert table.expression("laugh") is Expression.ENTHUSIASTIC
    assert table.expression("sigh") is Expression.SYMPATHETIC
    assert table.expression("cry") is Expression.SYMPATHETIC
    assert table.expression("gasp") is Expression.CONCERNED
    assert table.expression("groan") is Expression.SYMPATHETIC
    assert table.expression("cough") is Expression.NEUTRAL
    assert table.expression(NONE) is None
    assert table.bursts["cry"].valence < 0 < table.bursts["laugh"].valence
    assert table.expression("groan", "Pain", 0.6) is Expression.CONCERNED
    assert table.expression("sigh", "Relief", 0.6) is Expression.ENTHUSIASTIC
    assert table.expression("sigh", "Relief", 0.1) is Expression.SYMPATHETIC  # meaning heard too faintly
    assert table.expression(NONE, "Pain", 0.9) is None


def test_unknown_meaning_points_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda t: t.replace("  Pain:", "  Agony:"))
    with pytest.raises(ConfigError, match=r"bursts\.yaml:\d+:\d+: meanings: .*unknown burst meanings \['Agony'\]"):
        load_burst_table(path)


def _write(tmp_path: Path, edit) -> Path:
    path = tmp_path / "bursts.yaml"
    path.write_text(edit(DEFAULT_PATH.read_text()))
    return path


def test_bad_values_point_at_their_line(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda t: t.replace("sigh:           {expression: sympathetic", "sigh:           {expression: soothing"))
    line = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if l.strip().startswith("sigh:"))
    with pytest.raises(ConfigError, match=rf"bursts\.yaml:{line}:\d+: bursts\.sigh\.expression: Input should be 'neutral'"):
        load_burst_table(path)
    path = _write(tmp_path, lambda t: t.replace("valence: 0.6, arousal: 0.6}", "valence: 1.6, arousal: 0.6, volume: 3}"))
    with pytest.raises(ConfigError) as info:
        load_burst_table(path)
    assert "bursts.laugh.valence: Input should be less than or equal to 1" in str(info.value)
    assert "bursts.laugh.volume: Extra inputs are not permitted" in str(info.value)


def test_missing_and_unknown_types(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda t: t.replace("  hiccup:", "  hicup:"))
    with pytest.raises(ConfigError, match=r"bursts\.yaml:\d+:\d+: bursts: .*unknown burst types \['hicup'\]"):
        load_burst_table(path)
    path = _write(tmp_path, lambda t: "\n".join(l for l in t.splitlines() if "whistle:" not in l))
    with pytest.raises(ConfigError, match=r"without a delivery: \['whistle'\]"):
        load_burst_table(path)


def test_broken_yaml(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("bursts:\n  laugh: {expression: neutral\n")
    with pytest.raises(ConfigError, match=r"x\.yaml:\d+:\d+: YAML syntax error"):
        load_burst_table(path)
