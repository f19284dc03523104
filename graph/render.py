"""Draws a clinic's conversation graph (``bedside graph render FILE -o graph.svg``).

A clinic admin edits the graph as YAML; a picture is how they (and the clinic's governance
people) check what the agent will do: where a caller can go, which nodes touch sensitive
topics, where the caller's emotional state changes the route, and where the call ends or is
handed to a person. :func:`to_dot` writes Graphviz DOT text itself (no python graphviz/pydot
dependency, so nothing more to pin or license); :func:`render` runs Graphviz's ``dot`` program
(installed by scripts/install.sh) as a subprocess for SVG and PNG.

The spec is expected to be valid (:mod:`graph.validate` runs first in the CLI); a target that
is not a node is still drawn, as a red dashed "missing" box, rather than failing here."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from graph.schema import (
    Action,
    CallbackAction,
    EmotionCondition,
    EndCallAction,
    GraphSpec,
    Node,
    SlotCondition,
    TransferAction,
    Transition,
    WebhookAction,
)

__all__ = ["DOT_TIMEOUT_S", "FORMATS", "render", "to_dot"]

FORMATS = (".dot", ".svg", ".png")
"""Output suffixes :func:`render` understands."""

DOT_TIMEOUT_S = 30.0
"""A ~30-node graph lays out in well under a second; a hang means something is wrong."""

MISSING_DOT = "Graphviz 'dot' not found: install the graphviz package (scripts/install.sh does)"

ANY_NODE = "__any__"
"""The pseudo-node global transitions start from. Node ids match ``^[a-z]...`` so this cannot clash."""

SAY_CHARS = 40
"""Enough of the first line to recognise the node; the YAML has the rest."""

LINE_CHARS = 44
"""Longest marker / edge-label line before it is cut; keeps boxes narrow for ~30 nodes."""

FONT = "Helvetica,Arial,sans-serif"

# Colours: sensitive nodes warm with a red border, emotional edges purple, the rest muted.
INK = "#334455"
NODE_FILL = "#f4f7fb"
TERMINAL_FILL = "#e6e6e6"
SENSITIVE_FILL = "#ffe0cc"
SENSITIVE_BORDER = "#cc2200"
EMOTION = "#7b2cbf"
GLOBAL = "#1f6fb2"
OTHERWISE = "#888888"
MISSING = "#cc0000"


# --------------------------------------------------------------------------- escaping


def _quote(text: str) -> str:
    """A DOT double-quoted string. Backslashes are doubled because ``\\n``, ``\\N`` ... are label
    escapes in Graphviz; a caller's own line breaks become Graphviz's centred ``\\n``."""
    text = _printable(text.replace("\r\n", "\n").replace("\r", "\n"), keep_newlines=True)
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _html(text: str) -> str:
    """Text for an HTML-like label: ``& < > " '`` as entities, line breaks flattened (an HTML
    label needs ``<br/>`` for those; say lines are shown as one line anyway)."""
    text = _printable(text, keep_newlines=False)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _printable(text: str, *, keep_newlines: bool) -> str:
    """Drops control characters, which Graphviz rejects or draws as garbage."""
    keep = {"\n"} if keep_newlines else set()
    out = []
    for char in text:
        if char in keep:
            out.append(char)
        elif char in "\t\n":
            out.append(" ")
        elif ord(char) >= 32 and ord(char) != 127:
            out.append(char)
    return "".join(out)


def _cut(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters, with an ellipsis when something was cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _Html(str):
    """An HTML-like label, already escaped and wrapped in ``<...>``: written unquoted. A type, not
    a sniff of the first character, so a clinic named "<Test>" is still quoted as text."""


def _attrs(**attrs: str | float | None) -> str:
    """``[key="value", ...]``, skipping ``None``."""
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        parts.append(f"{key}={value if isinstance(value, _Html) else _quote(str(value))}")
    return f"[{', '.join(parts)}]" if parts else ""


# --------------------------------------------------------------------------- node labels


def _say_line(node: Node) -> str | None:
    """The first neutral line the caller hears, cut short: the node's ``say``, else its first
    slot's question (a pure "collect" node says nothing else), else its LLM instructions."""
    say = node.say if node.say is not None else (node.collect[0].ask if node.collect else None)
    if say is not None:
        first = say.neutral if isinstance(say.neutral, str) else say.neutral[0]
        return f"“{_cut(first, SAY_CHARS)}”"
    if node.instructions:
        return f"LLM: {_cut(node.instructions, SAY_CHARS)}"
    return None


def _action_text(action: Action) -> str:
    """A short marker per action, naming who takes the call or the request."""
    if isinstance(action, TransferAction):
        return f"☎ transfer → {action.to}"
    if isinstance(action, EndCallAction):
        return "■ end call"
    if isinstance(action, CallbackAction):
        urgent = " (urgent)" if action.priority == "urgent" else ""
        return f"↺ callback → {action.team}{urgent}"
    if isinstance(action, WebhookAction):
        return f"⚡ webhook: {action.event}"
    raise TypeError(f"unknown action {action!r}")  # pragma: no cover - the schema's union is closed


def _node_label(node: Node, *, start: bool, fallback: bool) -> _Html:
    """An HTML-like label: bold id, the say line, then small marker lines."""
    roles = [role for role, yes in (("start", start), ("fallback", fallback)) if yes]
    title = f"<b>{_html(node.id)}</b>"
    if roles:
        title += f' <font point-size="9">({_html(", ".join(roles))})</font>'
    rows = [title]
    say = _say_line(node)
    if say:
        rows.append(f"<i>{_html(say)}</i>")
    small: list[str] = []
    if node.collect:
        small.append(_html(_cut("collects: " + ", ".join(slot.name for slot in node.collect), LINE_CHARS)))
    small.extend(_html(_cut(_action_text(action), LINE_CHARS)) for action in node.actions)
    rows.extend(f'<font point-size="9">{line}</font>' for line in small)
    if node.topics:
        topics = ", ".join(topic.value for topic in node.topics)
        rows.append(
            f'<font point-size="9" color="{SENSITIVE_BORDER}"><b>'
            f"{_html(_cut('⚠ sensitive: ' + topics, LINE_CHARS))}</b></font>"
        )
    return _Html("<" + "<br/>".join(rows) + ">")


def _node_statement(node: Node, *, start: bool, fallback: bool) -> str:
    """Shape and colour say what kind of node it is: start (double, bold border), terminal
    (rounded, grey), sensitive (warm fill, red border; wins over grey)."""
    style = ["filled"]
    fill, border, pen = NODE_FILL, INK, 1.0
    if node.ends_call:
        style.insert(0, "rounded")
        fill = TERMINAL_FILL
    if node.topics:
        fill, border, pen = SENSITIVE_FILL, SENSITIVE_BORDER, 2.0
    if start:
        pen = max(pen, 2.5)
    attrs = _attrs(
        label=_node_label(node, start=start, fallback=fallback),
        shape="box",
        style=",".join(style),
        fillcolor=fill,
        color=border,
        penwidth=pen,
        peripheries=2 if start else None,
        tooltip=node.id,
    )
    return f"  {_quote(node.id)} {attrs};"


# --------------------------------------------------------------------------- edge labels


def _list(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", +{len(items) - limit}" if len(items) > limit else "")


def _slot_text(condition: SlotCondition) -> str:
    parts = [f"{name} filled" for name in condition.filled]
    parts += [f"{name} missing" for name in condition.missing]
    parts += [f"{name}={value}" for name, value in condition.equals.items()]
    return "if " + ", ".join(parts) if parts else "if slots"


def _emotion_text(condition: EmotionCondition) -> str:
    """``♥ valence<-0.3, trend=deteriorating, burst: cry|sigh``: all must hold (AND)."""
    parts: list[str] = []
    if condition.valence_below is not None:
        parts.append(f"valence<{condition.valence_below:g}")
    if condition.arousal_above is not None:
        parts.append(f"arousal>{condition.arousal_above:g}")
    if condition.trend is not None:
        parts.append(f"trend={condition.trend.value}")
    if condition.burst:
        parts.append("burst: " + "|".join(condition.burst))
    if condition.coherence_below is not None:
        parts.append(f"coherence<{condition.coherence_below:g}")
    return "♥ " + ", ".join(parts)


def _edge_lines(transition: Transition) -> list[str]:
    """What makes the transition match, one matcher per line (any of them matches), then its
    slot condition, then its emotion condition (both must also hold)."""
    lines: list[str] = []
    if transition.intent:
        lines.append(transition.intent)
    if transition.examples:
        more = len(transition.examples) - 1
        lines.append(f"“{_cut(transition.examples[0], 24)}”" + (f" +{more}" if more else ""))
    if transition.keywords:
        lines.append("keywords: " + _list(transition.keywords))
    if transition.dtmf:
        lines.append(f"dtmf {transition.dtmf}")
    if transition.slots is not None:
        lines.append(_slot_text(transition.slots))
    if transition.otherwise:
        lines.append("otherwise")
    lines = [_cut(line, LINE_CHARS) for line in lines]
    if transition.emotion is not None:  # never cut: it is the point of the edge, and short anyway
        lines.append(_emotion_text(transition.emotion))
    return lines


def _merged_label(transitions: Sequence[Transition]) -> str:
    """The label of one drawn edge for several transitions between the same two nodes. Plain
    one-line matchers (usually intent names) are run together, ``a | b | c``, wrapped to
    :data:`LINE_CHARS`; otherwise each transition keeps its own lines."""
    per_transition = [_edge_lines(transition) for transition in transitions]
    if len(per_transition) == 1 or any(len(lines) != 1 for lines in per_transition):
        return "\n".join(line for lines in per_transition for line in lines)
    wrapped: list[str] = []
    for [line] in per_transition:
        if wrapped and len(wrapped[-1]) + 3 + len(line) <= LINE_CHARS:
            wrapped[-1] += " | " + line
        else:
            wrapped.append(line)
    return "\n".join(wrapped)


def _edge_statement(source: str, transitions: Sequence[Transition], *, is_global: bool = False) -> str:
    """Emotional edges purple and bold; global ones blue and dashed; ``otherwise`` grey. The
    transitions share source, target and emotional-or-not (see :func:`_grouped`)."""
    color, style, pen = INK, "solid", 1.0
    if is_global:
        color, style = GLOBAL, "dashed"
    if all(t.otherwise and not t.has_utterance_matcher for t in transitions):
        color = OTHERWISE
    if transitions[0].emotion is not None:
        color, style, pen = EMOTION, "bold", 2.5
    attrs = _attrs(
        label=_merged_label(transitions),
        color=color,
        fontcolor=color,
        style=style,
        penwidth=pen,
    )
    return f"  {_quote(source)} -> {_quote(transitions[0].to)} {attrs};"


def _grouped(transitions: Sequence[Transition]) -> list[list[Transition]]:
    """Transitions to the same target, emotional and plain apart, in first-seen order: seven
    intents from one node to ``identify`` are one edge, not seven parallel ones."""
    groups: dict[tuple[str, bool], list[Transition]] = {}
    for transition in transitions:
        groups.setdefault((transition.to, transition.emotion is not None), []).append(transition)
    return list(groups.values())


def _edge_statements(source: str, transitions: Sequence[Transition], *, is_global: bool = False) -> list[str]:
    return [_edge_statement(source, group, is_global=is_global) for group in _grouped(transitions)]


def _next_statement(node: Node) -> str:
    attrs = _attrs(label="next", style="dashed", color=INK, fontcolor=INK)
    return f"  {_quote(node.id)} -> {_quote(node.next or '')} {attrs};"


# --------------------------------------------------------------------------- whole graph


def _missing_targets(spec: GraphSpec) -> list[str]:
    """Targets that are not nodes; drawn so a half-edited graph still renders."""
    ids = {node.id for node in spec.nodes}
    targets = [t.to for t in spec.global_transitions]
    for node in spec.nodes:
        targets += [t.to for t in node.transitions] + ([node.next] if node.next else [])
    return sorted({target for target in targets if target not in ids})


def _global_lines(spec: GraphSpec) -> list[str]:
    """One "any node" pseudo-node: a global transition is checked from every node, and drawing
    it from each would bury the graph in edges."""
    if not spec.global_transitions:
        return []
    lines = [
        f"  {_quote(ANY_NODE)} "
        + _attrs(
            label="any node",
            shape="ellipse",
            style="dashed",
            color=GLOBAL,
            fontcolor=GLOBAL,
            tooltip="global transitions: checked first, from every node",
        )
        + ";"
    ]
    lines += _edge_statements(ANY_NODE, spec.global_transitions, is_global=True)
    return lines


def _legend_lines() -> list[str]:
    """A small key, so the picture can be read without docs/graph.md. One HTML table in its own
    cluster: sample edges between real nodes would take part in the layout and sprawl."""
    def row(sample: str, meaning: str, **cell: str) -> str:
        attrs = "".join(f' {key}="{value}"' for key, value in cell.items())
        return f'<tr><td{attrs}>{sample}</td><td align="left">{_html(meaning)}</td></tr>'

    def line(glyphs: str, color: str, *, bold: bool = False) -> str:
        text = f'<font color="{color}">{glyphs}</font>'
        return f"<b>{text}</b>" if bold else text

    rows = [
        row("start", "start node (double, bold border)", border="3", color=INK, bgcolor=NODE_FILL),
        row("⚠ sensitive", "sensitive topic: delivered gently",
            border="2", color=SENSITIVE_BORDER, bgcolor=SENSITIVE_FILL),
        row("end / transfer", "ends the call or hands it to a person",
            border="1", color=INK, bgcolor=TERMINAL_FILL, style="rounded"),
        row(line("───▶", INK), "intent / keywords / dtmf / slots"),
        row(line("╌╌╌▶", INK), "next: straight on, no caller turn"),
        row(line("───▶", OTHERWISE), "otherwise: nothing else matched"),
        row(line("━━━▶", EMOTION, bold=True), "♥ emotional: preferred when the caller's state fits"),
        row(line("╌╌╌▶", GLOBAL), "global: from any node, checked first"),
    ]
    table = '<table border="0" cellborder="0" cellspacing="3" cellpadding="3">' + "".join(rows) + "</table>"
    return [
        "  subgraph cluster_legend {",
        f'    label="Legend"; fontsize=11; style="rounded,dashed"; color="{OTHERWISE}"; fontcolor="{INK}";',
        f"    {_quote('__legend')} {_attrs(label=_Html('<' + table + '>'), shape='plaintext', fontsize=9)};",
        "  }",
    ]


def to_dot(spec: GraphSpec) -> str:
    """The whole graph as DOT text, top down: with menu-like hubs fanning out to a dozen nodes,
    top-down came out about half the area of left-to-right for the ~30-node clinic graph, with
    the leaves in a readable row. Edges are listed in the YAML's order so the layout follows it."""
    title = f"{spec.clinic.name}: conversation graph"
    lines = [
        "digraph bedside {",
        "  graph "
        + _attrs(label=title, labelloc="t", fontsize=16, fontname=FONT, rankdir="TB", charset="UTF-8",
                 nodesep=0.35, ranksep=0.6, newrank="true", pad=0.3)
        + ";",
        f"  node {_attrs(fontname=FONT, fontsize=11, margin='0.12,0.06', color=INK, fontcolor='#111111')};",
        f"  edge {_attrs(fontname=FONT, fontsize=9, arrowsize=0.7)};",
    ]
    for node in spec.nodes:
        start, fallback = node.id == spec.settings.start, node.id == spec.settings.fallback
        lines.append(_node_statement(node, start=start, fallback=fallback))
    for target in _missing_targets(spec):
        lines.append(
            f"  {_quote(target)} "
            + _attrs(label=f"{target}\n(missing)", shape="box", style="dashed", color=MISSING, fontcolor=MISSING)
            + ";"
        )
    lines += _global_lines(spec)
    for node in spec.nodes:
        lines += _edge_statements(node.id, node.transitions)
        if node.next:
            lines.append(_next_statement(node))
    lines += _legend_lines()
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_binary() -> str:
    path = shutil.which("dot")
    if path is None:
        raise RuntimeError(MISSING_DOT)
    return path


def render(spec: GraphSpec, out: Path) -> None:
    """Writes the picture; the format is the suffix of ``out`` (.dot, .svg or .png). Parent
    folders are created, so ``-o docs/images/graph.svg`` just works."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot render to {out.name!r}: the suffix must be one of {', '.join(FORMATS)}")
    text = to_dot(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".dot":
        out.write_text(text, encoding="utf-8")
        return
    _run_dot(text, suffix[1:], out)


def _run_dot(text: str, fmt: str, out: Path) -> None:
    """Runs ``dot -T<fmt> -o out`` with the DOT text on stdin."""
    command = [_dot_binary(), f"-T{fmt}", "-o", str(out)]
    try:
        result = subprocess.run(
            command, input=text.encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT_S, check=False
        )
    except FileNotFoundError as error:  # removed between which() and run()
        raise RuntimeError(MISSING_DOT) from error
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"Graphviz 'dot' did not finish within {DOT_TIMEOUT_S:g} s") from error
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"Graphviz 'dot -T{fmt}' failed (exit {result.returncode}): {stderr}")
