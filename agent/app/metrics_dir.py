"""The node's prometheus-client multiprocess directory.

``bedside serve`` is a front process and sibling SIP workers (agent/app/workers.py); a scrape of
the front's ``/metrics`` must count the workers' calls too. prometheus-client's multiprocess mode
does that: every process writes its metric values to memory-mapped files in one directory and
the front adds them up at scrape time (counters and histograms summed, gauges per their mode).
The front makes the directory in the temp dir and sets ``PROMETHEUS_MULTIPROC_DIR`` before the
library is first imported (it picks the mode then) and before any worker starts (they inherit
the environment); it removes the directory at exit, and a front starting removes those of
fronts that were killed (agent/services/private_dirs.py). A dead worker's live gauges (its active
calls) are dropped with ``forget``; its counters stay in the node's totals."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.services.private_dirs import make_private_dir, remove_orphans

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "bedside-metrics-"


class MetricsModeError(RuntimeError):
    """prometheus-client was imported before the directory was set: values would stay per process."""


@dataclass(frozen=True)
class MetricsDirectory:
    path: Path

    @classmethod
    def create(cls) -> MetricsDirectory:
        values = sys.modules.get("prometheus_client.values")
        if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
            raise MetricsModeError("prometheus_client was imported before the node's metrics directory was set; "
                                   "its values would not be shared with the SIP workers")
        remove_orphans(PREFIX)
        path = make_private_dir(PREFIX)
        os.environ[ENV] = str(path)
        return cls(path)

    def forget(self, pid: int) -> None:
        """A worker exited: its live gauges no longer count."""
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, str(self.path))

    def remove(self) -> None:
        if os.environ.get(ENV) == str(self.path):
            del os.environ[ENV]
        shutil.rmtree(self.path, ignore_errors=True)


__all__ = ["ENV", "MetricsDirectory", "MetricsModeError"]
