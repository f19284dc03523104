#!/usr/bin/env python3
"""Calls per node at graph-path p95 < 1 s: one Bedside node behind the Kamailio front, then two,
each node held to the same CPU (a cgroup CPU quota on its own core), in network namespaces
(tests/e2e/front.py builds them; run as root).

    .venv/bin/python scripts/bench_front.py [--cpu 0.9] [--levels 1,2,3] [--rounds 3] [--output FILE]

For each setup the nodes run the product's default path (graph responder, emotion service
in-process, records on), the front is configs/kamailio/kamailio.cfg, and the bench's own QA
callers (agent/app/bench_latency.py: clinic conversations, voice-to-voice timed at the caller)
place ``level x nodes`` calls at once through the front, level after level, until the p95 of
the voice turns reaches 1 s. The callers and Kamailio run outside the nodes' quotas, on what
is left of the machine. Prints each level's p50/p95 and the ratio of the two setups' largest
level under 1 s (calls at once, all nodes together)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.app.bench_latency import CALLER_HOST_ENV, bench_scripts, pct, run_calls, voice_ms, write_scripts  # noqa: E402
from agent.app.bench_memory import tree_pids  # noqa: E402
from agent.app.config import load_config  # noqa: E402
from tests.e2e.front import NODES, SIP_PORT, Topology, start_kamailio, start_node, write_lists  # noqa: E402

CGROUP_CPU = Path("/sys/fs/cgroup/cpu")  # cgroup v1 here; v2 would be cpu.max under /sys/fs/cgroup
NODE_SETTINGS = ("turn.responder=graph", "emotion.service.mode=in_process", "sip.max_calls=8", "sip.rtp_timeout_s=60")


def limit_cpu(name: str, pid: int, share: float, core: int) -> Path:
    """Puts the node's processes (its front and the SIP workers it started; all their threads) in a
    cgroup with ``share`` of one CPU, pinned to ``core``. Done once the node is ready: loading its
    models under the quota would only make the bench slower."""
    group = CGROUP_CPU / f"bedside-bench-{name}"
    group.mkdir(exist_ok=True)
    (group / "cpu.cfs_period_us").write_text("100000")
    (group / "cpu.cfs_quota_us").write_text(str(int(share * 100000)))
    for process in tree_pids(pid):
        (group / "cgroup.procs").write_text(str(process))  # v1: the whole thread group moves
        subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(process)], check=True, capture_output=True)
    return group


async def sweep(uri: str, nodes: int, levels: list[int], scripts: Path, rounds: int) -> list[tuple[int, int, int, int]]:
    rows = []
    for level in levels:
        calls = level * nodes
        got: list[float] = []
        for _ in range(rounds):  # a conversation has 8 voice turns: one round's p95 is nearly its slowest turn
            got += voice_ms(await run_calls(uri, calls, scripts))
        rows.append((level, len(got), pct(got, 50), pct(got, 95)))
        print(f"  {nodes} node(s), {level} call(s) per node ({calls} at once): {len(got)} voice turns, "
              f"p50 {rows[-1][2]} ms, p95 {rows[-1][3]} ms", flush=True)
        if rows[-1][3] >= 1000:
            break
    return rows


def run_setup(nodes: tuple[str, ...], share: float, levels: list[int], scripts: Path, workdir: Path,
              rounds: int) -> list[tuple[int, int, int, int]]:
    topo = Topology.create()
    kamailio, started, groups = None, [], []
    try:
        cfg = workdir / f"kamailio-{len(nodes)}"
        write_lists(cfg, topo, 8, dispatched=nodes)  # maxload = NODE_SETTINGS' sip.max_calls
        kamailio = start_kamailio(topo, cfg, None, probe_interval=1)
        for core, name in enumerate(nodes):
            began = time.monotonic()
            node = start_node(topo, name, workdir / f"{name}-{len(nodes)}", *NODE_SETTINGS, timeout=600)
            groups.append(limit_cpu(name, node.proc.pid, share, core))
            started.append(node)
            print(f"  {name} ready in {time.monotonic() - began:.0f} s", flush=True)
        time.sleep(3)  # the front's next OPTIONS marks the nodes up
        os.environ[CALLER_HOST_ENV] = topo.address("pbx")
        return asyncio.run(sweep(f"sip:bedside@{topo.address('front')}:{SIP_PORT}", len(nodes), levels, scripts, rounds))
    finally:
        for node in started:
            node.stop(timeout=120)
        if kamailio is not None:
            kamailio.stop()
        topo.destroy()
        for group in groups:
            try:
                group.rmdir()
            except OSError:
                pass


def best(rows: list[tuple[int, int, int, int]]) -> int:
    ok = [level for level, n, _, p95 in rows if p95 < 1000 and n > 0]
    return max(ok) if ok else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=float, default=0.9, help="each node's CPU quota, in cores (on a core of its own)")
    parser.add_argument("--levels", default="1,2,3", help="calls per node, tried in order until p95 >= 1 s")
    parser.add_argument("--rounds", type=int, default=3, help="conversations per call at each level, pooled")
    parser.add_argument("--output", help="also write the table (markdown) to this file")
    args = parser.parse_args()
    if os.geteuid() != 0 or not CGROUP_CPU.is_dir() or shutil.which("kamailio") is None:
        print("bench_front: needs root, cgroup v1's cpu controller and kamailio", file=sys.stderr)
        return 2
    levels = [int(n) for n in args.levels.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bedside-bench-front-"))
    config = load_config(REPO / "configs" / "bedside.yaml")
    scripts = write_scripts(bench_scripts(config, "graph", 2 * max(levels), 0, workdir), workdir / "scripts.json")
    results = {}
    for nodes in (NODES[:1], NODES):
        print(f"{len(nodes)} node(s), {args.cpu} CPU each:", flush=True)
        results[len(nodes)] = run_setup(nodes, args.cpu, levels, scripts, workdir, args.rounds)
    lines = ["| nodes | calls per node | calls at once | voice turns | p50 ms | p95 ms |", "| --- | --- | --- | --- | --- | --- |"]
    for nodes, rows in results.items():
        lines += [f"| {nodes} | {level} | {level * nodes} | {n} | {p50} | {p95} |" for level, n, p50, p95 in rows]
    one, two = best(results[1]), 2 * best(results[2])
    ratio = f"{two / one:.2f}" if one else "n/a"
    lines += ["", f"Largest number of calls at once with p95 < 1 s: one node {one}, two nodes {two} (ratio {ratio})."]
    table = "\n".join(lines)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")
    print(f"logs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
