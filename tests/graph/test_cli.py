"""``bedside graph schema|validate|render``: the real command line, run as a subprocess."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from graph.cli import run
from graph.schema import GraphSpec

REPO = Path(__file__).resolve().parents[2]
TINY = "tests/graph/graphs/tiny.yaml"


def _bedside(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.app.cli", "graph", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_schema_prints_the_json_schema_of_graph_files() -> None:
    done = _bedside("schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema == GraphSpec.model_json_schema()
    assert schema["title"] == "GraphSpec" and {"clinic", "settings", "nodes"} <= set(schema["required"])
    assert done.stdout.startswith('{\n  "')  # indent=2


def _with_warning(tmp_path: Path) -> Path:
    """tiny.yaml with 'goodbye' also an example of the operator intent (it is one of goodbye's)."""
    warned = tmp_path / "warned.yaml"
    text = (REPO / TINY).read_text().replace("examples: [can I speak to a person]", "examples: [can I speak to a person, goodbye]")
    warned.write_text(text)
    return warned


def test_validate_prints_a_summary_per_good_file_and_warnings_do_not_fail(tmp_path: Path) -> None:
    warned = _with_warning(tmp_path)
    done = _bedside("validate", TINY, str(warned))
    assert done.returncode == 0, done.stdout + done.stderr
    col = (REPO / TINY).read_text().splitlines()[30].index("person]") + len("person, ") + 1
    assert done.stdout.splitlines() == [
        f"{TINY}: ok — 5 nodes, 5 transitions, 3 intents, 1 sensitive node",
        f"{warned}:31:{col}: warning: example 'goodbye' of intent 'operator' is also an example of intent 'goodbye' (line 28)",
        f"{warned}: ok — 5 nodes, 5 transitions, 3 intents, 1 sensitive node (1 warning)",
    ]


def test_validate_prints_every_problem_and_fails_if_any_file_has_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text((REPO / TINY).read_text().replace("  start: greeting", "  strat: greeting"))
    done = _bedside("validate", str(broken), TINY)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{broken}:19:1: missing required key 'start'",
        f"{broken}:20:3: unknown key 'strat' (did you mean 'start'?)",
        f"{broken}: 2 errors",
        f"{TINY}: ok — 5 nodes, 5 transitions, 3 intents, 1 sensitive node",
    ]


def test_render_refuses_an_invalid_graph(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(Path(REPO / TINY).read_text().replace("    next: menu", "    next: menuu"))
    out = tmp_path / "g.svg"
    done = _bedside("render", str(broken), "-o", str(out))
    assert done.returncode == 1 and not out.exists()
    assert done.stderr.startswith(f"{broken}:") and "unknown node 'menuu'" in done.stderr


def test_render_hands_the_validated_graph_to_graph_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[GraphSpec, Path]] = []
    fake = types.ModuleType("graph.render")
    fake.render = lambda spec, out: calls.append((spec, out))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "graph.render", fake)
    out = tmp_path / "g.dot"
    assert run(argparse.Namespace(graph_command="render", file=str(REPO / TINY), out=str(out))) == 0
    assert len(calls) == 1 and calls[0][1] == out and calls[0][0].settings.start == "greeting"
    assert str(out) in capsys.readouterr().out
