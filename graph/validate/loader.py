"""The checks in order, for one file: :func:`validate_file` for the CLI, :func:`load_graph` for the runtime.

A later stage runs only when the earlier one passed, so that one typo does not cascade into
dozens of follow-on errors; graph errors are capped per file, since past that many the file is
not a graph being edited."""

from __future__ import annotations

import itertools
from pathlib import Path

from pydantic import ValidationError

from graph.schema import GraphSpec
from graph.validate.bursts import burst_names
from graph.validate.overlaps import overlap_warnings
from graph.validate.parse import Parsed, parse, read_text
from graph.validate.references import intent_references, placeholders, slot_references
from graph.validate.report import ValidationReport, make_report
from graph.validate.schema_errors import schema_problems
from graph.validate.structure import dangling_targets, dead_ends, duplicate_ids, unreachable
from graph.validate.wording import describe
from graph.yaml_source import ConfigError, Problem, Where

MAX_GRAPH_PROBLEMS = 100
"""Graph errors reported per file: past this the file is not a graph being edited."""


def validate_file(path: str | Path) -> ValidationReport:
    """Check one graph file; never raises for anything wrong with the file's content."""
    name = str(path)
    text = read_text(Path(path), name)
    if isinstance(text, Problem):
        return make_report(name, [text], [], None)
    return validate_text(name, text)


def validate_text(name: str, text: str) -> ValidationReport:
    """Check a graph not yet in its file (an upload), its problems named ``name:LINE:COL``."""
    parsed = parse(name, text)
    if not isinstance(parsed, Parsed):
        return make_report(name, parsed, [], None)
    where = parsed.where
    if not isinstance(parsed.data, dict):
        what = "empty" if parsed.data is None else f"{describe(parsed.data)}, not a mapping"
        return make_report(name, [where.at((), f"the file is {what}; a graph has clinic:, settings: and nodes:")], [], None)
    try:
        spec = GraphSpec.model_validate(parsed.data)
    except ValidationError as exc:
        return make_report(name, schema_problems(exc, where), [], None)
    errors = graph_problems(spec, where)
    warnings = overlap_warnings(spec, where)
    return make_report(name, errors, warnings, spec)


def load_graph(path: str | Path) -> GraphSpec:
    """The graph the runtime runs, or ConfigError with every error (``FILE:LINE:COL: ...``), one a line."""
    report = validate_file(path)
    if report.spec is None:
        raise ConfigError("\n".join(str(p) for p in report.errors))
    return report.spec


def graph_problems(spec: GraphSpec, where: Where) -> list[Problem]:
    """Every whole-graph error of a schema-valid spec, at most :data:`MAX_GRAPH_PROBLEMS` (+1 saying so)."""
    checks = itertools.chain(
        duplicate_ids(spec, where),
        dangling_targets(spec, where),
        unreachable(spec, where),
        dead_ends(spec, where),
        placeholders(spec, where),
        slot_references(spec, where),
        intent_references(spec, where),
        burst_names(spec, where),
    )
    problems = list(itertools.islice(checks, MAX_GRAPH_PROBLEMS + 1))
    if len(problems) > MAX_GRAPH_PROBLEMS:
        problems[-1] = where.at((), f"more than {MAX_GRAPH_PROBLEMS} graph errors; fix these first")
    return problems
