"""``bedside bench records`` (similar-call search): the segment index at scale, on synthetic embeddings.

Issue 16's figure is the p95 of a similar-call search at 1,000,000 segment embeddings (target
<= 100 ms). Real calls are not available at that scale, so the vectors are drawn to look like the
audio embedding: unit vectors around a few dozen "manner of speaking" directions (emotion and
intensity), each call with its own offset (a caller's voice and line) and segments that drift to
another direction mid-call, plus per-segment noise. Uniform noise would be both unrealistic and the
worst case for any clustering index. Calls are 50 segments (100 s) each and start 10 minutes apart,
so ``since`` filters keep the most recent calls, as ``--since`` does.

Reported: build seconds (from an empty index, as a rebuild from the store does), the resident
memory it added, the saved file's size and load time, query latency (p50/p95/max, one query at a
time) unfiltered and with ``since`` filters keeping ~10% and ~0.1% of segments, and recall@k
against exact (brute-force) search over the same filtered set."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.services.records.similar import SegmentIndex

SEGMENTS_PER_CALL = 50
CALL_SPACING_S = 600.0


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def synthetic_segments(
    segments: int, dim: int = 64, seed: int = 0, directions: int = 24, noise: float = 0.12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids from 1, unit float32 vectors, call start times): clustered like the real embedding."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((directions, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    calls = -(-segments // SEGMENTS_PER_CALL)
    call = np.repeat(np.arange(calls), SEGMENTS_PER_CALL)[:segments]
    mood = rng.integers(0, directions, calls)[call]
    drift = rng.random(segments) < 0.3
    mood[drift] = rng.integers(0, directions, int(drift.sum()))
    vectors = centres[mood]
    vectors += (rng.standard_normal((calls, dim), dtype=np.float32) * 0.08)[call]
    vectors += rng.standard_normal((segments, dim), dtype=np.float32) * noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = 1.7e9 + call * CALL_SPACING_S
    return np.arange(1, segments + 1, dtype=np.int64), vectors, started


def _exact(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    sims = vectors @ query
    top = np.argpartition(-sims, min(k, len(sims) - 1))[:k]
    return set(ids[top].tolist())


def _ms(times: list[float]) -> dict[str, float]:
    a = np.asarray(times) * 1000.0
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3), "max_ms": round(float(a.max()), 3)}


def run_similarity_bench(segments: int = 1_000_000, queries: int = 200, k: int = 10, seed: int = 0) -> dict:
    """Build an index of ``segments`` synthetic embeddings and time ``queries`` searches per filter."""
    if segments < 1 or queries < 1 or k < 1:
        raise ValueError("segments, queries and k must be positive")
    ids, vectors, started = synthetic_segments(segments, seed=seed)
    rng = np.random.default_rng(seed + 1)
    # queries: other moments of speech like the stored ones (fresh noise around stored vectors)
    picks = rng.integers(0, segments, queries)
    probes = vectors[picks] + rng.standard_normal((queries, vectors.shape[1]), dtype=np.float32) * 0.05
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)

    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    index = SegmentIndex(vectors.shape[1])
    index.add(ids, vectors, started)
    build_s = time.perf_counter() - t0
    rss_growth = _rss_bytes() - rss0

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "segments.index"
        t0 = time.perf_counter()
        index.save(path)
        save_s = time.perf_counter() - t0
        file_bytes = path.stat().st_size
        t0 = time.perf_counter()
        SegmentIndex.load(path)
        load_s = time.perf_counter() - t0

    result: dict = {
        "segments": segments,
        "queries": queries,
        "k": k,
        "lists": index.lists,
        "build_s": round(build_s, 2),
        "rss_growth_mb": round(rss_growth / 2**20, 1),
        "file_mb": round(file_bytes / 2**20, 1),
        "save_s": round(save_s, 2),
        "load_s": round(load_s, 2),
        "cpus": os.cpu_count(),
    }
    for name, keep in (("all", 1.0), ("since_10pct", 0.1), ("since_0.1pct", 0.001)):
        since = None if keep == 1.0 else float(np.quantile(started, 1.0 - keep))
        mask = np.ones(segments, bool) if since is None else started >= since
        times: list[float] = []
        answers = []
        for query in probes:  # timed apart from the exact search (BLAS threads would compete)
            t0 = time.perf_counter()
            answers.append(index.search(query, k, since=since))
            times.append(time.perf_counter() - t0)
        sub_ids, sub_vectors = ids[mask], vectors[mask]
        hits = sum(len({n.segment_id for n in found} & _exact(sub_vectors, sub_ids, query, k)) for query, found in zip(probes, answers))
        short = sum(len(found) < min(k, len(sub_ids)) for found in answers)
        result[name] = {"kept": int(mask.sum()), **_ms(times), f"recall_at_{k}": round(hits / (queries * min(k, len(sub_ids))), 4), "short": short}

    extra = synthetic_segments(1000, seed=seed + 2)
    t0 = time.perf_counter()
    index.add(extra[0] + segments, extra[1], extra[2])
    result["add_1000_ms"] = round((time.perf_counter() - t0) * 1000.0, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.app.bench_similar", description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run_similarity_bench(args.segments, args.queries, args.k, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
