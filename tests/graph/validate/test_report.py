"""graph/validate/report.py: a problem prints as FILE:LINE:COL, a report sorts its problems
into file order and has a spec only when nothing is wrong."""

from __future__ import annotations

from pathlib import Path

from graph import yaml_source
from graph.validate import Problem, ValidationReport
from graph.validate.report import make_report


def test_problem_str_and_report_summary(tmp_path: Path) -> None:
    assert str(Problem("a.yaml", 3, 7, "boom")) == "a.yaml:3:7: boom"
    assert str(Problem("a.yaml", 3, 7, "hm", warning=True)) == "a.yaml:3:7: warning: hm"
    report = ValidationReport("a.yaml", [Problem("a.yaml", 1, 1, "x")] * 2, [], None)
    assert not report.ok and report.summary() == "a.yaml: 2 errors"


def test_a_problem_is_the_locators_problem() -> None:
    assert Problem is yaml_source.Problem


def test_report_sorts_problems_in_file_order_and_has_a_spec_only_without_errors() -> None:
    late, early, same_line = Problem("a.yaml", 9, 1, "z"), Problem("a.yaml", 2, 5, "y"), Problem("a.yaml", 2, 5, "x")
    report = make_report("a.yaml", [late, early, same_line], [late, early], spec=object())  # type: ignore[arg-type]
    assert report.errors == [same_line, early, late] and report.warnings == [early, late]
    assert report.spec is None and not report.ok
    assert report.summary() == "a.yaml: 3 errors (2 warnings)"
    marker = object()
    assert make_report("a.yaml", [], [late], spec=marker).spec is marker  # type: ignore[arg-type]
