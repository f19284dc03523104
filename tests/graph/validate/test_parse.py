"""graph/validate/parse.py: the file itself. Unreadable, too large, not UTF-8, broken YAML or a
value PyYAML cannot build: one clean error at the first bad character."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.validate import validate_file
from graph.validate.parse import MAX_BYTES
from tests.graph.validate.helpers import one


def test_yaml_syntax_error_at_the_parser_mark(tmp_path: Path) -> None:
    one(tmp_path, "clinic:\n  name: x\n settings: y\n", "3:2", "YAML syntax error")
    one(tmp_path, "clinic: [a, b\n", "2:1", "YAML syntax error")
    one(tmp_path, "clinic:\n\tname: x\n", "2:1", "YAML syntax error", "'\\t'")
    one(tmp_path, "a: *nowhere\n", "1:4", "undefined alias")
    one(tmp_path, "a: 1\n---\nb: 2\n", "2:1", "single document")


@pytest.mark.parametrize(
    ("content", "where", "word"),
    [
        (b"clinic:\n  name: ab\xffc\n", "2:11", "not UTF-8: byte 0xff"),
        ("a: b\x00\n", "1:5", "#x0000"),
        ("a: " + "[" * 60 + "]" * 60 + "\n", "1:43", "nested too deeply"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "1:43", "nested too deeply"),
        ("a: 2024-13-01\n", "1:4", "month must be in 1..12"),
        ("a: !!float abc\n", "1:4", "YAML value error"),
        ("a: !!python/object:os.system x\n", "1:4", "could not determine a constructor"),
        ("? [a]\n: b\n", "1:3", "unhashable key"),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, str | bytes) else None,
)
def test_broken_files_give_a_clean_error(tmp_path: Path, content: str | bytes, where: str, word: str) -> None:
    one(tmp_path, content, where, word)


def test_huge_files(tmp_path: Path) -> None:
    one(tmp_path, "a: " + "x" * (MAX_BYTES + 1) + "\n", "1:1", "too large")


def test_unreadable_paths(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.yaml", tmp_path):
        report = validate_file(path)
        assert [str(p) for p in report.errors] == [f"{path}:1:1: cannot read the file: "
                                                   f"{'No such file or directory' if path != tmp_path else 'Is a directory'}"]
