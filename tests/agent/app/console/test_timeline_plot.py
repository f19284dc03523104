"""The review plot is well-formed SVG that draws what the timeline holds: one point per available
state on each line, trend shading, one marker per burst and per reply, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agent.app.console.timeline_plot import timeline_svg
from agent.services.records.queries import Burst, EmotionState, EmotionTimeline, Reply

NS = {"s": "http://www.w3.org/2000/svg"}


def state(seq: int, at_s: float, valence: float, trend: str = "stable", available: bool = True) -> EmotionState:
    return EmotionState(seq, at_s, valence, 0.5, trend, 0.8, available, None)


def timeline(states: tuple[EmotionState, ...], bursts: tuple[Burst, ...] = ()) -> EmotionTimeline:
    return EmotionTimeline(len(states), bursts, states, (), None, None, None)


def test_lines_shading_bursts_and_replies() -> None:
    states = (state(0, 2, 0.2), state(1, 30, -0.2, "deteriorating"), state(2, 60, -0.5, "deteriorating"),
              state(3, 61, 0.0, available=False), state(4, 90, 0.1, "improving"), state(5, 120, 0.3))
    bursts = (Burst(0, 40.0, 42.0, "sigh", 0.8), Burst(1, 70.0, 72.0, "cry", 0.6))
    replies = (Reply(0, 0.5, "greeting", None, "start", "warm", "greeting"),
               Reply(1, 33.0, "turn-1", 1, "triage", "calm", "caller <distressed> & slow"))
    root = ET.fromstring(timeline_svg(timeline(states, bursts), 125.0, replies))
    lines = {p.get("class"): p.get("points").split() for p in root.findall("s:polyline", NS)}
    assert set(lines) == {"valence", "arousal", "coherence"} and all(len(v) == 5 for v in lines.values())
    ys = [float(p.split(",")[1]) for p in lines["valence"]]
    assert ys[2] > ys[1] > ys[0]  # falling valence is drawn lower (SVG y grows downwards)
    assert len(root.findall("s:rect[@class='trend-deteriorating']", NS)) == 2
    assert len(root.findall("s:rect[@class='trend-improving']", NS)) == 1
    assert [m.find("s:title", NS).text for m in root.findall("s:path[@class='burst']", NS)] == ["40-42 s: sigh (0.80)", "70-72 s: cry (0.60)"]
    titles = [r.find("s:title", NS).text for r in root.findall("s:line[@class='reply']", NS)]
    assert titles[1] == "33 s: triage / turn-1 (calm: caller <distressed> & slow)"  # escaped in the file, intact when read


def test_a_call_without_readings_says_so() -> None:
    root = ET.fromstring(timeline_svg(None, 0.0))
    assert root.find("s:polyline", NS) is None
    assert "no emotional readings" in root.find("s:text[@class='empty']", NS).text
