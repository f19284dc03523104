"""``bedside bench latency``: voice-to-voice latency over real loopback SIP calls (``--webrtc``:
browser calls, WebRTC through the QA console as its softphone page places them).

It starts ``bedside serve`` as a separate process (pjsua2 allows one endpoint per process),
then calls it with pjsua2 from caller processes. By default the server runs the product's own
path (the graph responder on the clinic graph, emotion on) and each call is a clinic
conversation (agent/app/bench_conversation.py): consent, name, date of birth said or keyed, a
question, a booking read back and confirmed, goodbye. Voice to voice is reported per kind of
turn (a cached line, a line with the caller's details, an LLM-worded line, a keypad entry).
``--set turn.responder=scripted`` measures the transport floor instead: each turn plays a real
recorded sentence (NOIZEUS clean, 8 kHz telephone speech) and the reply ignores the words.

Voice to voice is measured on the caller's side, from the moment the last audible sample of the
caller's line was handed to pjsip to the first agent audio frame received. That includes
end-of-speech detection, STT, reply, TTS, both jitter buffers and the codec, so it is what a
caller hears. The server's per-stage timings are read from its JSON log. The last line is
machine-readable: voice turns only (a keypad entry is timed from its last key, reported apart).

With ``--webrtc`` the same callers dial with agent/app/browser_dialer.py: sign in to the console
(an account the bench makes in its own records directory), POST the offer, Opus over DTLS-SRTP
on loopback; the measurement is the same, at the browser's end of the call."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.app.audio_files import load_pcm16k
from agent.app.bench_conversation import (
    KEYPAD,
    KIND_NAMES,
    UNMATCHED,
    CallerTiming,
    as_script,
    completed_calls,
    conversation,
    render_lines,
    server_turns,
    timings_by_kind,
)
from agent.app.browser_dialer import dialer_for
from agent.app.child_process import (
    ChildNotReady,
    free_port,
    read_events,
    start_until_ready,
)
from agent.app.config import BedsideConfig
from agent.app.local_llm import LocalLlmServer, LocalLlmSettings, LocalLlmUnavailable
from agent.app.qa_caller import QaCaller, ScriptItem
from telephony.config import SipConfig

CALLER_PROCESS_TIMEOUT_S = 900  # a conversation takes about 2 minutes; a stuck one must not hang the bench
STAGES = ["vad_ms", "transcript_ms", "reply_ready_ms", "first_audio_ms"]


def shared_dir() -> Path:
    env = os.environ.get("BEDSIDE_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared"


def caller_sentences() -> list[Path]:
    clean = shared_dir() / "data" / "noizeus" / "clean"
    files = sorted(clean.glob("sp*.flac"))
    if not files:
        raise SystemExit(f"bench: no caller audio found in {clean} (set BEDSIDE_SHARED)")
    return files


BENCH_USER = "bench"


def browser_settings(workdir: Path, console_port: int) -> tuple[list[str], str]:
    """The console (and so browser calls) on, over a records store of the bench's own, and an
    account to sign in as: (settings, its password for the caller processes' environment)."""
    records = workdir / "records"
    password = secrets.token_urlsafe(16)
    where = ["--set", f"records.data_dir={records}"]
    made = subprocess.run([sys.executable, "-m", "agent.app.cli", "records", "migrate", *where], text=True, capture_output=True)
    if made.returncode == 0:
        made = subprocess.run([sys.executable, "-m", "agent.app.cli", "users", "add", BENCH_USER, "--role", "qa", *where],
                              input=password + "\n", text=True, capture_output=True)
    if made.returncode != 0:
        raise SystemExit(f"bench: could not make the console account: {made.stderr.strip()[-500:]}")
    return ["console.enabled=true", f"console.port={console_port}", f"records.data_dir={records}",
            "webrtc.max_calls=16"], password


async def start_server(
    args: argparse.Namespace, port: int, log_path: Path, extra: Sequence[str] = (),
) -> asyncio.subprocess.Process:
    cmd = [sys.executable, "-m", "agent.app.cli", "serve", "--sip-port", str(port), "--set", "logging.json_output=true",
           "--set", "emotion.service.port=0",
           # The full loop by default: the in-process emotion service scores every segment.
           "--set", "emotion.service.mode=in_process" if args.emotion == "on" else "emotion.service.mode='off'"]
    if args.config:
        cmd += ["--config", args.config]
    for item in [*extra, *args.set]:
        cmd += ["--set", item]
    try:
        server = await start_until_ready(cmd, log_path)
    except ChildNotReady:
        raise SystemExit(f"bench: server did not start; see {log_path}") from None
    await _wait_for_presynthesis(server, log_path)
    return server


async def _wait_for_presynthesis(server: asyncio.subprocess.Process, log_path: Path, timeout: float = 600.0) -> None:
    """Pre-synthesis of the other expressions runs in the background after ``ready`` and gives
    way to calls; measuring before it is done would time its catching up between calls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and server.returncode is None:
        events = read_events(log_path)
        ready = next((e for e in events if e.get("event") == "ready"), None)
        if ready is not None and not ready.get("presynthesis"):
            return
        if any(e.get("event") == "presynthesized" for e in events):
            return
        await asyncio.sleep(0.5)


CALLER_HOST_ENV = "BEDSIDE_BENCH_CALLER_HOST"
CALLS_PER_CALLER_PROCESS = 4  # pjsua2's per-process limit applies to the caller side too


Scripts = dict[int, list[tuple[str, str]]]  # call number -> the QA caller's (kind, value) items


def bench_scripts(config: BedsideConfig, responder: str, calls: int, turns: int, workdir: Path) -> Scripts:
    """Every bench call's script: the clinic conversation for the graph responder (its lines
    rendered once, here), else ``turns`` recorded sentences."""
    if responder == "graph":
        steps = {n: conversation(n) for n in range(calls)}
        lines = render_lines([step for per_call in steps.values() for step in per_call], config, workdir / "caller-lines")
        return {n: as_script(per_call, lines) for n, per_call in steps.items()}
    files = caller_sentences()
    for f in files:  # fail early on unreadable audio
        load_pcm16k(f)
    return {n: [("play", str(files[(n * turns + t) % len(files)])) for t in range(turns)] for n in range(calls)}


async def run_calls(uri: str, calls: int, scripts_path: Path, password: str | None = None) -> list[CallerTiming]:
    """``calls`` concurrent calls, each on its script in ``scripts_path``, from caller processes
    of at most four calls. ``password``: browser calls' console account."""
    env = {**os.environ, "BEDSIDE_CONSOLE_PASSWORD": password} if password else None
    groups = [list(range(i, min(i + CALLS_PER_CALLER_PROCESS, calls))) for i in range(0, calls, CALLS_PER_CALLER_PROCESS)]
    procs = []
    for group in groups:
        procs.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.app.bench_latency", uri, str(scripts_path), *[str(i) for i in group],
            stdout=asyncio.subprocess.PIPE, env=env,
        ))
    timings: list[CallerTiming] = []
    for proc in procs:
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), CALLER_PROCESS_TIMEOUT_S)
        except TimeoutError:
            for p in procs:
                if p.returncode is None:
                    p.kill()
            raise SystemExit(f"bench: the calls did not end within {CALLER_PROCESS_TIMEOUT_S} s") from None
        if proc.returncode != 0:
            raise SystemExit(f"bench: a caller process failed ({proc.returncode})")
        timings += [CallerTiming.from_json(call) for call in json.loads(out.decode().strip().splitlines()[-1])]
    return timings


def voice_ms(calls: list[CallerTiming]) -> list[float]:
    return [ms for call in calls for kind, ms in call.turns if kind == "voice" and ms is not None]


async def _caller_process(uri: str, scripts: Scripts, call_numbers: list[int]) -> list[CallerTiming]:
    # The caller's own jitter buffer is kept minimal: on loopback there is no jitter, and its
    # prefetch would be counted against the agent ("first agent audio packet on the wire").
    # BEDSIDE_BENCH_CALLER_HOST: the address the callers bind to when the server is not on loopback
    # (scripts/bench_front.py calls a Kamailio front in a network namespace).
    caller_sip = SipConfig(host=os.environ.get(CALLER_HOST_ENV, "127.0.0.1"), port=0, rtp_port=0, transports=["udp"],
                           jitter_buffer_init_ms=0, jitter_buffer_min_ms=0)
    async with dialer_for(uri, caller_sip, "bench-caller", BENCH_USER, lambda: os.environ["BEDSIDE_CONSOLE_PASSWORD"]) as dialer:

        async def one(call_no: int) -> CallerTiming:
            script = [ScriptItem(kind, value) for kind, value in scripts[call_no]]  # type: ignore[arg-type]
            caller = QaCaller(dialer, stt=None, synth=None, emit=lambda event: None)
            report = await caller.run(uri, script)
            if not report.answered:
                raise SystemExit(f"bench: call failed: {report.status_code} {report.end_reason}")
            return CallerTiming(report.call_key, tuple(
                ("keypad" if item.kind == "dtmf" else "voice",
                 (item.first_agent_audio - item.speech_end) * 1000
                 if item.first_agent_audio is not None and item.speech_end else None)
                for item in report.caller_items
            ))

        return list(await asyncio.gather(*(one(n) for n in call_numbers)))


def server_stages(events: list[dict[str, object]]) -> dict[str, list[float]]:
    """Voice turns' stage timings from the server's log lines (read_events)."""
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    for event in events:
        if event.get("event") == "turn" and event.get("input", "voice") != "voice":
            continue  # a keypad turn's stages run from its last key: not comparable
        if event.get("event") in ("turn", "turn_transcript"):
            for stage in STAGES:
                value = event.get(stage)
                if isinstance(value, (int, float)):
                    stages[stage].append(float(value))
    return stages


async def _start_local_llm(args: argparse.Namespace, workdir: Path) -> LocalLlmServer | None:
    """``--llm local``: the bundled llama.cpp server on a free port, its log beside the server's."""
    if getattr(args, "llm", "off") != "local":
        return None
    settings = LocalLlmSettings(port=free_port(socket.SOCK_STREAM), threads=args.llm_threads)
    server = LocalLlmServer(settings, log=(workdir / "llm.log").open("wb"))
    try:
        return await asyncio.to_thread(server.start)
    except LocalLlmUnavailable as exc:
        raise SystemExit(f"bench: --llm local: {exc}") from None


def llm_report(events: list[dict[str, object]], settings: LocalLlmSettings) -> list[str]:
    """The LLM's side of the run, from the server's ``llm_reply`` and ``llm_fallback`` lines:
    requests, time to the first complete sentence, and how often the scripted line was said instead."""
    replies = [e for e in events if e.get("event") == "llm_reply"]
    first = [float(e["first_sentence_ms"]) for e in replies if isinstance(e.get("first_sentence_ms"), (int, float))]
    fallbacks: dict[str, int] = {}
    for event in events:
        if event.get("event") == "llm_fallback":
            reason = str(event.get("reason", "?"))
            fallbacks[reason] = fallbacks.get(reason, 0) + 1
    worded = sum(1 for e in replies if e.get("sentences"))  # at least one sentence of the model's was said
    invented = sum(1 for e in events if e.get("event") == "llm_invented_fact")
    restored = sum(1 for e in events if e.get("event") == "llm_facts_restored")
    lines = [f"LLM: the bundled llama.cpp server, SmolLM2-135M-Instruct Q4_1, {settings.threads} thread(s).", "",
             "| LLM | n | p50 ms | p95 ms |", "|---|---|---|---|",
             f"| first complete sentence after the request | {len(first)} | {pct(first, 50)} | {pct(first, 95)} |",
             "", f"Replies: {len(replies)} requests, {worded} spoken as the LLM worded them; scripted instead: "
             + (", ".join(f"{n} {reason}" for reason, n in sorted(fallbacks.items())) or "none") + ". "
             f"Sentences cut for a time, day or number the prompt lacks: {invented}; replies completed with the "
             f"line's own sentence for one they dropped: {restored}."]
    return lines


def pct(values: list[float], q: float) -> int:
    return int(round(float(np.percentile(values, q)))) if values else -1


def write_scripts(scripts: Scripts, path: Path) -> Path:
    path.write_text(json.dumps({str(n): items for n, items in scripts.items()}))
    return path


async def run_latency_bench(args: argparse.Namespace, config: BedsideConfig) -> int:
    responder = str(config.turn.responder)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bedside-bench-"))
    log_path = workdir / "server.log"
    most_calls = max(args.calls, 0 if args.no_sweep else args.max_calls)
    scripts = write_scripts(bench_scripts(config, responder, most_calls, args.turns, workdir), workdir / "scripts.json")
    # The transport-floor sweep plays fewer sentences per call; a conversation is always whole.
    sweep_scripts = scripts if responder == "graph" else write_scripts(
        bench_scripts(config, responder, most_calls, max(3, args.turns // 3), workdir), workdir / "sweep-scripts.json")
    webrtc = getattr(args, "webrtc", False)
    console_port = free_port(socket.SOCK_STREAM)
    settings, password = browser_settings(workdir, console_port) if webrtc else ([], None)
    llm = await _start_local_llm(args, workdir)
    if llm is not None:
        settings += llm.settings.bedside_settings()
    try:
        server = await start_server(args, port, log_path, settings)
    except BaseException:
        if llm is not None:
            llm.stop()
        raise
    uri = f"http://127.0.0.1:{console_port}/" if webrtc else f"sip:bedside@127.0.0.1:{port}"
    lines: list[str] = []
    try:
        calls = await run_calls(uri, args.calls, scripts, password)
        events = read_events(log_path)
        stages = server_stages(events)
        sweep: list[tuple[int, int, int, int]] = []
        max_ok = 0
        if not args.no_sweep:
            level = 1
            while level <= args.max_calls:
                try:
                    got = voice_ms(await run_calls(uri, level, sweep_scripts, password))
                except SystemExit as exc:  # e.g. 486 beyond the server's max_calls
                    print(f"bench: stopping the sweep at {level} calls: {exc}", file=sys.stderr)
                    break
                p95 = pct(got, 95)
                sweep.append((level, len(got), pct(got, 50), p95))
                if p95 >= 1000 or len(got) < level:
                    break
                max_ok = level
                level = level * 2 if level < 4 else level + 2
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 30)
        except TimeoutError:
            server.kill()
        if llm is not None:
            llm.stop()

    latencies = voice_ms(calls)
    what = "clinic conversation" if responder == "graph" else f"{args.turns} turns"
    lines.append(f"## Voice-to-voice latency ({'WebRTC from the console' if webrtc else 'SIP'}, {args.calls} call(s) x "
                 f"{what}, responder={responder}, emotion={args.emotion})")
    lines.append("")
    lines.append("| stage (voice turns, from end of caller speech) | n | p50 ms | p95 ms |")
    lines.append("|---|---|---|---|")
    names = {
        "vad_ms": "end of speech detected (VAD silence)",
        "transcript_ms": "transcript ready (STT)",
        "reply_ready_ms": "reply ready",
        "first_audio_ms": "first TTS frame sent (server)",
    }
    for stage in STAGES:
        values = stages.get(stage, [])
        lines.append(f"| {names[stage]} | {len(values)} | {pct(values, 50)} | {pct(values, 95)} |")
    lines.append(f"| **first agent audio at the caller (voice-to-voice)** | {len(latencies)} | "
                 f"**{pct(latencies, 50)}** | **{pct(latencies, 95)}** |")
    early = [e.get("early_transcript") for e in events if e.get("event") == "turn" and e.get("input") == "voice"]
    if any(e is not None for e in early):
        lines += ["", f"Voice turns whose transcript was decoded while the closing silence ran: {sum(e is True for e in early)} "
                      f"of {len(early)}."]
    if responder == "graph":
        kinds = timings_by_kind(calls, server_turns(events))
        lines += ["", "| turn kind (at the caller) | n | p50 ms | p95 ms |", "|---|---|---|---|"]
        for kind in ("cached", "prepared", "speculated", "synthesized", "worded", KEYPAD, UNMATCHED):
            if kind in kinds or kind in ("cached", "prepared", "synthesized", "worded"):
                values = kinds.get(kind, [])
                lines.append(f"| {KIND_NAMES[kind]} | {len(values)} | {pct(values, 50)} | {pct(values, 95)} |")
        lines += ["", f"Conversations the graph ended with its goodbye: {completed_calls(events)} of {args.calls}."]
    if llm is not None:
        lines += ["", *llm_report(events, llm.settings)]
    if sweep:
        lines += ["", "| concurrent calls | voice turns | p50 ms | p95 ms |", "|---|---|---|---|"]
        lines += [f"| {c} | {n} | {p50} | {p95} |" for c, n, p50, p95 in sweep]
    table = "\n".join(lines)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")
    print(f"voice_to_voice_ms p50={pct(latencies, 50)} p95={pct(latencies, 95)} max_calls_p95_under_1s={max_ok}")
    return 0 if latencies else 1


def _caller_main(argv: list[str]) -> None:
    """``python -m agent.app.bench_latency URI SCRIPTS_JSON CALL_NO...``: one caller process."""
    uri, scripts_path, numbers = argv[0], Path(argv[1]), [int(a) for a in argv[2:]]
    scripts = {int(n): [tuple(item) for item in items] for n, items in json.loads(scripts_path.read_text()).items()}
    timings = asyncio.run(_caller_process(uri, scripts, numbers))  # type: ignore[arg-type]
    print(json.dumps([t.to_json() for t in timings]), flush=True)


if __name__ == "__main__":
    _caller_main(sys.argv[1:])
