"""Whole-graph validation of ``configs/graphs/*.yaml``, every problem at its ``FILE:LINE:COL``.

A clinic admin edits the graph by hand, so the checker must say *where* each mistake is and,
where it can, what was meant. :func:`validate_file` never raises on a bad file: it returns a
:class:`ValidationReport` with every error and warning. :func:`load_graph` is what the runtime
uses: the :class:`~graph.schema.GraphSpec`, or :class:`~graph.yaml_source.ConfigError` listing
every error, one per line. Positions come from :mod:`graph.yaml_source`, the same locator the
settings file uses.

Checks, in order (a later stage runs only when the earlier one passed, so that one typo does
not cascade into dozens of follow-on errors; :mod:`.loader` runs them):

1. the file itself (:mod:`.parse`, :mod:`.yaml_tree`): readable, UTF-8, not huge, YAML syntax,
   no duplicate keys, no alias that refers to itself or expands to something huge, not too
   deeply nested, a mapping;
2. the schema (:mod:`graph.schema` via pydantic; :mod:`.schema_errors`, :mod:`.schema_paths`),
   with readable messages: unknown keys with a did-you-mean (:mod:`.wording`), wrong types,
   values out of range with the allowed range, unknown enum values;
3. the graph: duplicate node ids, transitions/next/start/fallback naming unknown nodes, nodes
   unreachable from ``settings.start``, dead ends (:mod:`.structure`); ``{placeholders}`` and
   slot references no node collects, unknown intents (:mod:`.references`); unknown burst types
   (:mod:`.bursts`);
4. warnings (do not fail): example phrases shared by two intents, or nearly the same
   (:mod:`.overlaps`).

The result is a :class:`ValidationReport` (:mod:`.report`).
"""

from __future__ import annotations

from graph.validate.bursts import known_bursts
from graph.validate.loader import load_graph, validate_file
from graph.validate.report import Problem, ValidationReport

__all__ = ["Problem", "ValidationReport", "known_bursts", "load_graph", "validate_file"]
