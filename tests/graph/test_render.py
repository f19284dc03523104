"""graph.render: the DOT text marks what an admin must see (start, sensitive nodes, emotional
routes, global transitions), and Graphviz turns it into SVG/PNG. Graphviz is installed by
scripts/install.sh, so a missing ``dot`` fails these tests (with the install hint) rather than
skipping them."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from graph import render as render_module
from graph.render import render, to_dot
from graph.schema import GraphSpec

SVG_NS = "{http://www.w3.org/2000/svg}"


def _graph(**overrides: Any) -> GraphSpec:
    """Greeting -> menu (two intents, one emotional route) -> results (sensitive) / booking; end;
    a global "operator" transition."""
    data: dict[str, Any] = {
        "clinic": {"name": "Riverside Family Clinic", "phone": "555-0100"},
        "settings": {"start": "greeting", "fallback": "operator"},
        "intents": {
            "book": {"examples": ["I'd like an appointment"], "keywords": ["book"]},
            "results": {"examples": ["are my results back"], "keywords": ["results"]},
            "human": {"keywords": ["operator", "a person"]},
        },
        "global_transitions": [{"intent": "human", "to": "operator"}],
        "nodes": [
            {
                "id": "greeting",
                "say": {"neutral": "Hello, you've reached {clinic.name}. This call may be recorded."},
                "next": "menu",
            },
            {
                "id": "menu",
                "say": {"neutral": "How can I help you today?"},
                "transitions": [
                    {"intent": "book", "to": "booking"},
                    {"intent": "results", "to": "results"},
                    {
                        "intent": "results",
                        "to": "operator",
                        "emotion": {"valence_below": -0.3, "trend": "deteriorating", "burst": ["cry", "sigh"]},
                    },
                    {"otherwise": True, "to": "goodbye"},
                ],
            },
            {
                "id": "booking",
                "say": {"neutral": "May I have your full name and date of birth?"},
                "collect": [
                    {"name": "full_name", "kind": "name", "ask": {"neutral": "Your full name?"}},
                    {
                        "name": "date_of_birth",
                        "kind": "date_of_birth",
                        "ask": {"neutral": "Your date of birth?"},
                        "dtmf": True,
                    },
                ],
                "actions": [{"type": "webhook", "event": "appointment_booked", "include": ["full_name"]}],
                "transitions": [{"dtmf": "1", "to": "goodbye"}, {"slots": {"filled": ["full_name"]}, "to": "goodbye"}],
            },
            {
                "id": "results",
                "say": {"neutral": "I can't read results on the phone, but a clinician will call you back."},
                "topics": ["test_results"],
                "actions": [{"type": "callback", "team": "clinician", "priority": "urgent"}],
                "next": "goodbye",
            },
            {"id": "goodbye", "say": {"neutral": "Thank you for calling. Goodbye."}, "actions": [{"type": "end_call"}]},
            {
                "id": "operator",
                "say": {"neutral": "Let me put you through to a member of staff."},
                "actions": [{"type": "transfer", "to": "operator"}],
            },
        ],
    }
    data.update(overrides)
    return GraphSpec.model_validate(data)


def _node_line(dot: str, node_id: str) -> str:
    """The statement declaring ``node_id`` (not an edge)."""
    matches = [line for line in dot.splitlines() if line.strip().startswith(f'"{node_id}" [')]
    assert len(matches) == 1, f"{node_id}: {matches}"
    return matches[0]


def _edge_lines(dot: str, tail: str, head: str) -> list[str]:
    return [line for line in dot.splitlines() if line.strip().startswith(f'"{tail}" -> "{head}" ')]


@pytest.fixture(scope="module")
def dot_binary() -> str:
    path = shutil.which("dot")
    if path is None:
        pytest.fail("Graphviz 'dot' not found: install the graphviz package (scripts/install.sh does)")
    return path


def test_every_node_is_drawn_with_its_say_line_and_markers() -> None:
    dot = to_dot(_graph())
    for node_id in ("greeting", "menu", "booking", "results", "goodbye", "operator"):
        assert f"<b>{node_id}</b>" in _node_line(dot, node_id)
    assert "How can I help you today?" in _node_line(dot, "menu")
    assert "collects: full_name, date_of_birth" in _node_line(dot, "booking")
    assert "webhook: appointment_booked" in _node_line(dot, "booking")
    assert "callback → clinician (urgent)" in _node_line(dot, "results")
    assert "transfer → operator" in _node_line(dot, "operator")
    assert "end call" in _node_line(dot, "goodbye")


def test_a_node_without_say_shows_its_first_question() -> None:
    nodes = [node.model_dump() for node in _graph().nodes]
    nodes[2]["say"] = None
    assert "“Your full name?”" in _node_line(to_dot(_graph(nodes=nodes)), "booking")


def test_long_say_lines_are_cut() -> None:
    line = _node_line(to_dot(_graph()), "results")
    assert "“I can&#39;t read results on the phone, but…”" in line  # 40 characters
    assert "clinician will call you back" not in line


def test_start_and_terminal_nodes_are_marked() -> None:
    dot = to_dot(_graph())
    assert "peripheries" in _node_line(dot, "greeting")
    assert "(start)" in _node_line(dot, "greeting")
    assert "peripheries" not in _node_line(dot, "menu")
    for terminal in ("goodbye", "operator"):
        assert 'style="rounded,filled"' in _node_line(dot, terminal)
    for plain in ("greeting", "menu", "booking", "results"):
        assert "rounded" not in _node_line(dot, plain)


def test_only_the_sensitive_node_is_marked_sensitive() -> None:
    dot = to_dot(_graph())
    sensitive = _node_line(dot, "results")
    assert "⚠ sensitive: test_results" in sensitive
    assert 'fillcolor="#ffe0cc"' in sensitive and 'color="#cc2200"' in sensitive
    for other in ("greeting", "menu", "booking", "goodbye", "operator"):
        line = _node_line(dot, other)
        assert "sensitive" not in line and "#ffe0cc" not in line and "#cc2200" not in line


def test_only_the_emotional_edge_is_styled_as_emotional() -> None:
    dot = to_dot(_graph())
    [emotional] = _edge_lines(dot, "menu", "operator")
    assert "♥ valence<-0.3, trend=deteriorating, burst: cry|sigh" in emotional
    assert 'color="#7b2cbf"' in emotional and 'style="bold"' in emotional
    edges = [line for line in dot.splitlines() if " -> " in line and "__legend" not in line]
    assert len(edges) == 8  # 4 + 1 (booking -> goodbye twice) transitions, 2 nexts, 1 global
    for line in edges:
        if line != emotional:
            assert "#7b2cbf" not in line and "♥" not in line


def test_edges_say_what_matches() -> None:
    dot = to_dot(_graph())
    assert 'label="book"' in _edge_lines(dot, "menu", "booking")[0]
    assert 'label="otherwise"' in _edge_lines(dot, "menu", "goodbye")[0]
    [booking] = _edge_lines(dot, "booking", "goodbye")  # two transitions, one edge
    assert 'label="dtmf 1 | if full_name filled"' in booking
    [next_edge] = _edge_lines(dot, "greeting", "menu")
    assert 'label="next"' in next_edge and 'style="dashed"' in next_edge


def test_parallel_plain_transitions_share_one_edge_but_emotional_ones_do_not() -> None:
    nodes = [node.model_dump() for node in _graph().nodes]
    nodes[1]["transitions"][2:2] = [{"intent": i, "to": "results"} for i in ("book", "human")]
    dot = to_dot(_graph(nodes=nodes))
    [plain] = _edge_lines(dot, "menu", "results")
    assert 'label="results | book | human"' in plain
    [emotional] = _edge_lines(dot, "menu", "operator")
    assert "♥" in emotional and "results |" not in emotional
    nodes[1]["transitions"].append({"keywords": ["nurse"], "to": "operator"})
    operator = _edge_lines(to_dot(_graph(nodes=nodes)), "menu", "operator")
    assert len(operator) == 2 and sum("♥" in line for line in operator) == 1


def test_global_transitions_come_from_one_pseudo_node() -> None:
    dot = to_dot(_graph())
    assert 'label="any node"' in _node_line(dot, "__any__")
    assert 'style="dashed"' in _node_line(dot, "__any__")
    [edge] = _edge_lines(dot, "__any__", "operator")
    assert 'label="human"' in edge
    assert len(re.findall(r'"__any__" ->', dot)) == 1
    assert "__any__" not in to_dot(_graph(global_transitions=[]))


def test_legend_is_a_cluster() -> None:
    dot = to_dot(_graph())
    assert "subgraph cluster_legend" in dot
    assert "sensitive topic" in dot and "emotional" in dot


def test_svg_is_valid_and_names_every_node(tmp_path: Path, dot_binary: str) -> None:
    out = tmp_path / "sub" / "graph.svg"
    render(_graph(), out)
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG_NS}svg"
    texts = " ".join(el.text or "" for el in root.iter(f"{SVG_NS}text"))
    for node_id in ("greeting", "menu", "booking", "results", "goodbye", "operator", "any node"):
        assert node_id in texts
    assert "⚠ sensitive: test_results" in texts
    assert "♥ valence<-0.3" in texts


def test_png_has_the_png_signature(tmp_path: Path, dot_binary: str) -> None:
    out = tmp_path / "graph.PNG"
    render(_graph(), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dot_output_is_the_text(tmp_path: Path) -> None:
    out = tmp_path / "graph.dot"
    render(_graph(), out)
    assert out.read_text(encoding="utf-8") == to_dot(_graph())


@pytest.mark.parametrize("name", ["graph.pdf", "graph", "graph.svg.txt"])
def test_unsupported_suffix_raises(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"\.dot, \.svg, \.png"):
        render(_graph(), tmp_path / name)
    assert not (tmp_path / name).exists()


def test_dot_failure_is_reported_with_its_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dot_binary: str
) -> None:
    monkeypatch.setattr(render_module, "to_dot", lambda spec: "digraph { a -> }\n")
    with pytest.raises(RuntimeError, match=r"failed \(exit 1\).*syntax error"):
        render(_graph(), tmp_path / "graph.svg")


def test_a_missing_target_is_drawn_not_fatal(tmp_path: Path, dot_binary: str) -> None:
    nodes = [node.model_dump() for node in _graph().nodes]
    nodes[1]["transitions"].append({"keywords": ["refill"], "to": "refills"})
    dot = to_dot(_graph(nodes=nodes))
    assert "(missing)" in _node_line(dot, "refills")
    render(_graph(nodes=nodes), tmp_path / "graph.svg")


def test_missing_dot_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="install the graphviz package"):
        render(_graph(), tmp_path / "graph.svg")


def test_awkward_text_is_escaped_and_dot_accepts_it(tmp_path: Path, dot_binary: str) -> None:
    awkward = 'Say "hi" \\n <b>&amp;</b>\nnext line — café 日本 ☎'
    nodes = [node.model_dump() for node in _graph().nodes]
    nodes[1]["say"]["neutral"] = awkward
    nodes[1]["transitions"][0] = {"keywords": ['"quoted"', "back\\slash", "<tag>"], "to": "booking"}
    spec = _graph(clinic={"name": 'St. "Quote" <Clinic> \\ & Co\nLine two'}, nodes=nodes)
    dot = to_dot(spec)
    menu = _node_line(dot, "menu")
    assert "&quot;hi&quot;" in menu and "&lt;b&gt;&amp;amp;&lt;/b&gt;" in menu and "\\\\n" not in menu
    assert 'keywords: \\"quoted\\", back\\\\slash, <tag>' in _edge_lines(dot, "menu", "booking")[0]
    out = tmp_path / "awkward.svg"
    render(spec, out)
    root = ET.parse(out).getroot()
    texts = [el.text or "" for el in root.iter(f"{SVG_NS}text")]
    joined = " ".join(texts)
    assert '“Say "hi" \\n <b>&amp;</b> next line — ca…”' in joined  # decoded once, not twice
    assert 'keywords: "quoted", back\\slash, <tag>' in joined
    assert 'St. "Quote" <Clinic> \\ & Co' in joined
    render(spec, tmp_path / "awkward.png")
