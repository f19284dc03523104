"""``bedside bench console``: how long staff wait for the console's pages (issue 18).

A throwaway SQLite store (the default backend) is filled the way the call writer fills it
(entries -> ``RowMaker`` -> ``RecordStore.apply``, PHI encrypted): ``--calls`` ordinary calls and
one long call of ``--minutes`` (a scored 2-s segment with its 64-d embedding and a window state
every 2 s, a reply with its turn timings every 20 s, a scored utterance per turn, a burst a
minute, a call-back). The console runs under uvicorn on loopback, as ``bedside console`` does; one
staff account signs in (real Argon2id) and fetches, one request after another, the long call's
review page, its JSON, and the first page of the call list, ``--requests`` times each. Times are
wall clock at the client, so they include the audit row each read writes. The last line printed is
one JSON object with every figure."""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    CallOpened,
    Entry,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TurnTimed,
    UtteranceScored,
)
from agent.services.records.rows import RowMaker
from agent.services.records.staff import StaffDirectory
from agent.services.records.store import RecordStore

LONG_CALL = "bench-long-call"
PASSWORD = "a throwaway passphrase"


def call_entries(call_id: str, started: datetime, minutes: float, rng: random.Random) -> list[Entry]:
    """One call of ``minutes``: what the call runtime journals for it."""
    seconds = minutes * 60
    entries: list[Entry] = [CallOpened(call_id, started, "bench", 0, "g-bench", "sip:+15550100@bench.example")]
    valence = 0.1
    for seq in range(int(seconds // 2)):
        t = seq * 2.0
        valence = max(-1.0, min(1.0, valence + rng.gauss(0, 0.05)))
        burst = "sigh" if seq % 30 == 17 else "none"
        entries.append(SegmentScored(call_id, seq, t, t + 2, valence, 0.5, burst, 0.8 if burst != "none" else 0.05,
                                     {"pitch_mean": 180.0}, tuple(rng.uniform(-1, 1) for _ in range(64))))
        trend = "deteriorating" if valence < -0.3 else "improving" if valence > 0.3 else "stable"
        entries.append(StateChanged(call_id, seq, t + 2, valence, 0.5, trend, 0.8, True, burst if burst != "none" else None))
    for turn in range(int(seconds // 20)):
        t = turn * 20.0 + 3
        entries.append(ReplyLogged(call_id, turn, t, f"turn-{turn}", turn, f"node-{turn % 12}", "calm", "caller_calm"))
        entries.append(TurnTimed(call_id, turn, 2.5, {"vad_ms": 180, "transcript_ms": 240, "reply_ready_ms": 610,
                                                      "first_audio_ms": 790}))
        entries.append(UtteranceScored(call_id, turn, t - 1, valence, 0.5, (("calm", 0.6), ("neutral", 0.2))))
    entries.append(ActionLogged(call_id, 0, started + timedelta(seconds=seconds - 30), "callback", node="callback",
                                target="front-desk", priority="routine", reason="wants a call back",
                                slots={"name": "Bench Caller", "date_of_birth": "1970-01-01"}, work_item="callback"))
    entries.append(CallClosed(call_id, started + timedelta(seconds=seconds), "caller hung up", int(seconds // 20), 0, 0,
                              False, False, valence, 0.5, "stable"))
    return entries


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1), "max_ms": round(ordered[-1], 1)}


def run_console_bench(args: argparse.Namespace) -> int:
    import httpx2
    import uvicorn

    from agent.app.console.app import create_app, listening_socket
    from agent.app.console.config import ConsoleConfig
    from graph.config import DEFAULT_GRAPH

    rng = random.Random(0)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        store = RecordStore(f"sqlite:///{Path(tmp) / 'records.sqlite3'}", KeyRing.of([new_key()], "bench"))
        store.migrate()
        store.check_keys()
        maker = RowMaker(store.keys, keep_transcripts=False, expire_after=timedelta(days=1))
        now = datetime.now(UTC).replace(microsecond=0)
        t0 = time.perf_counter()
        for i in range(args.calls):
            store.apply([w for e in call_entries(f"bench-call-{i}", now - timedelta(minutes=10 * (i + 2)), 3, rng) for w in maker.rows(e)])
        store.apply([w for e in call_entries(LONG_CALL, now - timedelta(minutes=args.minutes + 1), args.minutes, rng)
                     for w in maker.rows(e)])
        fill_s = time.perf_counter() - t0
        StaffDirectory(store).add("bench", "qa", PASSWORD, by="bench")

        sock = listening_socket("127.0.0.1", 0)
        # Served as `bedside console` serves it: the similar-call index and the graph file too.
        app = create_app(ConsoleConfig(), store, index_path=Path(tmp) / "segments.index", graph_path=DEFAULT_GRAPH)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        results: dict[str, Any] = {}
        try:
            with httpx2.Client(base_url=base, timeout=60, follow_redirects=False) as client:
                signed = client.post("/login", data={"name": "bench", "password": PASSWORD}, headers={"Origin": base})
                if signed.status_code != 303:
                    raise RuntimeError(f"sign-in failed: HTTP {signed.status_code}")
                pages = {"review page (HTML + SVG)": f"/calls/{LONG_CALL}", "review JSON": f"/api/v1/calls/{LONG_CALL}",
                         "call list (first 50)": "/calls", "graph page (drawn + node effects)": "/graph"}
                for name, path in pages.items():
                    client.get(path).raise_for_status()  # warm: templates compiled, connections pooled
                    times, size = [], 0
                    for _ in range(args.requests):
                        t = time.perf_counter()
                        response = client.get(path)
                        times.append((time.perf_counter() - t) * 1000)
                        response.raise_for_status()
                        size = len(response.content)
                    results[name] = {**_percentiles(times), "bytes": size}
        finally:
            server.should_exit = True
            thread.join(10)
            store.dispose()
    print(f"console bench: {args.calls} calls of 3 min + one of {args.minutes:g} min "
          f"({int(args.minutes * 30)} segments; store filled in {fill_s:.1f} s), {args.requests} requests each, one at a time")
    print("| page | p50 ms | p95 ms | max ms | size |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} | {r['bytes'] // 1024} KB |")
    print(json.dumps({"calls": args.calls, "long_call_minutes": args.minutes, "requests": args.requests, "pages": results}))
    return 0


__all__ = ["call_entries", "run_console_bench"]
