"""``bedside bench emotion``: the emotion service's throughput and latency under concurrent calls.

A real ``bedside emotion serve`` process (real models) is started; each simulated call opens its
own WebSocket and, like a live call, sends a 2-s segment of real speech (RAVDESS, held-out
actors) every 2 s, plus a transcript after every third segment. Per concurrency level it reports
segments per second and the p50/p95/max latency from sending a segment to its answer. A final
"saturation" run sends segments back to back on every connection to find the most the service
can score per second."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.app.child_process import free_port, start_until_ready
from emotion.client import wav_bytes
from emotion.protocol import PATH, encode_audio_request, encode_text_request

TRANSCRIPTS = (
    "I need to move my appointment to next week.",
    "I've been waiting for my test results for ten days and nobody calls me back.",
    "Thank you, that's really helpful.",
    "Can you tell me when the pharmacy opens?",
)


def _speech_segments(n: int = 40) -> list[bytes]:
    from emotion.audio import load_audio
    from emotion.training.data import ravdess_clips
    from emotion.training.ravdess_features import HELD_OUT_ACTORS, speech_crop

    clips = [c for c in ravdess_clips() if c.actor in HELD_OUT_ACTORS][::6][:n]
    return [wav_bytes((np.clip(speech_crop(load_audio(c.path)), -1, 1) * 32767).astype("<i2").tobytes()) for c in clips]


async def _start_service(port: int, log: Path, settings: list[str]) -> asyncio.subprocess.Process:
    cmd = [sys.executable, "-m", "agent.app.cli", "emotion", "serve", "--port", str(port)]
    for item in settings:
        cmd += ["--set", item]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDSIDE_") or k == "BEDSIDE_SHARED"}
    return await start_until_ready(cmd, log, env=env)


async def _call(url: str, segments: list[bytes], seconds: float, paced: bool, offset: float, latencies: list[float]) -> int:
    from websockets.asyncio.client import connect

    sent = 0
    async with connect(url, proxy=None, compression=None, max_size=2**22) as ws:
        await asyncio.sleep(offset)  # calls do not start in lockstep
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            due = start + 2.0 * sent
            if paced and due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            t0 = time.perf_counter()
            await ws.send(encode_audio_request(segments[sent % len(segments)], f"s{sent}"))
            reply = json.loads(await ws.recv())
            if "error" in reply:
                raise RuntimeError(f"service error: {reply}")
            latencies.append((time.perf_counter() - t0) * 1000.0)
            sent += 1
            if paced and sent % 3 == 0:
                await ws.send(encode_text_request(TRANSCRIPTS[sent % len(TRANSCRIPTS)], f"t{sent}"))
                json.loads(await ws.recv())
    return sent


async def _level(url: str, segments: list[bytes], calls: int, seconds: float, paced: bool) -> dict[str, float]:
    latencies: list[float] = []
    started = time.monotonic()
    counts = await asyncio.gather(
        *(_call(url, segments, seconds, paced, 2.0 * i / calls if paced else 0.0, latencies) for i in range(calls))
    )
    wall = time.monotonic() - started
    arr = np.array(latencies)
    return {
        "calls": calls,
        "segments": int(sum(counts)),
        "segments_per_s": round(sum(counts) / wall, 2),
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p95_ms": round(float(np.percentile(arr, 95)), 1),
        "max_ms": round(float(arr.max()), 1),
    }


async def run_emotion_bench(args: argparse.Namespace) -> int:
    levels = [int(c) for c in str(args.calls).split(",")]
    segments = _speech_segments()
    port = free_port(socket.SOCK_STREAM)
    log = Path(tempfile.mkdtemp(prefix="bedside-bench-")) / "emotion-service.log"
    proc = await _start_service(port, log, list(args.set))
    url = f"ws://127.0.0.1:{port}{PATH}"
    rows = []
    try:
        await _level(url, segments, 1, 4.0, paced=False)  # warm-up
        for calls in levels:
            rows.append({"mode": "live (a segment per call every 2 s)", **await _level(url, segments, calls, args.seconds, True)})
            print(json.dumps(rows[-1]), flush=True)
        rows.append({"mode": "saturation (back to back)", **await _level(url, segments, max(levels), args.seconds, False)})
        print(json.dumps(rows[-1]), flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        await proc.wait()
    table = [
        f"`bedside bench emotion --calls {args.calls} --seconds {args.seconds:g}` on {os.cpu_count()} cores "
        f"({time.strftime('%Y-%m-%d')}):",
        "",
        "| mode | concurrent calls | segments | segments/s | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|---|---|",
        *(f"| {r['mode']} | {r['calls']} | {r['segments']} | {r['segments_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} |"
          for r in rows),
    ]
    text = "\n".join(table)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0
