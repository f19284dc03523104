"""What validating one graph file gives back: its problems in file order, and a one-line summary.

A :class:`Problem` is :class:`graph.yaml_source.Problem`, the same ``FILE:LINE:COL: message`` as
the settings file's errors, so the admin reads one format whatever file they got wrong."""

from __future__ import annotations

from dataclasses import dataclass

from graph.schema import GraphSpec
from graph.yaml_source import Problem


@dataclass(frozen=True)
class ValidationReport:
    """Everything wrong with one file. ``spec`` is set exactly when there are no errors."""

    file: str
    errors: list[Problem]
    warnings: list[Problem]
    spec: GraphSpec | None

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line for ``bedside graph validate``: counts when ok, else how many errors."""
        warned = f" ({_count(len(self.warnings), 'warning')})" if self.warnings else ""
        if self.spec is None:
            return f"{self.file}: {_count(len(self.errors), 'error')}{warned}"
        spec = self.spec
        transitions = sum(len(n.transitions) for n in spec.nodes) + len(spec.global_transitions)
        counts = (
            _count(len(spec.nodes), "node"),
            _count(transitions, "transition"),
            _count(len(spec.intents), "intent"),
            _count(sum(1 for n in spec.nodes if n.topics), "sensitive node"),
        )
        return f"{self.file}: ok — {', '.join(counts)}{warned}"


def make_report(name: str, errors: list[Problem], warnings: list[Problem], spec: GraphSpec | None) -> ValidationReport:
    """Problems sorted as they appear in the file; the spec only when nothing is wrong."""

    def order(p: Problem) -> tuple[int, int, str]:
        return (p.line, p.col, p.message)

    return ValidationReport(name, sorted(errors, key=order), sorted(warnings, key=order), None if errors else spec)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


__all__ = ["Problem", "ValidationReport", "make_report"]
