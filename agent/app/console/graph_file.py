"""The conversation graph file as the console sees it: what is in it now, whether it is valid, and
an admin's edit — validated before it is written, written whole.

The servers apply the file themselves (graph/store.py: a changed file is validated and compiled
off the call path, a valid one serves new calls, an invalid one is logged and the previous graph
stays). The console follows the same rules a step earlier: an upload with errors is refused with
each one as ``FILE:LINE:COL: message`` and the file is not touched; a valid one replaces the file
in one rename (the previous version is kept beside it as ``<name>.previous``), and every server
watching it picks it up for new calls."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from graph.validate import ValidationReport
from graph.validate.loader import validate_text

MAX_GRAPH_BYTES = 256 * 1024  # the bundled clinic graph is ~20 KB


@dataclass(frozen=True)
class GraphState:
    path: Path
    text: str
    version: str  # sha256 prefix, as the servers and the call records name it (graph_version)
    report: ValidationReport


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class GraphFileError(Exception):
    """The graph file cannot be read or written; the message names it and why."""


class GraphFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cached: tuple[tuple[int, int], GraphState] | None = None

    def state(self) -> GraphState:
        """The file now (validated once per change of the file)."""
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if self._cached is not None and self._cached[0] == stamp:
                return self._cached[1]
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GraphFileError(f"{self.path}: cannot be read ({type(exc).__name__}: {exc})") from None
        state = GraphState(self.path, text, version_of(text), validate_text(str(self.path), text))
        self._cached = (stamp, state)
        return state

    def check(self, text: str) -> ValidationReport:
        """An edit's problems, named as the file's own would be."""
        return validate_text(str(self.path), text)

    def replace(self, text: str) -> GraphState:
        """Write a valid edit (ValueError with the problems, one a line, for an invalid one: the
        file is left as it was)."""
        report = self.check(text)
        if not report.ok:
            raise ValueError("\n".join(str(p) for p in report.errors))
        part = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            part.write_text(text, encoding="utf-8")
            with part.open("rb") as f:
                os.fsync(f.fileno())
            if self.path.exists():
                previous = self.path.with_name(self.path.name + ".previous")
                previous.write_bytes(self.path.read_bytes())
            os.replace(part, self.path)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise GraphFileError(f"{self.path}: cannot be written ({type(exc).__name__}: {exc})") from None
        return self.state()


__all__ = ["MAX_GRAPH_BYTES", "GraphFile", "GraphFileError", "GraphState", "version_of"]
