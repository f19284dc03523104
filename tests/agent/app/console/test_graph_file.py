"""The graph file as the console sees it: its state is validated once per change and versioned as
the servers version it; an edit is checked under the file's own name; an invalid edit never
touches the file; a valid one replaces it whole and keeps the previous beside it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agent.app.console.graph_file import GraphFile, GraphFileError

CLINIC = Path(__file__).resolve().parents[4] / "configs" / "graphs" / "clinic.yaml"


@pytest.fixture
def graph(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.yaml"
    path.write_text(CLINIC.read_text())
    return path


def test_the_state_is_the_file_validated_and_versioned_as_the_servers_version_it(graph: Path) -> None:
    state = GraphFile(graph).state()
    assert state.report.ok and state.report.spec is not None and state.text == graph.read_text()
    assert state.version == hashlib.sha256(graph.read_bytes()).hexdigest()[:12]


def test_the_state_is_validated_once_per_change(graph: Path) -> None:
    file = GraphFile(graph)
    first = file.state()
    assert file.state() is first
    graph.write_text(graph.read_text() + "\n# a comment\n")
    assert file.state() is not first and file.state().version != first.version


def test_an_edit_is_checked_under_the_files_own_name(graph: Path) -> None:
    report = GraphFile(graph).check(graph.read_text().replace("  start: greeting", "  start: elsewhere", 1))
    assert not report.ok and str(report.errors[0]).startswith(f"{graph}:39:")


def test_an_invalid_edit_never_touches_the_file(graph: Path) -> None:
    before = graph.read_bytes()
    with pytest.raises(ValueError, match=f"{graph}:39:"):
        GraphFile(graph).replace(graph.read_text().replace("  start: greeting", "  start: elsewhere", 1))
    assert graph.read_bytes() == before and sorted(p.name for p in graph.parent.iterdir()) == ["clinic.yaml"]


def test_a_valid_edit_replaces_the_file_whole_and_keeps_the_previous(graph: Path) -> None:
    before = graph.read_text()
    state = GraphFile(graph).replace(before + "\n# reviewed\n")
    assert graph.read_text() == before + "\n# reviewed\n" and state.report.ok
    assert graph.with_name("clinic.yaml.previous").read_text() == before
    assert sorted(p.name for p in graph.parent.iterdir()) == ["clinic.yaml", "clinic.yaml.previous"]


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GraphFileError, match="cannot be read"):
        GraphFile(tmp_path / "gone.yaml").state()
