"""The graph in use, and hot reload: an edited file is validated before any call sees it.

``GraphStore.current`` is what a new call takes (a call keeps its graph to the end, so an edit
never changes a conversation half-way). ``watch()`` polls the file's modification time and size
(cheap, works on every filesystem and in containers, unlike inotify on bind mounts): a changed
file is validated (:func:`graph.validate.load_graph`) and compiled (its examples embedded) off the
event loop. A valid file replaces the graph for new calls; an invalid one is rejected, each error
logged as ``FILE:LINE:COL: message``, and the previous graph stays in use."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from graph.matcher import TextEmbedder
from graph.navigator import CompiledGraph
from graph.validate import load_graph
from graph.yaml_source import ConfigError


@dataclass(frozen=True, slots=True)
class ReloadResult:
    applied: bool
    version: str  # sha256 prefix of the file that is now in use
    errors: tuple[str, ...] = ()


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def compile_file(path: Path, embedder: TextEmbedder, fixed_values: Mapping[str, str] | None = None) -> CompiledGraph:
    """Validate and compile; raises ConfigError with every problem."""
    data = path.read_bytes()
    spec = load_graph(path)
    return CompiledGraph(spec, embedder, version=hashlib.sha256(data).hexdigest()[:12], fixed_values=fixed_values)


class GraphStore:
    def __init__(
        self, path: Path, embedder: TextEmbedder, on_change: Callable[[CompiledGraph], None] | None = None,
        fixed_values: Mapping[str, str] | None = None,
    ) -> None:
        """``fixed_values``: placeholders the server fills for every call (``{records.notice}``)."""
        self.path = Path(path)
        self.embedder = embedder
        self.fixed_values = dict(fixed_values or {})
        self.on_change = on_change
        self.log = structlog.get_logger(component="graph")
        self.current = compile_file(self.path, embedder, self.fixed_values)  # a bad file at start-up stops the server
        self._seen = _fingerprint(self.path)
        self.log.info("graph_loaded", path=str(self.path), version=self.current.version, nodes=len(self.current.nodes))

    async def reload_if_changed(self) -> ReloadResult | None:
        """None when the file did not change since the last look."""
        seen = _fingerprint(self.path)
        if seen == self._seen:
            return None
        self._seen = seen
        return await self.reload()

    async def reload(self) -> ReloadResult:
        try:
            compiled = await asyncio.to_thread(compile_file, self.path, self.embedder, self.fixed_values)
        except ConfigError as exc:
            errors = tuple(str(exc).splitlines())
            self.log.error("graph_reload_rejected", path=str(self.path), kept=self.current.version, errors=list(errors))
            return ReloadResult(False, self.current.version, errors)
        except OSError as exc:  # deleted or unreadable mid-edit: keep serving the old graph
            self.log.error("graph_reload_rejected", path=str(self.path), kept=self.current.version, errors=[str(exc)])
            return ReloadResult(False, self.current.version, (str(exc),))
        if compiled.version == self.current.version:
            return ReloadResult(False, self.current.version)
        previous, self.current = self.current.version, compiled
        self.log.info("graph_reloaded", path=str(self.path), version=compiled.version, previous=previous,
                      nodes=len(compiled.nodes))
        if self.on_change is not None:
            self.on_change(compiled)
        return ReloadResult(True, compiled.version)

    async def watch(self, interval_s: float) -> None:
        """Runs until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload_if_changed()
            except Exception:  # noqa: BLE001 - a reload bug must not stop the watcher or the calls
                self.log.exception("graph_reload_failed")
