"""graph/yaml_source.py is the one FILE:LINE:COL locator: the settings file's errors and the
conversation graph's come from the same functions, and its walk of the YAML tree names keys as
pydantic does, follows aliases, and ends on an alias that contains itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graph import yaml_source
from graph.validate import load_graph
from graph.yaml_source import ConfigError, Problem, Spot, Where, key_positions, locate, node_spots, position
from tests.graph.validate.helpers import BASE


def test_settings_and_graph_errors_come_from_one_locator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.app.config import load_config  # the settings file, loaded the way `bedside serve` loads it

    settings = tmp_path / "bedside.yaml"
    settings.write_text("sip:\n  port: 5060\n  prot: 1\n")
    graph = tmp_path / "graph.yaml"
    graph.write_text(BASE.replace("  name: Test Clinic", "  name: Test Clinic\n  zzzz: 1"))
    broken_settings = tmp_path / "broken.yaml"
    broken_settings.write_text("sip:\n  codecs: [a\nturn: {}\n")
    broken_graph = tmp_path / "broken-graph.yaml"
    broken_graph.write_text("clinic:\n  codecs: [a\nturn: {}\n")

    def first_lines() -> list[str]:
        """The first error line of each file: two settings files, two graphs."""
        loads = ((lambda p: load_config(p, environ={}), settings), (load_graph, graph),
                 (lambda p: load_config(p, environ={}), broken_settings), (load_graph, broken_graph))
        lines = []
        for load, path in loads:
            with pytest.raises(ConfigError) as info:
                load(path)
            lines.append(str(info.value).splitlines()[0])
        return lines

    settings_error, graph_error, settings_syntax, graph_syntax = first_lines()
    assert settings_error == f"{position(settings, 3, 3)}: sip.prot: Extra inputs are not permitted"
    assert graph_error.startswith(f"{position(graph, 3, 3)}: unknown key 'zzzz'")
    assert settings_syntax.startswith(f"{position(broken_settings, 3, 5)}: YAML syntax error")
    assert graph_syntax.startswith(f"{position(broken_graph, 3, 5)}: YAML syntax error")

    # One function writes FILE:LINE:COL for all of them: change it, and every message follows.
    monkeypatch.setattr(yaml_source, "position", lambda file, line, col: f"<{Path(file).name} {line}/{col}>")
    assert [line.split(">")[0] + ">" for line in first_lines()] == [
        "<bedside.yaml 3/3>", "<graph.yaml 3/3>", "<broken.yaml 3/5>", "<broken-graph.yaml 3/5>"]


def test_problem_prints_file_line_col() -> None:
    assert str(Problem("a.yaml", 3, 7, "boom")) == "a.yaml:3:7: boom" == f"{position('a.yaml', 3, 7)}: boom"
    assert str(Problem("a.yaml", 3, 7, "hm", warning=True)) == "a.yaml:3:7: warning: hm"


TEXT = """\
a:
  b: &shared
    - x
    - {c: 1}
yes: [*shared]
1: one
"""


def test_spots_of_keys_values_and_items() -> None:
    spots = node_spots(yaml.compose(TEXT, Loader=yaml.SafeLoader))
    assert spots[()] == Spot((1, 1), (1, 1))
    assert spots[("a", "b")] == Spot((2, 3), (2, 6))  # the value starts at its anchor
    assert spots[("a", "b", "1")] == Spot((4, 7), (4, 7))
    assert spots[("a", "b", "1", "c")] == Spot((4, 8), (4, 11))
    # keys are named as pydantic names them (yes: is True, 1: is 1); aliases are followed
    assert spots[("True", "0", "1", "c")] == Spot((4, 8), (4, 11))
    assert spots[("1",)] == Spot((6, 1), (6, 4))
    assert node_spots(None) == {}


def test_an_alias_that_contains_itself_does_not_hang() -> None:
    spots = node_spots(yaml.compose("a: &x [*x]\n", Loader=yaml.SafeLoader))
    assert ("a", "0", "0") in spots and max(len(p) for p in spots) == yaml_source.MAX_PATH_DEPTH


def test_where_falls_back_to_the_deepest_known_parent_then_the_start() -> None:
    where = Where("f.yaml", node_spots(yaml.compose(TEXT, Loader=yaml.SafeLoader)))
    assert where.pos(("a", "b")) == (2, 6) and where.pos(("a", "b"), "key") == (2, 3)
    assert where.pos(("a", "b", 1, "missing", "deeper")) == (4, 7)  # list item 1's position
    assert where.pos(("nowhere",)) == (1, 1)
    assert where.at(("a",), "wrong", "key") == Problem("f.yaml", 1, 1, "wrong")
    assert where.at(("a", "b"), "hm", warning=True) == Problem("f.yaml", 2, 6, "hm", warning=True)


def test_settings_positions_and_locate(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(TEXT)
    positions = key_positions(path)
    assert () not in positions and positions[("a", "b")] == (2, 3) and positions[("a", "b", "1")] == (4, 7)
    assert locate(path, positions, ("a", "b", "1", "zz")) == f"{path}:4:7"
    assert locate(path, positions, ("zz",)) == str(path)
    assert locate(None, positions, ("a",)) == "config"
    assert key_positions(tmp_path / "missing.yaml") == {}
    path.write_text("a: [\n")
    assert key_positions(path) == {}
