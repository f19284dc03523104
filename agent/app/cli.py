"""The ``bedside`` command line: ``serve``, ``call``, ``config``, ``bench`` (latency, emotion, expressions, records, memory), ``emotion``, ``graph``, ``records``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent.app.config import BedsideConfig, ConfigError, load_config, parse_assignments

if TYPE_CHECKING:
    from agent.app.workers import WorkerHandoff

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CALL_FAILED = 0, 1, 2, 3


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config (default: embedded defaults; env BEDSIDE_CONFIG)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override any config value, e.g. sip.port=5070"
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (overrides logging.level)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bedside", description="Bedside: a clinic voice agent that answers SIP calls.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="answer SIP calls")
    serve.add_argument("--sip-host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--sip-port", type=int, help="SIP port (default 5060)")
    serve.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # internal: a sibling SIP worker
    _config_args(serve)

    call = sub.add_parser("call", help="QA caller: call an agent, speak, record, print transcripts")
    call.add_argument("uri", metavar="SIP_URI", help="sip:bedside@host:port, or the QA console's http(s):// URL for a "
                      "browser call (WebRTC, as its softphone page places it; needs --user)")
    call.add_argument("--user", metavar="NAME", help="browser call: the console account to sign in as (password from "
                      "BEDSIDE_CONSOLE_PASSWORD, else the first line of stdin)")
    call.add_argument("--play", dest="script", action="append", type=lambda v: ("play", v), metavar="FILE",
                      help="play an audio file as the caller (repeatable; items run in order)")
    call.add_argument("--say", dest="script", action="append", type=lambda v: ("say", v), metavar="TEXT",
                      help="speak TEXT with the TTS voice as the caller (repeatable)")
    call.add_argument("--dtmf", dest="script", action="append", type=lambda v: ("dtmf", v), metavar="DIGITS",
                      help="send RFC 4733 DTMF digits (repeatable)")
    call.add_argument("--record", metavar="WAV", help="write what the agent said (16 kHz mono WAV)")
    call.add_argument("--duration", type=float, metavar="S", help="hang up after S seconds at most")
    call.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                      help="after the script, hang up only once the agent has been silent for S seconds "
                           "(default: at the end of its reply, 0.7 s of silence)")
    call.add_argument("--at", type=float, metavar="S", help="start the script S seconds after answer (default: after the greeting)")
    call.add_argument("--codec", action="append", metavar="NAME", help="offer only these codecs: PCMU, PCMA, G722")
    call.add_argument("--json", action="store_true", help="one JSON object per line, summary last")
    call.add_argument("--no-transcribe", action="store_true", help="do not transcribe (faster start)")
    call.add_argument("--local-port", type=int, default=0, help="caller's own SIP port (default: any)")
    _config_args(call)

    config_cmd = sub.add_parser("config", help="show or check configuration")
    config_sub = config_cmd.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("defaults", help="print every setting with its default, as commented YAML")
    check = config_sub.add_parser("check", help="validate a config file (exit 2 with FILE:LINE:COL errors)")
    check.add_argument("file")

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    latency = bench_sub.add_parser(
        "latency", help="voice-to-voice latency over real loopback SIP calls: clinic conversations on the default path")
    latency.add_argument("--turns", type=int, default=10,
                         help="sentences per call with turn.responder=scripted or echo (a clinic conversation has its own 8)")
    latency.add_argument("--calls", type=int, default=1, help="concurrent calls for the p50/p95 table")
    latency.add_argument("--max-calls", type=int, default=8, help="largest concurrency tried in the sweep")
    latency.add_argument("--no-sweep", action="store_true", help="skip the max-calls sweep")
    latency.add_argument("--emotion", choices=("on", "off"), default="on",
                         help="run the in-process emotion service (the full loop) or not")
    latency.add_argument("--output", help="also write the table (markdown) to this file")
    latency.add_argument("--webrtc", action="store_true",
                         help="call from a browser's side instead: WebRTC through the QA console (as its softphone page does)")
    latency.add_argument("--llm", choices=("off", "local"), default="off",
                         help="local: word replies with the bundled llama.cpp server and SmolLM2-135M-Instruct (bedside llm serve)")
    latency.add_argument("--llm-threads", type=int, default=1, help="CPU threads of the local LLM server (--llm local)")
    _config_args(latency)
    emotion_bench = bench_sub.add_parser("emotion", help="emotion service throughput and latency per concurrent calls")
    emotion_bench.add_argument("--calls", default="1,5,10", help="comma-separated concurrency levels")
    emotion_bench.add_argument("--seconds", type=float, default=30.0, help="length of each level's run")
    emotion_bench.add_argument("--output", help="also write the table (markdown) to this file")
    _config_args(emotion_bench)
    records_bench = bench_sub.add_parser(
        "records", help="call records: writer throughput, worklist and similar-call queries, latency with records on/off")
    records_bench.add_argument("--postgres-url", metavar="URL",
                               help="also measure PostgreSQL on this server (scratch databases are created and dropped there)")
    records_bench.add_argument("--only", metavar="PARTS",
                               help="comma-separated parts to run: write,worklist,similar,latency (default: all)")
    records_bench.add_argument("--no-latency", action="store_true", help="skip the SIP latency part (records on vs off)")
    records_bench.add_argument("--calls", type=int, default=100_000, help="calls stored for the worklist queries")
    records_bench.add_argument("--segments", type=int, default=1_000_000, help="segment embeddings for the similar-call search")
    records_bench.add_argument("--write-calls", type=int, default=4000, help="simulated calls written per throughput run")
    records_bench.add_argument("--actions", type=int, default=200, help="actions timed from write() to commit, per stream rate")
    records_bench.add_argument("--queries", type=int, default=200, help="runs of each worklist query and similar-call search")
    records_bench.add_argument("--latency-turns", type=int, default=10, help="turns per call in the latency part")
    records_bench.add_argument("--latency-rounds", type=int, default=2,
                               help="rounds of calls; two rounds call the servers in the order on, off, off, on")
    records_bench.add_argument("--workdir", help="where the scratch SQLite files go (default: the system temp dir)")
    records_bench.add_argument("--output", help="also write the tables (markdown) to this file")
    _config_args(records_bench)
    console_bench = bench_sub.add_parser("console", help="QA console: review page and call list response times (30-min call)")
    console_bench.add_argument("--minutes", type=float, default=30.0, help="length of the long call whose review is timed")
    console_bench.add_argument("--calls", type=int, default=200, help="ordinary calls stored beside it")
    console_bench.add_argument("--requests", type=int, default=50, help="requests per page, one at a time")
    console_bench.add_argument("--workdir", help="where the scratch SQLite file goes (default: the system temp dir)")
    _config_args(console_bench)
    memory_bench = bench_sub.add_parser("memory", help="a node's resident memory idle and with N calls up (RSS and PSS)")
    memory_bench.add_argument("--calls", default="8,16", help="comma-separated call counts (sip.max_calls for each run)")
    memory_bench.add_argument("--hold", type=float, default=12.0, help="seconds the calls stay up before memory is read")
    memory_bench.add_argument("--server-cwd", help="run bedside serve from this checkout (same Python): a before/after")
    memory_bench.add_argument("--output", help="also write the table (markdown) to this file")
    expressions_bench = bench_sub.add_parser("expressions", help="pace, loudness and spectral tilt of every expression preset")
    expressions_bench.add_argument("--repeats", type=int, default=5, help="renders per expression (piper samples noise)")
    expressions_bench.add_argument("--output", help="also write the table (markdown) to this file")
    _config_args(expressions_bench)

    from emotion.cli import add_parser as add_emotion_parser

    emotion_sub = add_emotion_parser(sub, _config_args)
    _add_replay_parser(emotion_sub)
    from agent.app.emotion_calibrate import add_parsers as add_calibrate_parsers

    add_calibrate_parsers(emotion_sub)
    for name in ("calibrate", "corrections"):
        _config_args(emotion_sub.choices[name])
    from graph.cli import add_parser as add_graph_parser

    add_graph_parser(sub)
    from agent.app.records_cli import add_parser as add_records_parser

    add_records_parser(sub, _config_args)
    console = sub.add_parser("console", help="the QA console (web app) alone: sign-in, pages, JSON API under /api/")
    console.add_argument("--host", help="address (default console.host, 127.0.0.1)")
    console.add_argument("--port", type=int, help="port (default console.port, 8080)")
    console.add_argument("--certfile", help="TLS certificate (PEM): required to listen beyond loopback")
    console.add_argument("--keyfile", help="TLS private key (PEM)")
    _config_args(console)
    from agent.app.users_cli import add_parser as add_users_parser

    add_users_parser(sub, _config_args)
    llm = sub.add_parser("llm", help="the bundled local LLM (llama.cpp server, SmolLM2-135M-Instruct) for llm.base_url")
    llm_sub = llm.add_subparsers(dest="llm_command", required=True)
    llm_serve = llm_sub.add_parser("serve", help="run it in the foreground; prints the settings that point Bedside at it")
    llm_serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1: nothing else should reach it)")
    llm_serve.add_argument("--port", type=int, default=8011, help="port (default 8011)")
    llm_serve.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: leave the call path a core)")
    llm_serve.add_argument("--context", type=int, default=2048, help="context window in tokens (default 2048)")
    return parser


def _llm_serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from agent.app.local_llm import LocalLlmServer, LocalLlmSettings, LocalLlmUnavailable

    settings = LocalLlmSettings(host=args.host, port=args.port, threads=args.threads, context=args.context)
    server = LocalLlmServer(settings, log=sys.stderr.buffer)
    try:
        server.start()
    except LocalLlmUnavailable as exc:
        print(f"bedside llm serve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print("serving; point Bedside at it with: " + " ".join(f"--set {item}" for item in settings.bedside_settings()), flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while server.running and not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        stopping.set()
    server.stop()
    if not stopping.is_set():
        print("bedside llm serve: the llama.cpp server exited", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _add_replay_parser(emotion_sub: Any) -> None:
    """``bedside emotion replay`` (agent/app/emotion_replay.py): it needs the call runtime, a layer above emotion/."""
    replay = emotion_sub.add_parser(
        "replay", help="play recordings through the production emotion path and report false alarms per call",
    )
    replay.add_argument("paths", nargs="+", metavar="FILE|DIR", help="audio files, or directories of them (one call each)")
    replay.add_argument("--json", action="store_true", help="one JSON object per call, then a summary object")
    replay.add_argument("--loop-to", type=float, default=0.0, metavar="S",
                        help="play each recording again and again until S seconds of call (e.g. 660 to reach urgency's 10 min)")
    replay.add_argument("--scored-passes", type=int, default=2, metavar="N",
                        help="plays scored by the service; later loops feed the last scored play's answers again (default 2)")
    replay.add_argument("--words", choices=("stt", "none"), default="stt",
                        help="transcribe utterances with the configured STT for the language channel (default), or voice only")
    replay.add_argument("--url", help="an emotion service to use (ws://host:port/v0/stream/models) instead of starting one")
    _config_args(replay)


def _console(args: argparse.Namespace) -> int:
    from agent.app.console.app import serve
    from agent.app.records_cli import _fail, expected_errors, open_store

    config = _load(args)
    _configure_logging(config)
    console = config.console.model_copy(update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
    try:
        store = open_store(config.records)
    except expected_errors() as exc:
        return _fail(str(exc), "console")
    try:
        return serve(console, store, certfile=args.certfile, keyfile=args.keyfile, index_path=config.records.index_path(),
                     graph_path=config.graph.file)
    except ValueError as exc:  # refused: plain HTTP beyond loopback
        return _fail(str(exc), "console")
    finally:
        store.dispose()


def _load(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> BedsideConfig:
    overrides = parse_assignments(args.set)
    if args.log_level:
        overrides.setdefault("logging", {})["level"] = args.log_level
    for section, values in (extra or {}).items():
        overrides.setdefault(section, {}).update(values)
    return load_config(args.config, overrides)


def _quiet(config: BedsideConfig) -> BedsideConfig:
    """Client commands print their own output; their logs default to WARNING."""
    return config.model_copy(update={"logging": config.logging.model_copy(update={"level": "WARNING"})})


def _configure_logging(config: BedsideConfig, worker: int | None = None) -> None:
    from agent.app.logs import configure_logging

    log = config.logging
    configure_logging(log.level, log.json_output, log.log_transcripts, {"worker": worker} if worker is not None else None)


async def _serve(config: BedsideConfig, worker: int | None, handoff: WorkerHandoff | None = None) -> int:
    from agent.app.metrics_dir import MetricsDirectory

    # The front's metrics directory, before prometheus_client is imported (it picks its mode then);
    # workers inherit it through the environment.
    metrics_dir = MetricsDirectory.create() if worker is None else None
    try:
        from agent.app.server import BedsideServer

        server = BedsideServer(config, worker_index=worker, ticket_key=handoff.ticket_key if handoff else None,
                               metrics_dir=metrics_dir, model_host=handoff.model_host if handoff else None)
        await server.start()
        await server.serve_forever()
    finally:
        if metrics_dir is not None:
            metrics_dir.remove()
    return EXIT_OK


async def _call(args: argparse.Namespace, config: BedsideConfig) -> int:
    from agent.app.browser_dialer import BrowserDialer, dialer_for, is_console_url
    from agent.app.expression_file import load_expressions
    from agent.app.qa_caller import QaCaller, ScriptItem, console_emitter, report_json
    from agent.services.stt import SttWorker
    from tts.synthesizer import PiperSynthesizer

    if is_console_url(args.uri) and not args.user:
        print("error: a browser call (an http(s):// console URL) needs --user NAME", file=sys.stderr)
        return EXIT_USAGE
    script = [ScriptItem(kind, value) for kind, value in (args.script or [])]
    stt = None if args.no_transcribe else SttWorker(config.stt)
    synth = PiperSynthesizer(config.tts, load_expressions(config.tts.expressions)) if any(i.kind == "say" for i in script) else None
    if stt is not None:
        await stt.start()
    emit = console_emitter(args.json)

    def password() -> str:
        return os.environ.get("BEDSIDE_CONSOLE_PASSWORD") or sys.stdin.readline().rstrip("\n")

    try:
        async with dialer_for(args.uri, config.sip, "qa-caller", args.user or "", password) as dialer:
            caller = QaCaller(dialer, stt, synth, emit)
            report = await caller.run(args.uri, script, duration_s=args.duration, at_s=args.at, quiet_s=args.wait_quiet)
            if args.record and report.answered:
                caller.save_recording(args.record)
            for call in dialer.calls if isinstance(dialer, BrowserDialer) else []:  # what a page would have shown
                for message in call.received:
                    emit({"event": "live", **message})
    finally:
        if stt is not None:
            await stt.stop()
    if args.json:
        print(report_json(report), flush=True)
    else:
        print(f"call ended after {report.duration_s:.1f}s ({report.end_reason or 'ok'}), hung up by {report.hung_up_by or '-'}")
    return EXIT_OK if report.answered else EXIT_CALL_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve" and args.worker is not None:
            from agent.app.workers import read_worker_handoff

            handoff = read_worker_handoff()  # from the front, over a pipe: secrets stay off disk
            _configure_logging(handoff.config, worker=args.worker)
            return asyncio.run(_serve(handoff.config, args.worker, handoff))
        if args.command == "serve":
            sip: dict[str, Any] = {}
            if args.sip_host:
                sip["host"] = args.sip_host
            if args.sip_port is not None:
                sip["port"] = args.sip_port
            config = _load(args, {"sip": sip} if sip else None)
            _configure_logging(config)
            return asyncio.run(_serve(config, args.worker))
        if args.command == "call":
            sip = {"port": args.local_port, "rtp_port": 0}
            if args.codec:
                sip["codecs"] = [_codec_name(c) for c in args.codec]
            config = _load(args, {"sip": sip})
            if not args.log_level:
                config = _quiet(config)
            _configure_logging(config)
            return asyncio.run(_call(args, config))
        if args.command == "config":
            if args.config_command == "defaults":
                from agent.app.config_docs import defaults_yaml

                print(defaults_yaml(), end="")
                return EXIT_OK
            load_config(args.file, environ={})
            print(f"{args.file}: ok")
            return EXIT_OK
        if args.command == "emotion" and args.emotion_command == "replay":
            from agent.app.emotion_replay import run_replay

            config = _load(args)
            _configure_logging(config if args.log_level else _quiet(config))
            return asyncio.run(run_replay(args, config))
        if args.command == "emotion" and args.emotion_command in ("calibrate", "corrections"):
            from agent.app.emotion_calibrate import run_calibrate, run_export
            from agent.app.records_cli import _fail, expected_errors

            config = _load(args)
            _configure_logging(_quiet(config))
            try:
                return (run_calibrate if args.emotion_command == "calibrate" else run_export)(args, config)
            except expected_errors() as exc:
                return _fail(str(exc), f"emotion {args.emotion_command}")
        if args.command == "emotion":
            from emotion.cli import run as run_emotion

            return run_emotion(args, _load, _configure_logging)
        if args.command == "graph":
            from graph.cli import run as run_graph

            return run_graph(args)
        if args.command == "records":
            from agent.app.records_cli import run as run_records

            return run_records(args, lambda a: _load(a) if a.log_level else _quiet(_load(a)), _configure_logging)
        if args.command == "console":
            return _console(args)
        if args.command == "users":
            from agent.app.users_cli import run as run_users

            return run_users(args, lambda a: _load(a) if a.log_level else _quiet(_load(a)), _configure_logging)
        if args.command == "bench" and args.bench == "emotion":
            from agent.app.bench_emotion import run_emotion_bench

            _configure_logging(_quiet(_load(args)))
            return asyncio.run(run_emotion_bench(args))
        if args.command == "bench" and args.bench == "records":
            from agent.app.bench_records import run_records_bench

            _configure_logging(_quiet(_load(args)))
            return run_records_bench(args)
        if args.command == "bench" and args.bench == "console":
            from agent.app.bench_console import run_console_bench

            _configure_logging(_quiet(_load(args)))
            return run_console_bench(args)
        if args.command == "bench" and args.bench == "memory":
            from agent.app.bench_memory import run_memory_bench

            return run_memory_bench(args)
        if args.command == "bench" and args.bench == "expressions":
            from tts.bench import run_expression_bench

            config = _load(args)
            _configure_logging(_quiet(config))
            from agent.app.expression_file import load_expressions

            return run_expression_bench(args, config.tts, load_expressions(config.tts.expressions))
        if args.command == "llm":
            return _llm_serve(args)
        if args.command == "bench":
            from agent.app.bench_latency import run_latency_bench

            config = _load(args)
            _configure_logging(_quiet(config))
            return asyncio.run(run_latency_bench(args, config))
    except ConfigError as exc:
        print(f"bedside: config error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_ERROR
    return EXIT_USAGE


def _codec_name(name: str) -> str:
    table = {"PCMU": "PCMU/8000", "PCMA": "PCMA/8000", "G722": "G722/16000"}
    key = name.upper().split("/")[0]
    if key not in table:
        raise ConfigError(f"--codec {name}: unknown codec (choose PCMU, PCMA or G722)")
    return table[key]


if __name__ == "__main__":
    sys.exit(main())
