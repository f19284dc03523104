"""The memory bench reads a whole process tree from /proc: a child's memory is counted."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from agent.app.bench_memory import tree_memory, tree_pids


def test_a_childs_memory_is_counted_with_its_parent() -> None:
    alone = tree_memory(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "b = bytearray(200 * 1024 * 1024); import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while tree_memory(os.getpid()).rss_mb < alone.rss_mb + 150:
            assert time.monotonic() < deadline, "the child's 200 MB never showed"
            time.sleep(0.2)
        assert child.pid in tree_pids(os.getpid())
        together = tree_memory(os.getpid())
        assert together.processes >= alone.processes + 1 and together.pss_mb > alone.pss_mb + 150
    finally:
        child.kill()
        child.wait()
