"""A call's emotional course as one SVG: valence, arousal and coherence over the call's seconds,
the trend shaded (deteriorating red, improving green), bursts as markers and the agent's replies
as ticks. Drawn on the server so the review page needs no script (the console's CSP allows
none inline) and prints as it looks. Only presentation attributes, no ``style``: the CSP's
``style-src 'self'`` refuses inline styles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from agent.services.records.queries import EmotionTimeline, Reply

WIDTH, HEIGHT = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 30
SHADE = {"deteriorating": "#f3c9c9", "improving": "#cdebd3"}
LINES = (("valence", "#1f5f99", "valence (-1..1)"), ("arousal", "#c26a12", "arousal (0..1)"), ("coherence", "#6b6b6b", "coherence (0..1)"))


def _x(t: float, duration: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (t / duration if duration > 0 else 0.0)


def _y(v: float, lo: float, hi: float) -> float:
    v = min(max(v, lo), hi)
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (v - lo) / (hi - lo))


def timeline_svg(timeline: EmotionTimeline | None, duration_s: float, replies: Sequence[Reply] = ()) -> str:
    """The plot, or a short SVG that says there is nothing to draw. Valence is on -1..1; arousal
    and coherence on 0..1 share the same height (0 at the middle line's level is *not* implied:
    the axis on the right reads 0..1)."""
    states = [s for s in (timeline.states if timeline else ()) if s.available]
    duration = max([duration_s, *(s.at_s for s in states), *(r.at_s for r in replies), 1.0])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="emotional timeline" id="timeline" font-family="sans-serif" font-size="11">']
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" fill="#ffffff" stroke="#c9d0d6"/>')
    for (a, b) in zip(states, states[1:]):  # trend shading between consecutive states
        if a.trend in SHADE:
            parts.append(f'<rect class="trend-{a.trend}" x="{_x(a.at_s, duration):.1f}" y="{TOP}" '
                         f'width="{max(_x(b.at_s, duration) - _x(a.at_s, duration), 0.5):.1f}" height="{HEIGHT - TOP - BOTTOM}" '
                         f'fill="{SHADE[a.trend]}"/>')
    zero = _y(0.0, -1.0, 1.0)
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#9aa5ae" stroke-dasharray="3 3"/>')
    step = 30 * max(1, math.ceil(duration / 8 / 30))  # at most ~8 labels, on whole half-minutes
    for tick in range(0, int(duration) + 1, step):
        x = _x(tick, duration)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle" fill="#4a545c">{tick // 60}:{tick % 60:02d}</text>')
    parts.append(f'<text x="4" y="{TOP + 10}" fill="#1f5f99">+1</text><text x="4" y="{zero + 4:.1f}" fill="#1f5f99">0</text>'
                 f'<text x="4" y="{HEIGHT - BOTTOM:.1f}" fill="#1f5f99">-1</text>')
    for r in replies:
        x = _x(r.at_s, duration)
        label = f"{r.at_s:.0f} s: {r.node or '-'} / {r.label} ({r.expression}: {r.expression_why})"
        parts.append(f'<line class="reply" x1="{x:.1f}" x2="{x:.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 6}" '
                     f'stroke="#20425c" stroke-width="2"><title>{escape(label)}</title></line>')
    if len(states) >= 1:
        for field, colour, name in LINES:
            lo = -1.0 if field == "valence" else 0.0
            points = " ".join(f"{_x(s.at_s, duration):.1f},{_y(getattr(s, field), lo, 1.0):.1f}" for s in states)
            dash = ' stroke-dasharray="5 3"' if field == "coherence" else ""
            parts.append(f'<polyline class="{field}" points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}>'
                         f'<title>{escape(name)}</title></polyline>')
    for b in (timeline.bursts if timeline else ()):
        x = _x(b.begin_s, duration)
        label = f"{b.begin_s:.0f}-{b.end_s:.0f} s: {b.burst} ({b.score:.2f})"
        parts.append(f'<path class="burst" d="M{x:.1f},{TOP + 2} l5,9 l-10,0 z" fill="#7b3fa0"><title>{escape(label)}</title></path>')
    if not states:
        parts.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" fill="#4a545c" class="empty">'
                     'no emotional readings were kept for this call</text>')
    x = LEFT
    for _field, colour, name in LINES:
        parts.append(f'<text x="{x}" y="{TOP - 3}" fill={quoteattr(colour)}>{escape(name)}</text>')
        x += 150
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["timeline_svg"]
