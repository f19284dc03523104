"""``bedside graph ...``: the JSON Schema of graph files, validation, and drawing a graph.

Problems go to stdout, one ``FILE:LINE:COL: message`` a line (as linters print them), so that
editors and CI can jump to them and ``grep warning`` works; the exit status says pass/fail."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERROR = 0, 1


def add_parser(sub: Any) -> None:
    graph = sub.add_parser("graph", help="conversation graph files: schema, validate, render")
    graph_sub = graph.add_subparsers(dest="graph_command", required=True)
    graph_sub.add_parser("schema", help="print the JSON Schema of graph files (for editor autocompletion)")
    validate = graph_sub.add_parser("validate", help="check graph files: FILE:LINE:COL errors and warnings, exit 1 on errors")
    validate.add_argument("files", nargs="+", metavar="FILE")
    render = graph_sub.add_parser("render", help="draw a graph; the format follows OUT's suffix (.svg, .png, .dot)")
    render.add_argument("file", metavar="FILE")
    render.add_argument("-o", "--out", required=True, metavar="OUT")


def run(args: argparse.Namespace) -> int:
    if args.graph_command == "schema":
        return _schema()
    if args.graph_command == "validate":
        return _validate(args.files)
    return _render(Path(args.file), Path(args.out))


def _schema() -> int:
    from graph.schema import GraphSpec

    print(json.dumps(GraphSpec.model_json_schema(), indent=2))
    return EXIT_OK


def _validate(files: list[str]) -> int:
    """Every file is checked, even after one fails, so one run shows everything to fix."""
    from graph.validate import validate_file

    failed = False
    for name in files:
        report = validate_file(name)
        for problem in (*report.errors, *report.warnings):
            print(problem)
        print(report.summary(), flush=True)
        failed = failed or not report.ok
    return EXIT_ERROR if failed else EXIT_OK


def _render(path: Path, out: Path) -> int:
    """Only a valid graph is drawn: the drawing should show what the runtime would run."""
    from graph.validate import load_graph
    from graph.yaml_source import ConfigError

    try:
        spec = load_graph(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    from graph.render import render

    render(spec, out)
    print(f"{path}: drawn to {out}")
    return EXIT_OK
