"""What the validator tests share: a minimal valid graph (BASE) that each test breaks one thing
at a time, and shortcuts that find where in the text an error must point."""

from __future__ import annotations

from pathlib import Path

from graph.validate import validate_file

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "tests" / "graph" / "graphs" / "tiny.yaml"

# Line numbers matter: the tests find positions with at(), which counts in the text as written.
BASE = """\
clinic:
  name: Test Clinic
settings:
  start: hello
  fallback: bye
intents:
  book:
    examples: [I want to book an appointment]
nodes:
  - id: hello
    say:
      neutral: Hello.
    transitions:
      - to: bye
        intent: book
  - id: bye
    say:
      neutral: Goodbye.
    actions:
      - type: end_call
"""


def write(tmp_path: Path, text: str | bytes, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def at(text: str, needle: str, nth: int = 1) -> str:
    """'LINE:COL' (1-based) of the nth occurrence of needle in text."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    before = text[:index]
    return f"{before.count(chr(10)) + 1}:{index - before.rfind(chr(10))}"


def error_lines(tmp_path: Path, text: str | bytes) -> tuple[Path, list[str]]:
    """The file's errors as printed; the file must be invalid."""
    path = write(tmp_path, text)
    report = validate_file(path)
    assert report.spec is None
    return path, [str(p) for p in report.errors]


def one(tmp_path: Path, text: str | bytes, where: str, *words: str) -> str:
    """The file has exactly one error, at ``where`` (LINE:COL), whose message has ``words``."""
    path, found = error_lines(tmp_path, text)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{where}: "), found
    for word in words:
        assert word in found[0], found
    return found[0]


def has(found: list[str], path: Path, where: str, *words: str) -> None:
    """Some error is at ``where`` (LINE:COL) with all of ``words``."""
    matching = [e for e in found if e.startswith(f"{path}:{where}: ") and all(w in e for w in words)]
    assert matching, f"no error at {where} with {words}: {found}"
