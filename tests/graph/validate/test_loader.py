"""graph/validate/loader.py: the stages in order for a whole file. Valid graphs pass, load_graph
raises every error, graph errors stop at a cap, and no file, however broken, makes the
validator raise (fuzzed)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.validate import ValidationReport, load_graph, validate_file
from graph.validate.loader import MAX_GRAPH_PROBLEMS
from graph.yaml_source import ConfigError
from tests.graph.validate.helpers import BASE, REPO, TINY, at, error_lines, one, write


def test_base_and_tiny_graphs_are_valid(tmp_path: Path) -> None:
    base = validate_file(write(tmp_path, BASE))
    assert base.ok and base.errors == [] and base.warnings == [] and base.spec is not None
    tiny = validate_file(TINY)
    assert tiny.errors == [] and tiny.warnings == [], [str(p) for p in tiny.errors + tiny.warnings]
    assert tiny.spec is not None and tiny.spec.settings.start == "greeting"
    assert tiny.summary() == f"{TINY}: ok — 5 nodes, 5 transitions, 3 intents, 1 sensitive node"


def test_tiny_graph_has_what_other_tests_rely_on() -> None:
    spec = load_graph(TINY)
    ids = [n.id for n in spec.nodes]
    assert ids == ["greeting", "menu", "results", "goodbye", "operator"]
    assert spec.node("greeting").next == "menu"
    menu = spec.node("menu").transitions
    assert sum(1 for t in menu if t.intent and not t.emotion) == 2 and any(t.dtmf for t in menu)
    assert sum(1 for n in spec.nodes for t in n.transitions if t.emotion) == 1
    results = spec.node("results")
    assert results.topics and any(a.type == "callback" for a in results.actions)
    assert any(a.type == "end_call" for a in spec.node("goodbye").actions)
    assert any(a.type == "transfer" for a in spec.node("operator").actions)


def test_load_graph_raises_config_error_with_every_error_one_per_line(tmp_path: Path) -> None:
    text = BASE.replace("  start: hello", "  start: helo").replace("fallback: bye", "fallback: by")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_graph(path)
    lines = str(info.value).splitlines()
    start, fallback = at(text, "helo"), at(text, "by\nintents")
    assert lines == [
        f"{path}:{start}: start: unknown node 'helo' (did you mean 'hello'?)",
        f"{path}:{fallback}: fallback: unknown node 'by' (did you mean 'bye'?)",
    ]


def test_graph_errors_stop_at_a_cap(tmp_path: Path) -> None:
    nodes = "".join(f"  - {{id: n{i}, next: x{i}}}\n" for i in range(MAX_GRAPH_PROBLEMS + 20))
    path, errors = error_lines(tmp_path, "clinic: {name: X}\nsettings: {start: n0, fallback: n0}\nnodes:\n" + nodes)
    assert len(errors) == MAX_GRAPH_PROBLEMS + 1
    assert errors[0] == f"{path}:1:1: more than {MAX_GRAPH_PROBLEMS} graph errors; fix these first"


@pytest.mark.parametrize(
    ("content", "where", "word"),
    [
        ("", "1:1", "empty"),
        ("# only a comment\n", "1:1", "empty"),
        ("- a\n- b\n", "1:1", "a list, not a mapping"),
        ("just text\n", "1:1", "text 'just text', not a mapping"),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, str | bytes) else None,
)
def test_a_file_that_is_not_a_mapping(tmp_path: Path, content: str | bytes, where: str, word: str) -> None:
    one(tmp_path, content, where, word)


def test_importing_the_validator_does_not_import_torch() -> None:
    code = "import sys, graph.validate, graph.yaml_source; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


# --- fuzzing ----------------------------------------------------------------------------------

TINY_TEXT = TINY.read_text(encoding="utf-8")
TINY_DATA = yaml.safe_load(TINY_TEXT)
WORDS = ["menu", "greeting", "operator", "to", "id", "say", "neutral", "next", "type", "end_call", "transfer",
         "transitions", "intent", "results", "{full_name}", "{x}", "-1.5", "burst", "cry", ""]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True), st.text(max_size=12),
                    st.sampled_from(WORDS))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
FUZZ = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _containers(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every value inside a dict or list (the root excluded)."""
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_containers(value, (*prefix, key)))
    return out


def _assert_clean(report: ValidationReport, path: Path) -> None:
    assert isinstance(report, ValidationReport)
    for problem in (*report.errors, *report.warnings):
        assert problem.line >= 1 and problem.col >= 1 and str(problem).startswith(f"{path}:")
    assert (report.spec is None) == bool(report.errors)


def _validate_text(tmp_path: Path, content: str | bytes) -> None:
    path = write(tmp_path, content, "fuzz.yaml")
    _assert_clean(validate_file(path), path)


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_tiny_graph(tmp_path: Path, data: st.DataObject) -> None:
    doc = copy.deepcopy(TINY_DATA)
    for _ in range(data.draw(st.integers(1, 4))):
        paths = _containers(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(VALUES)
    _validate_text(tmp_path, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@FUZZ
@given(at=st.integers(0, len(TINY_TEXT.encode())), junk=st.binary(max_size=20) | st.text(max_size=20).map(str.encode))
def test_fuzz_junk_inserted_into_tiny_graph(tmp_path: Path, at: int, junk: bytes) -> None:
    raw = TINY_TEXT.encode()
    _validate_text(tmp_path, raw[:at] + junk + raw[at:])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="{}[]:-,&*!|>'\"#?% \n\tabcdnoeisx01.\\~@`", max_size=120))
def test_fuzz_random_yaml(tmp_path: Path, text: str) -> None:
    _validate_text(tmp_path, text)
