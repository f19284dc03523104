"""The conversation graph as one SVG: nodes in columns by how many steps they are from the start,
each coloured by how callers' valence moved after the agent spoke from it (red: it fell, green:
it rose, grey: about even, white: no calls yet), and a call's path drawn over it. Drawn on the
server, like the timeline (timeline_plot.py): no script, only presentation attributes (the CSP's
``style-src 'self'`` refuses inline styles)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

from graph.schema import GraphSpec

BOX_W, BOX_H = 132, 28
COL_W, ROW_H = 172, 42
MARGIN = 16
WORSE, BETTER, EVEN, UNSEEN = "#eaa9a9", "#aad9b5", "#e3e7eb", "#ffffff"
PATH = "#1f5f99"


def _targets(spec: GraphSpec, node_id: str) -> list[str]:
    node = spec.node(node_id)
    out = [t.to for t in node.transitions]
    if node.next:
        out.append(node.next)
    return list(dict.fromkeys(out))


def layout(spec: GraphSpec) -> dict[str, tuple[int, int]]:
    """node id -> (column, row): columns are steps from ``settings.start`` (breadth first, in the
    file's order); nodes reached only through global transitions or not at all come last."""
    ids = [n.id for n in spec.nodes]
    column: dict[str, int] = {spec.settings.start: 0} if spec.settings.start in ids else {}
    frontier = list(column)
    while frontier:
        following = []
        for node_id in frontier:
            for target in _targets(spec, node_id):
                if target in ids and target not in column:
                    column[target] = column[node_id] + 1
                    following.append(target)
        frontier = following
    last = max(column.values(), default=-1) + 1
    for node_id in ids:
        column.setdefault(node_id, last)
    rows: dict[int, int] = {}
    placed = {}
    for node_id in ids:  # the file's order within a column
        c = column[node_id]
        placed[node_id] = (c, rows.get(c, 0))
        rows[c] = rows.get(c, 0) + 1
    return placed


def _fill(change: float | None, drop: float) -> str:
    if change is None:
        return UNSEEN
    return WORSE if change < -drop else BETTER if change > drop else EVEN


def graph_svg(spec: GraphSpec, effects: Mapping[str, float] | None = None, path: Sequence[str] = (), drop: float = 0.1,
              live: Mapping[str, int] | None = None) -> str:
    """``effects``: node -> mean valence change after it; ``path``: the nodes a call went through;
    ``live``: node -> calls there now (a badge per node, which the graph page's script updates)."""
    effects = effects or {}
    at = layout(spec)
    columns = max(c for c, _ in at.values()) + 1
    rows = max(r for _, r in at.values()) + 1
    width, height = MARGIN * 2 + (columns - 1) * COL_W + BOX_W, MARGIN * 2 + (rows - 1) * ROW_H + BOX_H

    def box(node_id: str) -> tuple[float, float]:
        c, r = at[node_id]
        return MARGIN + c * COL_W, MARGIN + r * ROW_H

    walked = {(a, b) for a, b in zip(path, path[1:]) if a != b}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" id="graph" '
             f'aria-label="conversation graph" font-family="sans-serif" font-size="11">',
             '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto">'
             '<path d="M0 0 L8 4 L0 8 z" fill="#7d8891"/></marker>'
             f'<marker id="arrow-path" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto">'
             f'<path d="M0 0 L8 4 L0 8 z" fill="{PATH}"/></marker></defs>']
    for node in spec.nodes:
        x0, y0 = box(node.id)
        for target in _targets(spec, node.id):
            if target not in at:
                continue
            x1, y1 = box(target)
            on_path = (node.id, target) in walked
            colour, width_, marker = (PATH, 2.5, "arrow-path") if on_path else ("#9aa5ae", 1, "arrow")
            if x1 > x0:  # forward: right side to left side
                d = f"M{x0 + BOX_W:.0f} {y0 + BOX_H / 2:.0f} L{x1:.0f} {y1 + BOX_H / 2:.0f}"
            else:  # back or within a column: a loop under the boxes
                low = max(y0, y1) + BOX_H + 12
                d = (f"M{x0 + BOX_W / 2:.0f} {y0 + BOX_H:.0f} C{x0 + BOX_W / 2:.0f} {low:.0f} "
                     f"{x1 + BOX_W / 2:.0f} {low:.0f} {x1 + BOX_W / 2:.0f} {y1 + BOX_H:.0f}")
            cls = "edge walked" if on_path else "edge"
            parts.append(f'<path class="{cls}" d="{d}" fill="none" stroke="{colour}" stroke-width="{width_}" '
                         f'marker-end="url(#{marker})"/>')
    visited = set(path)
    for node in spec.nodes:
        x, y = box(node.id)
        change = effects.get(node.id)
        title = node.id if change is None else f"{node.id}: valence {change:+.2f} after it, on average"
        stroke, stroke_w = (PATH, 2.5) if node.id in visited else ("#8a949c", 1)
        start = " start" if node.id == spec.settings.start else ""
        parts.append(f'<g class="node{start}{" visited" if node.id in visited else ""}" data-node={quoteattr(node.id)}>'
                     f'<title>{escape(title)}</title>'
                     f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{_fill(change, drop)}" '
                     f'stroke="{stroke}" stroke-width="{stroke_w}"/>'
                     f'<text x="{x + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle" fill="#1d2329">'
                     f'{escape(node.id if len(node.id) <= 20 else node.id[:19] + "…")}</text>'
                     + (f'<text class="live" data-node={quoteattr(node.id)} x="{x + BOX_W - 4}" y="{y - 3}" '
                        f'text-anchor="end" fill="{PATH}" font-weight="bold">{_calls(live.get(node.id, 0))}</text>'
                        if live is not None else "")
                     + '</g>')
    parts.append("</svg>")
    return "".join(parts)


def _calls(n: int) -> str:
    return "" if n == 0 else "1 call here" if n == 1 else f"{n} calls here"


__all__ = ["graph_svg", "layout"]
