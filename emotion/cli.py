"""``bedside emotion ...``: score files or text, train the models from ../shared, evaluate them.

Only ``train`` and ``eval`` import :mod:`emotion.training` (inside their functions): ``serve`` and
``score`` run on an install without it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
MODELS = ("prosody", "embedding", "burst", "language")  # training order: embedding reuses prosody's features


def add_parser(sub: Any, config_args: Callable[[argparse.ArgumentParser], None]) -> Any:
    """Adds ``bedside emotion ...``; returns its subparsers, so that the app adds ``replay`` (which
    needs the call runtime's segmenter and call phase, a layer above this package)."""
    emotion = sub.add_parser("emotion", help="emotion models and service: score, serve, train, eval")
    emotion_sub = emotion.add_subparsers(dest="emotion_command", required=True)

    serve = emotion_sub.add_parser("serve", help="run the emotion WebSocket service (/v0/stream/models)")
    serve.add_argument("--host", help="address to bind (default emotion.service.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default emotion.service.port, 8765)")
    config_args(serve)

    score = emotion_sub.add_parser("score", help="score audio files (prosody, burst, embedding) or --text (language)")
    score.add_argument("files", nargs="*", metavar="FILE", help="wav, flac, mp3, ... at any sample rate")
    score.add_argument("--text", action="append", default=[], help="score this text with the language model (repeatable)")
    score.add_argument("--json", action="store_true", help="one JSON object per line")
    score.add_argument("--segments", action="store_true", help="also print every 2-s segment (always in --json)")

    train = emotion_sub.add_parser("train", help="train every model from ../shared (about 60 min on 2 cores)")
    train.add_argument("--only", action="append", choices=MODELS, help="train only this model (repeatable)")
    train.add_argument("--out", help="write weights here instead of emotion/models/weights")

    evaluate = emotion_sub.add_parser("eval", help="evaluate the committed weights and print the model-card tables")
    evaluate.add_argument("--only", action="append", choices=MODELS, help="evaluate only this model (repeatable)")
    return emotion_sub


def run(args: argparse.Namespace, load_config: Callable[..., Any], configure_logging: Callable[[Any], None]) -> int:
    """``load_config(args)`` and ``configure_logging(config)`` come from the ``bedside`` command line."""
    from emotion.models.base import ModelLoadError
    from emotion.shared_dir import DataMissing

    try:
        if args.emotion_command == "serve":
            return _serve(args, load_config, configure_logging)
        if args.emotion_command == "score":
            return _score(args)
        if args.emotion_command == "train":
            return _train(args)
        return _eval(args)
    except (ModelLoadError, DataMissing) as exc:
        print(f"bedside emotion: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _serve(args: argparse.Namespace, load_config: Callable[..., Any], configure_logging: Callable[[Any], None]) -> int:
    import asyncio

    from emotion.service import InsecureListen, serve_forever

    config = load_config(args)
    configure_logging(config)
    try:
        asyncio.run(serve_forever(config.emotion.service, args.host, args.port))
    except InsecureListen as exc:
        print(f"bedside {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _score(args: argparse.Namespace) -> int:
    if not args.files and not args.text:
        print("bedside emotion score: give audio FILEs or --text", file=sys.stderr)
        return EXIT_USAGE
    failed = False
    if args.text:
        from emotion.models.base import TextInputError
        from emotion.models.language import LanguageModel

        language = LanguageModel.load()
        for text in args.text:
            try:
                result = language.predict(text)
            except TextInputError as exc:
                failed = True
                _emit(args.json, {"text": text[:200], "error": str(exc)}, f"text: error: {exc}")
                continue
            _emit(args.json, {"text": text, "language": result.as_dict()}, _language_lines(result))
    if args.files:
        from emotion.audio import AudioInputError
        from emotion.scorer import AudioScorer

        scorer = AudioScorer.load()
        for path in args.files:
            try:
                scores = scorer.score_file(path)
            except AudioInputError as exc:
                failed = True
                _emit(args.json, {"file": path, "error": str(exc)}, f"{path}: error: {exc}")
                continue
            _emit(args.json, {"file": path, **scores.as_dict()}, _file_lines(path, scores, args.segments))
    return EXIT_ERROR if failed else EXIT_OK


def _emit(as_json: bool, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj) if as_json else text, flush=True)


def _top(scores: dict[str, float], n: int = 3) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1])[:n])


def _file_lines(path: str, scores: Any, segments: bool) -> str:
    def line(label: str, p: Any, b: Any) -> str:
        if p.no_signal and b.no_signal:
            return f"{label}  no signal"
        meaning = f" | meaning: {_top(b.affect, 2)}" if b.top != "none" else ""
        return (f"{label}  prosody: {_top(p.emotions)} | valence {p.valence:+.2f} arousal {p.arousal:.2f}"
                f" | burst: {_top(b.emotions, 2)}{meaning}")

    lines = [line(f"{path} [{len(scores.segments)} segments]", scores.prosody, scores.burst)]
    if segments:
        lines += [line(f"  {s.begin:6.2f}-{s.end:6.2f}s", s.prosody, s.burst) for s in scores.segments]
    return "\n".join(lines)


def _language_lines(result: Any) -> str:
    if result.no_signal:
        return "text: no signal (empty)"
    sentiment = max(result.sentiment, key=result.sentiment.__getitem__)
    return (f"text  emotions: {_top(result.emotions)} | sentiment {sentiment}/9 | valence {result.valence:+.2f}"
            f" arousal {result.arousal:.2f} | toxicity: {_top(result.toxicity, 2)}")


def _trainers() -> dict[str, Any]:
    from emotion.training import burst, embedding, language, prosody

    return {"prosody": prosody, "embedding": embedding, "burst": burst, "language": language}


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    chosen = [m for m in MODELS if not args.only or m in args.only]
    trainers = _trainers()
    started = time.perf_counter()
    for name in chosen:
        t0 = time.perf_counter()
        print(f"== training {name}", file=sys.stderr, flush=True)
        meta = trainers[name].train(out_dir=Path(args.out) if args.out else None)
        print(f"## {name} ({time.perf_counter() - t0:.0f} s)\n\n{trainers[name].tables(meta)}\n", flush=True)
    print(f"trained {', '.join(chosen)} in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    from emotion.models.base import load_weights

    chosen = [m for m in MODELS if not args.only or m in args.only]
    trainers = _trainers()
    for name in chosen:
        _, meta = load_weights(name)
        evaluation = trainers[name].evaluate()
        print(f"## {name}\n\n{trainers[name].tables(meta, evaluation)}\n", flush=True)
    if not args.only or {"prosody", "burst", "embedding"} <= set(args.only):
        print(audio_latency_table(), flush=True)
    if not args.only:
        print(load_time_line(), flush=True)
    return EXIT_OK


_LOAD_PROBE = """
import json, time
t0 = time.perf_counter()
import torch
from emotion.models.language import LanguageModel
from emotion.scorer import AudioScorer
t1 = time.perf_counter()
AudioScorer.load()
t2 = time.perf_counter()
LanguageModel.load()
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "audio_s": t2 - t1, "language_s": t3 - t2}))
"""


def load_time_line() -> str:
    """Load times of the models in a fresh process (what a restarted service pays), from the repo."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _LOAD_PROBE], capture_output=True, text=True, check=True)
    t = json.loads(done.stdout.strip().splitlines()[-1])
    return (f"Load in a fresh process: audio models {t['audio_s']:.2f} s, language model {t['language_s']:.2f} s "
            f"(after {t['imports_s']:.2f} s of imports).")


def audio_latency_table() -> str:
    """Load time of the three audio models and their latency together per 2-s segment, one core."""
    import numpy as np
    import torch

    from emotion.audio import load_audio
    from emotion.scorer import AudioScorer
    from emotion.training.common import latency_ms
    from emotion.training.data import ravdess_clips

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    scorer = AudioScorer.load()
    load_s = time.perf_counter() - t0
    x = load_audio(ravdess_clips()[0].path)[:32000]
    lat = latency_ms(lambda: scorer.score_segment(x), runs=100)
    silent = np.zeros(32000, np.float32)
    return (f"Audio models (prosody + burst + embedding), one core: load {load_s:.2f} s; per 2-s segment "
            f"{lat['mean_ms']} ms mean, {lat['p95_ms']} ms p95 "
            f"(silence: {latency_ms(lambda: scorer.score_segment(silent), runs=10)['mean_ms']} ms).")
