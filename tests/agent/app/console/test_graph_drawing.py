"""The graph drawing: columns by steps from the start node, every node drawn once, colours by the
valence change after each node, a call's path drawn over it, unreachable nodes in the last column."""

from __future__ import annotations

from pathlib import Path

from agent.app.console.graph_drawing import BETTER, EVEN, PATH, UNSEEN, WORSE, graph_svg, layout
from graph.schema import GraphSpec
from graph.validate import load_graph

CLINIC = Path(__file__).resolve().parents[4] / "configs" / "graphs" / "clinic.yaml"


def tiny() -> GraphSpec:
    nodes = [
        {"id": "hello", "say": {"neutral": "Hi."}, "transitions": [{"to": "ask", "keywords": ["yes"]}, {"to": "bye", "keywords": ["no"]}]},
        {"id": "ask", "say": {"neutral": "What?"}, "transitions": [{"to": "hello", "keywords": ["again"]}], "next": "bye"},
        {"id": "bye", "say": {"neutral": "Bye."}},
        {"id": "orphan", "say": {"neutral": "Nobody comes here."}},
    ]
    return GraphSpec.model_validate({
        "clinic": {"name": "C", "phone": "1", "address": "a", "hours": {"monday": "09:00-17:00"}},
        "settings": {"start": "hello", "fallback": "bye"}, "nodes": nodes,
    })


def test_columns_are_steps_from_the_start_and_the_unreachable_come_last() -> None:
    assert layout(tiny()) == {"hello": (0, 0), "ask": (1, 0), "bye": (1, 1), "orphan": (2, 0)}


def test_every_node_is_drawn_once_coloured_by_what_followed_it() -> None:
    svg = graph_svg(tiny(), {"hello": -0.3, "ask": 0.25, "bye": 0.02}, drop=0.1)
    assert svg.count('class="node') == 4
    for node, fill in [("hello", WORSE), ("ask", BETTER), ("bye", EVEN), ("orphan", UNSEEN)]:
        part = svg.split(f'data-node="{node}"', 1)[1]
        assert f'fill="{fill}"' in part.split("</g>", 1)[0], node
    assert "valence -0.30 after it" in svg


def test_a_calls_path_is_drawn_over_the_graph() -> None:
    svg = graph_svg(tiny(), path=["hello", "ask", "ask", "hello", "bye"])
    assert svg.count('class="edge walked"') == 3  # hello->ask, ask->hello (a loop back), hello->bye
    assert svg.count(f'stroke="{PATH}" stroke-width="2.5"/>') >= 3  # the visited nodes' outline
    assert 'class="node visited" data-node="orphan"' not in svg


def test_the_bundled_clinic_graph_draws() -> None:
    spec = load_graph(CLINIC)
    svg = graph_svg(spec)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and svg.count('class="node') == len(spec.nodes)


def test_live_badges_say_how_many_calls_are_at_each_node() -> None:
    svg = graph_svg(tiny(), live={"ask": 2, "bye": 1})
    assert svg.count('class="live"') == 4
    assert 'data-node="ask" x=' in svg and ">2 calls here</text>" in svg and ">1 call here</text>" in svg
    assert 'class="live"' not in graph_svg(tiny())  # the review page's drawing has none
