"""graph/validate/yaml_tree.py: what YAML would hide or blow up on is caught on the composed tree,
before anything is built: duplicate keys, aliases that contain themselves, nesting and size
counted through aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.validate.yaml_tree import MAX_DEPTH, MAX_YAML_NODES
from tests.graph.validate.helpers import BASE, at, one


def test_duplicate_yaml_keys(tmp_path: Path) -> None:
    text = BASE.replace("  fallback: bye", "  fallback: bye\n  start: bye")
    one(tmp_path, text, at(text, "start: bye"), "duplicate key 'start'", "first at line 4")


@pytest.mark.parametrize("content", ["a: &x [*x]\n", "a: &x {b: *x}\n"])
def test_an_alias_that_contains_itself(tmp_path: Path, content: str) -> None:
    one(tmp_path, content, "1:4", "YAML structure error: an alias refers to the value that contains it")


def test_nesting_is_counted_through_aliases(tmp_path: Path) -> None:
    deep = MAX_DEPTH - 10  # fine where it is written ...
    text = f"a: &a {'[' * deep}{']' * deep}\nb: {'[' * 15}*a{']' * 15}\n"  # ... too deep where it is used
    one(tmp_path, text, "1:4", f"YAML structure error: nested too deeply (at most {MAX_DEPTH} levels)")


def test_alias_bombs(tmp_path: Path) -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    assert MAX_YAML_NODES == 100_000
    one(tmp_path, "\n".join(rows) + "\n", "5:5", "too many values (more than 100000, counting aliases in full)")
